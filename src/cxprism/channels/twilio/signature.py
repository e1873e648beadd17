"""Twilio's request signature (``X-Twilio-Signature``), as Twilio documents it.

Form-encoded requests: the full URL Twilio called (with its query string), then for each
POST parameter, sorted by name, the name followed by the value (a name that repeats
contributes each of its values, sorted), signed with HMAC-SHA1 keyed by the account's
auth token and base64-encoded.

JSON-bodied requests carry a ``bodySHA256`` query parameter, the hex SHA-256 of the raw
body; the signature then covers the URL alone (which includes that parameter).

Twilio's own validators accept the URL as called, without its port, and with the
scheme's default port added, because Twilio has signed each of these forms; so do we.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlsplit, urlunsplit

BODY_HASH_PARAM = "bodySHA256"
_DEFAULT_PORTS = {"https": 443, "http": 80}


def _utf8(text: str) -> bytes:
    # Form values come from percent-decoding untrusted input; never crash on them.
    return text.encode("utf-8", "surrogatepass")


def twilio_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """The base64 HMAC-SHA1 signature Twilio sends for ``url`` and its POST ``params``."""
    by_name: dict[str, list[str]] = {}
    for name, value in params:
        by_name.setdefault(name, []).append(value)
    data = url + "".join(name + value
                         for name in sorted(by_name) for value in sorted(by_name[name]))
    mac = hmac.new(_utf8(auth_token), _utf8(data), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode("ascii")


def url_variants(url: str) -> list[str]:
    """``url`` as given, without its port, and with the default port when it has none."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return [url]
    default = _DEFAULT_PORTS.get(parts.scheme.lower())
    host = parts.hostname
    if default is None or host is None or parts.username or parts.password:
        return [url]
    if ":" in host:
        host = f"[{host}]"
    if port is None:
        return [url, urlunsplit(parts._replace(netloc=f"{host}:{default}"))]
    return [url, urlunsplit(parts._replace(netloc=host))]


def _equal(expected: str, given: str) -> bool:
    return hmac.compare_digest(_utf8(expected), _utf8(given))


def verify_twilio(auth_token: str, url: str, params: Iterable[tuple[str, str]],
                  header_value: str | None) -> bool:
    """True if ``header_value`` is Twilio's signature of this form-encoded request."""
    if not header_value or not auth_token:
        return False
    pairs = list(params)
    # Every candidate is computed and compared, so the time taken does not say which failed.
    results = [_equal(twilio_signature(auth_token, candidate, pairs), header_value)
               for candidate in url_variants(url)]
    return any(results)


def body_sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def verify_twilio_body(auth_token: str, url: str, body: bytes, header_value: str | None) -> bool:
    """True if this JSON-bodied request is signed and its body matches ``bodySHA256``."""
    try:
        query = parse_qsl(urlsplit(url).query, keep_blank_values=True)
    except ValueError:
        return False
    claimed = [value for name, value in query if name == BODY_HASH_PARAM]
    if len(claimed) != 1:
        return False
    body_ok = _equal(body_sha256(body), claimed[0].lower())
    return verify_twilio(auth_token, url, [], header_value) and body_ok
