"""Header-level rules shared by reading and writing email: addresses, ids, names, tokens.

Reading and writing agree on these on purpose: an address we would refuse to send to is
not one we should file a customer under, and a reply token we hand out in ``Reply-To``
must be one we recognise when it comes back.
"""

from __future__ import annotations

import re
import unicodedata
from email.utils import parseaddr

from cxprism.channels.email.errors import HeaderInjection, InvalidAddress, InvalidMessage

MAX_MESSAGE_ID = 250
# Reply tokens ride in the local part (support+TOKEN@example.com): URL-safe, long enough
# not to be guessed, short enough for the 64-character local-part limit with a prefix.
REPLY_TOKEN = re.compile(r"[A-Za-z0-9_-]{8,64}")

# C0 and C1 controls and the Unicode line and paragraph separators: anything a mail
# program might take for the end of a header line.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LOCAL = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN = re.compile(rf"(?:{_LABEL}\.)+[A-Za-z](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?")
_MESSAGE_ID = re.compile(rf"<([^<>\s]{{1,{MAX_MESSAGE_ID}}})>")
_BARE_MESSAGE_ID = re.compile(rf"[^<>\s]{{1,{MAX_MESSAGE_ID}}}")
_FILENAME_BREAKS = frozenset({"Cc", "Zl", "Zp"})
_FILENAME_DROP = frozenset({"Cf", "Cs", "Co", "Cn"})
MAX_FILENAME = 255


def check_header_value(field: str, value: str) -> str:
    """``value`` unchanged, or :class:`HeaderInjection` if it could end a header line."""
    if _CONTROL.search(value):
        raise HeaderInjection(
            f"{field} must not contain line breaks or other control characters")
    return value


def ascii_domain(domain: str) -> str:
    """The domain in its ASCII (IDNA) form, lower-cased; :class:`InvalidAddress` if none."""
    try:
        ascii_form = domain if domain.isascii() else domain.encode("idna").decode("ascii")
    except UnicodeError:
        raise InvalidAddress(f"{domain!r} is not a valid domain name") from None
    if len(ascii_form) > 253 or not _DOMAIN.fullmatch(ascii_form):
        raise InvalidAddress(f"{domain!r} is not a valid domain name")
    return ascii_form.lower()


def normalise_address(value: str, field: str = "address") -> str:
    """One bare address (``local@domain.tld``), lower-cased, domain in ASCII form.

    Display names, comments, groups, lists and quoted local parts are refused: each is a
    way to make one string mean a different recipient to different programs.
    """
    check_header_value(field, value)
    local, at, domain = value.strip().rpartition("@")
    if not at or len(local) > 64 or not _LOCAL.fullmatch(local):
        raise InvalidAddress(f"{field}: {value!r} is not an email address (local@domain.tld)")
    address = f"{local}@{ascii_domain(domain)}".lower()
    # A second opinion from the email package: it must read exactly this one address.
    name, parsed = parseaddr(address)
    if len(address) > 254 or name or parsed != address:
        raise InvalidAddress(f"{field}: {value!r} is not an email address (local@domain.tld)")
    return address


def split_plus(address: str) -> tuple[str, str | None]:
    """``local+tag@domain`` → (``local@domain``, ``tag``); other addresses → (address, None)."""
    local, _, domain = address.rpartition("@")
    base, plus, tag = local.partition("+")
    if not plus or not base:
        return address, None
    return f"{base}@{domain}", tag


def message_ids(value: str) -> list[str]:
    """The ``<id>`` values in a header (In-Reply-To, References), without brackets."""
    return _MESSAGE_ID.findall(value)


def clean_message_id(value: str) -> str | None:
    """A Message-ID header's id without brackets; None if it holds nothing usable."""
    found = message_ids(value)
    if found:
        return found[0]
    bare = value.strip()
    return bare if _BARE_MESSAGE_ID.fullmatch(bare) else None


def check_message_id(field: str, value: str) -> str:
    """An id we are about to write into a header: brackets optional, nothing else."""
    check_header_value(field, value)
    bare = value.strip()
    if bare.startswith("<") and bare.endswith(">"):
        bare = bare[1:-1]
    if not _BARE_MESSAGE_ID.fullmatch(bare):
        raise InvalidMessage(f"{field}: {value!r} is not a message id")
    return bare


def safe_filename(name: str | None, fallback: str) -> str:
    """A file name safe to store and show: no directories, controls or hidden-file dots.

    Format characters go too: a right-to-left override turns ``exe.pdf`` into a name
    that reads as a PDF.
    """
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(" " if unicodedata.category(ch) in _FILENAME_BREAKS else ch
                   for ch in base if unicodedata.category(ch) not in _FILENAME_DROP)
    base = " ".join(base.split()).strip(" .")
    if not base:
        return fallback
    if len(base) > MAX_FILENAME:
        stem, dot, ext = base.rpartition(".")
        if dot and 0 < len(ext) <= 16:
            base = f"{stem[:MAX_FILENAME - len(ext) - 1]}.{ext}"
        else:
            base = base[:MAX_FILENAME]
    return base
