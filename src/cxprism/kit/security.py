"""Passwords (argon2) and bearer secrets (random, stored as SHA-256)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

import anyio.to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
# Verifying against this keeps a login for an unknown user as slow as for a known one.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))

MIN_PASSWORD_LENGTH = 10


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


# Request handlers use these: argon2 is deliberately slow (tens of milliseconds of CPU),
# and run on the event loop it would stall every other request meanwhile. argon2-cffi
# releases the GIL while hashing, so a worker thread really runs it alongside the loop.
async def hash_password_in_thread(password: str) -> str:
    return await anyio.to_thread.run_sync(hash_password, password)


async def verify_password_in_thread(password_hash: str | None, password: str) -> bool:
    return await anyio.to_thread.run_sync(verify_password, password_hash, password)


def new_secret(prefix: str, nbytes: int = 24) -> tuple[str, str]:
    """A bearer secret ``<prefix>_<lookup>_<random>`` and its lookup part.

    The lookup part is stored in the clear to find the row; the whole secret only as a
    SHA-256 digest. With 192 random bits a fast hash is enough: nothing to brute-force.
    """
    lookup = secrets.token_hex(6)
    return f"{prefix}_{lookup}_{secrets.token_urlsafe(nbytes)}", lookup


def split_secret(secret: str, prefix: str) -> str | None:
    parts = secret.split("_", 2)
    if len(parts) != 3 or parts[0] != prefix or len(parts[1]) != 12:
        return None
    return parts[1]


def digest_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(stored_digest: str, presented: str) -> bool:
    return hmac.compare_digest(stored_digest, digest_secret(presented))
