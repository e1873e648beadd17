"""URLs a channel's configuration points cxprism at, checked when an admin sets them.

The SSRF guard (:mod:`cxprism.kit.safe_http`) refuses private, loopback and link-local
destinations whenever a call is made. Configuration fields that hold such a URL check it
as well, with :data:`PublicUrl`, so the admin who types ``http://169.254.169.254/`` is told
at once, with the field named, instead of every later send failing.

A stored configuration is validated again each time its channel is opened. It is then
validated with :func:`stored_context`, which skips this one rule: a channel saved under a
wider allowlist (or before the rule existed) still opens, so its webhooks keep arriving,
and its sends are refused by the guard, permanently and saying why.
"""

from __future__ import annotations

from typing import Any

from pydantic import AfterValidator, ValidationInfo

from cxprism.kit.safe_http import validate_public_url

_STORED = "cxprism.channels.stored_config"


def stored_context() -> dict[str, Any]:
    """The validation context for re-reading a configuration that was checked when saved."""
    return {_STORED: True}


def _is_stored(info: ValidationInfo) -> bool:
    context = info.context
    return isinstance(context, dict) and context.get(_STORED) is True


def check_public_url(value: str, info: ValidationInfo) -> str:
    """``value`` if cxprism may call it (see :func:`validate_public_url`), else ValueError.

    The allowlist is read from settings on each call, so tests' local fakes pass.
    """
    if _is_stored(info):
        return value
    return validate_public_url(value)


# Put before a field's own URL checks: the address problem is the clearer message.
PublicUrl = AfterValidator(check_public_url)
