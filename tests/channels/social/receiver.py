"""A real HTTPS bridge for reply tests: uvicorn serving Starlette on 127.0.0.1, port 0.

Replies must go to https URLs, so the receiver has a certificate from a throwaway
certificate authority made here; the test client trusts only that authority. The bridge
verifies each request's Standard Webhooks signature with the reply secret, records it,
and answers whatever the test scripted.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fixtures.live import serve_in_loop


@dataclass
class Scripted:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Bridge:
    url: str
    ca_file: Path
    received: list[tuple[dict[str, str], Any]] = field(default_factory=list)
    script: list[Scripted] = field(default_factory=list)

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))


def _certificate(name: x509.Name, issuer: x509.Name, public: ec.EllipticCurvePublicKey,
                 signer: ec.EllipticCurvePrivateKey, ca: bool) -> x509.CertificateBuilder:
    now = datetime.now(UTC)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer)
               .public_key(public).serial_number(x509.random_serial_number())
               .not_valid_before(now - timedelta(minutes=5))
               .not_valid_after(now + timedelta(hours=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False))
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))]),
            critical=False)
    return builder


def make_tls_files(directory: Path) -> tuple[Path, Path, Path]:
    """(CA certificate, server certificate, server key) for 127.0.0.1."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cxprism test CA")])
    ca_cert = (_certificate(ca_name, ca_name, ca_key.public_key(), ca_key, ca=True)
               .add_extension(x509.KeyUsage(
                   digital_signature=True, key_cert_sign=True, crl_sign=True,
                   content_commitment=False, key_encipherment=False, data_encipherment=False,
                   key_agreement=False, encipher_only=False, decipher_only=False),
                   critical=True)
               .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    cert = (_certificate(name, ca_name, key.public_key(), ca_key, ca=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = directory / "ca.pem", directory / "server.pem", directory / "server-key.pem"
    paths[0].write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


def _app(bridge: Bridge, secret: str) -> Starlette:
    async def replies(request: Request) -> Response:
        body = await request.body()
        headers = dict(request.headers)
        try:
            document = Webhook(secret).verify(body, headers)
        except WebhookVerificationError:
            return Response("bad signature", status_code=401)
        bridge.received.append((headers, document))
        answer = bridge.script.pop(0) if bridge.script else Scripted()
        if answer.delay:
            await asyncio.sleep(answer.delay)
        return Response(answer.body, status_code=answer.status, headers=answer.headers)

    return Starlette(routes=[Route("/replies", replies, methods=["POST"])])


@asynccontextmanager
async def running_bridge(directory: Path, secret: str) -> AsyncIterator[Bridge]:
    ca_file, cert_file, key_file = make_tls_files(directory)
    bridge = Bridge(url="", ca_file=ca_file)
    async with serve_in_loop(_app(bridge, secret), scheme="https",
                             ssl_certfile=str(cert_file), ssl_keyfile=str(key_file)) as base:
        bridge.url = f"{base}/replies"
        yield bridge
