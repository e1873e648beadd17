"""What a message shows: plain text kept as text, and HTML that is safe to render."""

from __future__ import annotations

import html
import re

from cxprism.kit.html import sanitise_html
from cxprism.kit.validation import storable_text

MAX_TEXT = 200_000
_URL = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)


def clean_text(text: str) -> str:
    """Drop what no database stores (NUL, lone surrogates) and bound the length."""
    return storable_text(text, MAX_TEXT)


def text_as_html(text: str) -> str:
    """Escaped text with line breaks and http(s) links: nothing in it can run."""
    parts: list[str] = []
    position = 0
    for match in _URL.finditer(text):
        parts.append(html.escape(text[position:match.start()]))
        url = html.escape(match.group(0))
        parts.append(f'<a href="{url}" rel="noopener noreferrer nofollow">{url}</a>')
        position = match.end()
    parts.append(html.escape(text[position:]))
    return "".join(parts).replace("\r\n", "\n").replace("\n", "<br>\n")


def safe_html(text: str, untrusted_html: str | None) -> str:
    """The sanitised HTML of a message, or its text rendered as HTML."""
    if untrusted_html:
        return sanitise_html(clean_text(untrusted_html))
    return text_as_html(text)
