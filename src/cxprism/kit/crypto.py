"""Envelope encryption with AES-256-GCM.

A master key (derived from the settings' secret) wraps per-record data keys; data is
encrypted with its data key. Destroying a data key makes its data unreadable for good —
that is how a customer is crypto-shredded without rewriting anything that commits to it.
"""

from __future__ import annotations

import hashlib
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12


def derive_key(secret: str, purpose: str) -> bytes:
    return hashlib.sha256(f"cxprism:{purpose}:".encode() + secret.encode()).digest()


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def encrypt(key: bytes, plaintext: bytes, associated: bytes = b"") -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, associated)


def decrypt(key: bytes, ciphertext: bytes, associated: bytes = b"") -> bytes:
    nonce, body = ciphertext[:NONCE_BYTES], ciphertext[NONCE_BYTES:]
    return AESGCM(key).decrypt(nonce, body, associated)


def wrap_key(master: bytes, data_key: bytes, owner: str) -> bytes:
    return encrypt(master, data_key, owner.encode())


def unwrap_key(master: bytes, wrapped: bytes, owner: str) -> bytes:
    return decrypt(master, wrapped, owner.encode())
