"""Configuration field checks shared by the WhatsApp Cloud and Twilio connectors."""

from __future__ import annotations

import mimetypes
import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, StringConstraints

from cxprism.channels.destinations import PublicUrl
from cxprism.kit.validation import storable_text

_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
_UNSAFE_URL_CHAR = re.compile(r"[\s\x00-\x1f\x7f]")


def is_e164(value: str) -> bool:
    """An E.164 number: ``+``, then 7 to 15 ASCII digits, not starting with 0."""
    return _E164.fullmatch(value) is not None


def check_e164(value: str) -> str:
    if not is_e164(value):
        raise ValueError("must be an E.164 phone number such as +14155550100")
    return value


def pattern(regex: str, what: str) -> AfterValidator:
    """A validator refusing values that do not match ``regex`` entirely."""
    compiled = re.compile(regex)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"must be {what}")
        return value

    return AfterValidator(check)


def _parts(value: str) -> tuple[str, str]:
    """(scheme, host) of an absolute URL without spaces or credentials."""
    if _UNSAFE_URL_CHAR.search(value):
        raise ValueError("must not contain spaces or control characters")
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        raise ValueError("not a valid URL") from None
    if host is None or parts.username is not None or parts.password is not None:
        raise ValueError("must be an absolute URL without a user name or password")
    return parts.scheme.lower(), host


def check_api_base(value: str) -> str:
    """An https origin; plain http only on this machine, for a local fake provider (which
    the SSRF allowlist must also let through: :data:`PublicUrl` runs first)."""
    value = value.rstrip("/")
    scheme, host = _parts(value)
    parts = urlsplit(value)
    if parts.query or parts.fragment:
        raise ValueError("must not have a query or fragment")
    if scheme != "https" and not (scheme == "http" and host in _LOOPBACK):
        raise ValueError("must be an https:// URL")
    return value


def check_web_url(value: str) -> str:
    scheme, _ = _parts(value)
    if scheme not in ("http", "https"):
        raise ValueError("must be an http:// or https:// URL")
    return value


E164 = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(check_e164)]
# Both are checked against the SSRF rules: an API base is called on every send, and a
# callback URL no provider could reach from the internet is a mistake worth naming.
ApiBase = Annotated[str, StringConstraints(strip_whitespace=True, max_length=255),
                    PublicUrl, AfterValidator(check_api_base)]
WebUrl = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2048),
                   PublicUrl, AfterValidator(check_web_url)]


MAX_TEXT_CHARS = 10_000


def clean_text(value: str, limit: int = MAX_TEXT_CHARS) -> str:
    """Customer text a database can store: control characters and lone surrogates dropped
    (rather than losing the customer's message over one), bounded in length."""
    return storable_text(value, limit)


# The media types messaging apps send most; the standard library's defaults cover the rest.
# (The module-level ``mimetypes`` functions read the host's mime.types, so a file's name
# would depend on the machine.)
_EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp",
               "image/gif": ".gif", "audio/ogg": ".ogg", "audio/mpeg": ".mp3",
               "audio/aac": ".aac", "audio/amr": ".amr", "audio/mp4": ".m4a",
               "video/mp4": ".mp4", "video/3gpp": ".3gp", "application/pdf": ".pdf",
               "text/plain": ".txt", "text/vcard": ".vcf", "text/x-vcard": ".vcf"}
_DEFAULT_TYPES = mimetypes.MimeTypes()


def extension_for(content_type: str) -> str:
    """A file name extension for a media type (``.jpg``), or ``""`` if none is known."""
    kind = content_type.split(";", maxsplit=1)[0].strip().lower()
    return _EXTENSIONS.get(kind) or _DEFAULT_TYPES.guess_extension(kind) or ""
