"""Password hashing runs in a worker thread: other requests go on while it works.

argon2 is deliberately slow; run on the event loop it would stall every other request.
These tests record on which thread the real hasher runs for a request, rather than
timing the loop: timings on a shared 2-core machine flake (CI once saw a 0.3 s stall
caused by nothing but the machine's load), the thread a call runs on does not.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest
from argon2 import PasswordHasher

from cxprism.kit import security
from tests.fixtures.builders import ADMIN_PASSWORD, Tenant
from tests.web.helpers import csrf_from


class _ThreadRecordingHasher(PasswordHasher):
    """The real argon2 hasher, noting the thread of every hash and verify."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: list[int] = []

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        self.threads.append(threading.get_ident())
        return super().hash(password, salt=salt)

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.threads.append(threading.get_ident())
        return super().verify(hash, password)


@pytest.fixture
def hasher(monkeypatch: pytest.MonkeyPatch) -> Iterator[_ThreadRecordingHasher]:
    recording = _ThreadRecordingHasher()
    monkeypatch.setattr(security, "_hasher", recording)
    yield recording


async def test_a_login_checks_its_password_off_the_event_loop(
        client: httpx.AsyncClient, tenant: Tenant, hasher: _ThreadRecordingHasher) -> None:
    token = csrf_from((await client.get("/login")).text)
    response = await client.post("/login", data={
        "csrf_token": token, "workspace": tenant.slug, "email": tenant.admin_email,
        "password": ADMIN_PASSWORD})
    assert response.status_code == 303
    assert hasher.threads, "the login never verified a password"
    assert threading.get_ident() not in hasher.threads


async def test_a_new_user_password_is_hashed_off_the_event_loop(
        client: httpx.AsyncClient, tenant: Tenant, hasher: _ThreadRecordingHasher) -> None:
    response = await client.post("/api/v1/users", headers=tenant.headers, json={
        "email": "new@acme.example", "name": "New", "role": "agent",
        "password": "a long enough password"})
    assert response.status_code == 201
    assert hasher.threads, "the new user's password was never hashed"
    assert threading.get_ident() not in hasher.threads


async def test_a_password_change_is_hashed_off_the_event_loop(
        client: httpx.AsyncClient, tenant: Tenant, hasher: _ThreadRecordingHasher) -> None:
    response = await client.patch(f"/api/v1/users/{tenant.admin_id}", headers=tenant.headers,
                                  json={"password": "another long password"})
    assert response.status_code == 200, response.text
    assert hasher.threads, "the changed password was never hashed"
    assert threading.get_ident() not in hasher.threads
