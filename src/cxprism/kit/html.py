"""Untrusted HTML made safe to show, and readable as plain text.

Customer email and chat HTML is hostile until proven otherwise: it is shown inside the
agent workspace, where a script, an event handler or a ``javascript:`` link would run
with an agent's session. :func:`sanitise_html` keeps formatting and drops everything
that can execute, load remote content silently, or restyle the page around it.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import nh3

_TAGS = frozenset({
    "p", "br", "div", "span", "b", "strong", "i", "em", "u", "s", "blockquote", "pre",
    "code", "ul", "ol", "li", "a", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
    "table", "thead", "tbody", "tfoot", "tr", "td", "th", "caption", "img",
})
# Removed together with their content: what they contain is code, markup for another
# renderer, or a way to post data, never text meant for the reader.
_DROP_WITH_CONTENT = frozenset({
    "script", "style", "svg", "math", "iframe", "frame", "frameset", "object", "embed",
    "applet", "form", "noscript", "template", "head", "title", "xml",
})
# No ``style``, no ``class``, no ``on*``: any of them lets the sender restyle or script
# the workspace. Sizes stay so that tables and inline images keep their shape.
_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan", "align", "valign"},
    "th": {"colspan", "rowspan", "align", "valign", "scope"},
    "ol": {"start"},
    "table": {"summary"},
}
_URL_SCHEMES = frozenset({"http", "https", "mailto", "cid"})
_LINK_REL = "noopener noreferrer nofollow"
_LINK_SCHEMES = ("http:", "https:", "mailto:")
# Plain-http images are tracking pixels or mixed content; ``cid:`` points at an attachment.
_IMAGE_SCHEMES = ("https:", "cid:")
_NUMBER = re.compile(r"\d{1,5}")


def _filter_attribute(tag: str, attribute: str, value: str) -> str | None:
    """Narrow nh3's scheme list per tag: links never ``cid:``, images never ``http:``."""
    if attribute == "href":
        return value if value.strip().lower().startswith(_LINK_SCHEMES) else None
    if attribute == "src":
        return value if value.strip().lower().startswith(_IMAGE_SCHEMES) else None
    if attribute in {"width", "height", "colspan", "rowspan", "start"}:
        return value if _NUMBER.fullmatch(value.strip()) else None
    return value


def sanitise_html(html: str) -> str:
    """Keep formatting, links and images; drop scripts, handlers, styles and embeds.

    Links keep only http, https and mailto targets and always carry
    ``rel="noopener noreferrer nofollow"``; images keep only https and ``cid:`` sources.
    Relative URLs are dropped: in an email they point nowhere meaningful.
    """
    return nh3.clean(
        html,
        tags=set(_TAGS),
        clean_content_tags=set(_DROP_WITH_CONTENT),
        attributes={tag: set(names) for tag, names in _ATTRIBUTES.items()},
        attribute_filter=_filter_attribute,
        strip_comments=True,
        link_rel=_LINK_REL,
        url_schemes=set(_URL_SCHEMES),
        url_relative="deny",
    )


_BLOCKS = frozenset({
    "p", "div", "blockquote", "pre", "ul", "ol", "table", "tr", "h1", "h2", "h3", "h4",
    "h5", "h6", "hr", "section", "article", "header", "footer", "address", "caption",
})
_SKIP = frozenset({"script", "style", "head", "title", "svg", "math", "template", "noscript"})
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
_BLANK_LINES = re.compile(r"\n{3,}")


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0
        self._pre = 0
        self._href: str | None = None
        self._link_text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self._skipping += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag in {"td", "th"}:
            self.parts.append(" ")
        elif tag in _BLOCKS:
            if tag == "pre":
                self._pre += 1
            self.parts.append("\n\n")
        elif tag == "a":
            self._href = dict(attrs).get("href")
            self._link_text = []

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag in _BLOCKS:
            if tag == "pre":
                self._pre = max(0, self._pre - 1)
            self.parts.append("\n\n")
        elif tag == "a" and self._href:
            # Show the target when the text hides it: in plain text it is the only clue.
            shown = "".join(self._link_text).strip()
            if self._href.startswith(("http:", "https:")) and self._href != shown:
                self.parts.append(f" ({self._href})")
            self._href = None

    def handle_data(self, data: str) -> None:
        if self._skipping:
            return
        text = data if self._pre else _SPACES.sub(" ", data.replace("\n", " "))
        self.parts.append(text)
        if self._href is not None:
            self._link_text.append(text)


def html_to_text(html: str) -> str:
    """A readable plain-text rendering of ``html``: the fallback when no text part exists."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    lines = [line.strip() for line in "".join(parser.parts).split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
