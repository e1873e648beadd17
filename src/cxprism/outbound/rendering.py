"""Rendering message templates: Jinja2 in a sandbox, strict about missing variables.

Template authors are workspace users, not the platform's operators: templates run in an
immutable sandbox (no attribute tricks, no mutation of the context), with a loop budget,
and a variable that is missing is an error, never a blank in a sent message. HTML is
autoescaped while rendering and sanitised after it, so neither a trait nor the template
can smuggle a script into an email.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError, TemplateSyntaxError, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from cxprism.kit.html import html_to_text, sanitise_html

MAX_TEMPLATE_CHARS = 65_536
MAX_OUTPUT_CHARS = 262_144


class RenderError(Exception):
    """A template that cannot render; the message says which part and why."""

    def __init__(self, part: str, message: str) -> None:
        super().__init__(f"{part}: {message}")
        self.part = part


class _Environment(ImmutableSandboxedEnvironment):
    # Ranges are the sandbox's way to burn CPU; a message needs no long loops.
    def call(self, context: Any, obj: Any, *args: Any, **kwargs: Any) -> Any:
        if obj is range and args and any(isinstance(a, int) and abs(a) > 1000 for a in args):
            raise TemplateError("range() longer than 1000 is not allowed in a template")
        return super().call(context, obj, *args, **kwargs)


_TEXT = _Environment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
_HTML = _Environment(undefined=StrictUndefined, autoescape=True, keep_trailing_newline=True)


@dataclass(frozen=True)
class TemplateParts:
    subject: str | None
    text: str
    html: str | None
    provider_parameters: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Rendered:
    subject: str | None
    text: str
    html: str | None
    provider_parameters: list[str]


def check_syntax(parts: TemplateParts) -> None:
    """Compile every part now, so a broken template is refused when it is saved."""
    for name, source, env in _parts(parts):
        if len(source) > MAX_TEMPLATE_CHARS:
            raise RenderError(name, f"longer than {MAX_TEMPLATE_CHARS} characters")
        try:
            env.parse(source)
        except TemplateSyntaxError as exc:
            raise RenderError(name, f"line {exc.lineno}: {exc.message}") from None


def variables_of(parts: TemplateParts) -> list[str]:
    """The top-level names the template reads (``customer``, ``event``, ...)."""
    names: set[str] = set()
    for _, source, env in _parts(parts):
        names |= {node.name for node in env.parse(source).find_all(nodes.Name)
                  if node.ctx == "load"}
    return sorted(names)


def render(parts: TemplateParts, context: dict[str, Any]) -> Rendered:
    subject = _render("subject", parts.subject, context, _TEXT)
    text = _render("text", parts.text, context, _TEXT) or ""
    html = _render("html", parts.html, context, _HTML)
    if html is not None:
        html = sanitise_html(html)
        text = text or html_to_text(html)
    if subject is not None:
        subject = " ".join(subject.split())  # a header: one line
    params = [_render(f"parameter {i + 1}", p, context, _TEXT) or ""
              for i, p in enumerate(parts.provider_parameters)]
    return Rendered(subject, text, html, params)


def _render(part: str, source: str | None, context: dict[str, Any],
            env: ImmutableSandboxedEnvironment) -> str | None:
    if source is None:
        return None
    try:
        output = _compiled(env is _HTML, source).render(context)
    except TemplateError as exc:
        raise RenderError(part, _explain(exc)) from None
    except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
        raise RenderError(part, f"{type(exc).__name__}: {exc}") from None
    if len(output) > MAX_OUTPUT_CHARS:
        raise RenderError(part, f"the rendered text is longer than {MAX_OUTPUT_CHARS} characters")
    return output


@functools.lru_cache(maxsize=512)
def _compiled(html: bool, source: str) -> Template:
    """Compiling is most of a render's cost; a template's versions never change."""
    return (_HTML if html else _TEXT).from_string(source)


def _explain(exc: TemplateError) -> str:
    message = exc.message or type(exc).__name__
    if "is undefined" in message or "has no attribute" in message:
        return f"missing variable: {message}"
    return message


def _parts(parts: TemplateParts) -> list[tuple[str, str, ImmutableSandboxedEnvironment]]:
    found = [("subject", parts.subject, _TEXT), ("text", parts.text, _TEXT),
             ("html", parts.html, _HTML)]
    found += [(f"parameter {i + 1}", p, _TEXT) for i, p in enumerate(parts.provider_parameters)]
    return [(name, source, env) for name, source, env in found if source is not None]
