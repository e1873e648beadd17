"""The SSRF guard: refused destinations get no connection at all, allowed ones are reached.

Real servers on 127.0.0.1, 127.0.0.2 and ::1 stand for "public" (allowlisted) and
"private" hosts and count every connection they accept, so "refused" means "never
touched", not just "an exception was raised".
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import re
import ssl
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager

import httpcore
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cxprism.kit.safe_http import (
    GuardedBackend,
    GuardedTransport,
    IPAddress,
    Resolver,
    UnsafeDestination,
    address_problem,
    check_url,
    literal_address,
    parse_allowlist,
    safe_client,
    validate_public_url,
)

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
LOCAL = ["127.0.0.1/32"]
SETTLE = 0.05  # lets a connection that did get through reach the server's counter


class Server:
    """A minimal HTTP server that answers ``response`` and counts what reaches it."""

    def __init__(self, response: bytes) -> None:
        self.response = response
        self.connections = 0
        self.requests: list[bytes] = []
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            self.requests.append(await reader.readuntil(b"\r\n\r\n"))
            writer.write(self.response)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def serving(host: str, response: bytes = OK) -> AsyncIterator[Server]:
    server = Server(response)
    try:
        listener = await asyncio.start_server(server.handle, host, 0)
    except OSError as exc:
        pytest.skip(f"cannot listen on {host} here: {exc}")
    server.port = listener.sockets[0].getsockname()[1]
    async with listener:
        yield server


def resolver(table: Mapping[str, Sequence[str]]) -> Resolver:
    async def resolve(host: str, port: int) -> Sequence[str]:
        return table[host]

    return resolve


async def refused(client: httpx.AsyncClient, url: str) -> UnsafeDestination:
    async with client:
        with pytest.raises(UnsafeDestination) as info:
            await client.get(url)
    await asyncio.sleep(SETTLE)
    return info.value


# --- the pure address rules --------------------------------------------------------------

UNSAFE = {
    "127.0.0.1": "loopback", "127.255.0.9": "loopback", "10.0.0.5": "private",
    "10.255.255.255": "private", "172.16.0.1": "private", "172.31.255.254": "private",
    "192.168.1.1": "private", "169.254.169.254": "link-local", "100.64.0.1": "carrier-grade",
    "0.0.0.0": "unspecified", "224.0.0.1": "multicast", "255.255.255.255": "broadcast",
    "240.0.0.1": "reserved", "192.0.2.7": "not a globally routable", "::1": "loopback",
    "::": "unspecified", "fd00::1": "unique-local", "fc00::5": "unique-local",
    "fe80::1": "link-local", "fec0::1": "site-local", "ff02::1": "multicast",
    "::ffff:127.0.0.1": "IPv4-mapped form of 127.0.0.1, a loopback",
    "::ffff:169.254.169.254": "IPv4-mapped form of 169.254.169.254, a link-local",
    "64:ff9b::a00:5": "NAT64 form of 10.0.0.5, a private", "2002:c0a8:101::": "6to4 form",
    "::10.0.0.5": "IPv4-compatible form of 10.0.0.5", "2001:db8::1": "not a globally routable",
}
PUBLIC = ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111",
          "2a00:1450:4001:82b::200e", "::ffff:8.8.8.8", "64:ff9b::808:808"]


@pytest.mark.parametrize(("address", "kind"), UNSAFE.items())
def test_unsafe_addresses_are_named_with_their_kind(address: str, kind: str) -> None:
    problem = address_problem(ipaddress.ip_address(address))
    assert problem is not None and kind in problem


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    assert address_problem(ipaddress.ip_address(address)) is None


UNSAFE_V4 = ["127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
             "169.254.0.0/16", "100.64.0.0/10", "0.0.0.0/8"]


def _mapped(address: ipaddress.IPv4Address) -> ipaddress.IPv6Address:
    return ipaddress.IPv6Address(0xFFFF_0000_0000 | int(address))


def _nat64(address: ipaddress.IPv4Address) -> ipaddress.IPv6Address:
    return ipaddress.IPv6Address(int(ipaddress.IPv6Address("64:ff9b::")) | int(address))


@given(st.one_of(*(st.ip_addresses(network=n) for n in UNSAFE_V4)))
def test_any_internal_ipv4_address_and_its_ipv6_forms_are_refused(
        address: ipaddress.IPv4Address) -> None:
    assert address_problem(address) is not None
    assert address_problem(_mapped(address)) is not None
    assert address_problem(_nat64(address)) is not None


@given(st.ip_addresses(v=4))
def test_an_ipv6_form_is_judged_as_the_ipv4_address_it_embeds(
        address: ipaddress.IPv4Address) -> None:
    verdict = address_problem(address) is None
    assert (address_problem(_mapped(address)) is None) == verdict
    assert (address_problem(_nat64(address)) is None) == verdict


@pytest.mark.parametrize("spelling", ["2130706433", "0x7f.1", "127.1", "017700000001",
                                      "0x7f000001", "127.0.0.1."])
def test_odd_ipv4_spellings_are_read_as_the_address_they_mean(spelling: str) -> None:
    assert literal_address(spelling) == ipaddress.IPv4Address("127.0.0.1")


@pytest.mark.parametrize("name", ["example.com", "1.example", "cafe", "a1.b2"])
def test_names_are_not_addresses(name: str) -> None:
    assert literal_address(name) is None


@pytest.mark.parametrize(("url", "expected"), [
    ("http://10.0.0.5/hook", "10.0.0.5 is a private address"),
    ("https://169.254.169.254/latest/meta-data", "link-local"),
    ("http://2130706433/", "2130706433 (127.0.0.1) is a loopback address"),
    ("http://0x7f.1/", "loopback"), ("http://[::1]:8080/", "loopback"),
    ("http://[::ffff:127.0.0.1]/", "IPv4-mapped"), ("http://[fd00::1]/", "unique-local"),
    ("http://localhost:8000/", "this machine"), ("http://api.localhost/", "this machine"),
    ("ftp://example.com/file", "http:// or https://"), ("file:///etc/passwd", "http://"),
    ("example.com/path", "http://"), ("http:///path", "no host"),
    ("https://user:secret@example.com/", "user name or password"),
])
def test_check_url_refuses_with_a_reason(url: str, expected: str) -> None:
    problem = check_url(url, allow=[])
    assert problem is not None and expected in problem
    with pytest.raises(ValueError, match=re.escape(problem)):
        validate_public_url(url, allow=[])


@pytest.mark.parametrize("url", ["https://api.example.com/v1", "http://8.8.8.8:8080/x",
                                 "https://[2606:4700:4700::1111]/", "https://xn--bcher-kva.example/"])
def test_check_url_accepts_public_urls(url: str) -> None:
    assert check_url(url, allow=[]) is None
    assert validate_public_url(url, allow=[]) == url


def test_the_allowlist_lets_its_networks_through_and_nothing_else() -> None:
    assert check_url("http://127.0.0.1:9/", allow=LOCAL) is None
    assert check_url("http://127.0.0.2:9/", allow=LOCAL) is not None
    assert check_url("http://[::ffff:127.0.0.1]:9/", allow=LOCAL) is not None
    assert parse_allowlist(" 127.0.0.1/32, ::1 ,,") == (
        ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("::1/128"))
    with pytest.raises(ValueError, match=r"127\.0\.0\.1/32"):
        parse_allowlist("127.0.0.1/32, not-a-network")


# --- the guard, in front of a recording backend ------------------------------------------

class SpyStream(httpcore.AsyncNetworkStream):
    def __init__(self) -> None:
        self.written = b""
        self.server_hostname: str | None = None
        self._answer = [b"HTTP/1.1 204 No Content\r\n\r\n"]

    # The timeout parameters below are httpcore's interface (hence ASYNC109).
    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        return self._answer.pop(0) if self._answer else b""

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        self.written += buffer

    async def aclose(self) -> None:
        pass

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                        timeout: float | None = None,  # noqa: ASYNC109
                        ) -> httpcore.AsyncNetworkStream:
        self.server_hostname = server_hostname
        return self


class SpyBackend(httpcore.AsyncNetworkBackend):
    """Stands for the network: records where connections would have gone."""

    def __init__(self) -> None:
        self.connected: list[str] = []
        self.stream = SpyStream()

    async def connect_tcp(self, host: str, port: int,
                          timeout: float | None = None,  # noqa: ASYNC109
                          local_address: str | None = None,
                          socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
                          ) -> httpcore.AsyncNetworkStream:
        self.connected.append(host)
        return self.stream

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


NAMES = {"public-looking.example": ["10.1.2.3"],
         "mixed.example": ["93.184.216.34", "10.1.2.3"],
         "mixed-v6.example": ["2606:4700:4700::1111", "fd12::7"],
         "metadata.example": ["169.254.169.254"], "mapped.example": ["::ffff:192.168.0.1"],
         "api.example.test": ["93.184.216.34"]}


def spied() -> tuple[httpx.AsyncClient, GuardedBackend, SpyBackend]:
    spy = SpyBackend()
    backend = GuardedBackend(resolver=resolver(NAMES), inner=spy)
    return httpx.AsyncClient(transport=GuardedTransport(backend, allow=())), backend, spy


@pytest.mark.parametrize("host", [
    "127.0.0.1", "10.0.0.5", "10.200.1.1", "172.16.5.4", "172.31.0.1", "192.168.0.10",
    "169.254.169.254", "[::1]", "[fd00::1]", "[fd12:3456::9]", "[::ffff:127.0.0.1]",
    "[::ffff:10.0.0.5]", "100.64.1.1", "0.0.0.0", "2130706433", "0x7f.1", "[fe80::1]",
    "public-looking.example", "mixed.example", "mixed-v6.example", "metadata.example",
    "mapped.example",
])
async def test_unsafe_destinations_are_refused_before_any_connection(host: str) -> None:
    client, backend, spy = spied()
    error = await refused(client, f"http://{host}/")
    assert isinstance(error, httpx.TransportError)  # callers' network-failure path
    assert error.reason.startswith(host.strip("[]") + " ")
    # The backend refuses on its own too, for whatever host httpx hands it.
    with pytest.raises(UnsafeDestination):
        await backend.connect_tcp(host.strip("[]"), 80, timeout=1.0)
    assert spy.connected == []


async def test_a_name_is_refused_when_any_of_its_answers_is_unsafe() -> None:
    client, _, spy = spied()
    error = await refused(client, "http://mixed.example/")
    assert error.reason == "mixed.example resolves to 10.1.2.3, a private address"
    assert spy.connected == []


async def test_the_checked_address_is_dialled_and_tls_keeps_the_name() -> None:
    client, _, spy = spied()
    async with client:
        response = await client.get("https://api.example.test/status")
    assert response.status_code == 204
    # The socket goes to the address that was checked, never to a second lookup...
    assert spy.connected == ["93.184.216.34"]
    # ...while the certificate is checked against, and HTTP addressed to, the name.
    assert spy.stream.server_hostname == "api.example.test"
    assert b"\r\nHost: api.example.test\r\n" in spy.stream.written


async def test_localhost_is_refused_by_name_before_any_lookup() -> None:
    client, _, spy = spied()  # the fake resolver does not know "localhost"
    error = await refused(client, "http://localhost:8000/")
    assert error.reason == "localhost is this machine (a loopback name)"
    assert spy.connected == []


async def test_local_sockets_are_never_used() -> None:
    with pytest.raises(UnsafeDestination):
        await GuardedBackend().connect_unix_socket("/var/run/docker.sock")


# --- real servers: refused means untouched -----------------------------------------------

async def test_an_allowlisted_server_is_reached() -> None:
    async with serving("127.0.0.1") as server, safe_client(allow=LOCAL) as client:
        response = await client.get(f"http://127.0.0.1:{server.port}/ping")
    assert response.text == "ok"
    assert server.connections == 1


async def test_loopback_is_refused_without_the_allowlist() -> None:
    async with serving("127.0.0.1") as server:
        error = await refused(safe_client(allow=[]), f"http://127.0.0.1:{server.port}/")
        for spelling in ("2130706433", "0x7f.1", "127.1"):
            await refused(safe_client(allow=[]), f"http://{spelling}:{server.port}/")
    assert "127.0.0.1 is a loopback address" in str(error)
    assert server.connections == 0


async def test_a_mapped_ipv6_form_of_an_allowed_address_is_still_refused() -> None:
    # Linux delivers ::ffff:127.0.0.1 to the IPv4 listener: the guard must judge the
    # IPv4 address inside and not let the IPv6 spelling slip past the allowlist.
    async with serving("127.0.0.1") as server:
        await refused(safe_client(allow=LOCAL), f"http://[::ffff:127.0.0.1]:{server.port}/")
    assert server.connections == 0


@pytest.mark.parametrize("host", ["127.0.0.2", "::1"])
async def test_other_local_listeners_are_refused(host: str) -> None:
    async with serving(host) as server:
        shown = f"[{host}]" if ":" in host else host
        await refused(safe_client(allow=LOCAL), f"http://{shown}:{server.port}/")
    assert server.connections == 0


async def test_a_name_resolving_to_a_refused_address_is_not_dialled() -> None:
    async with serving("127.0.0.1") as allowed, serving("127.0.0.2") as private:
        names = {"public-looking.example": ["127.0.0.2"],
                 "mixed.example": ["127.0.0.1", "127.0.0.2"]}
        for name, port in (("public-looking.example", private.port),
                           ("mixed.example", allowed.port)):
            client = safe_client(allow=LOCAL, resolver=resolver(names))
            await refused(client, f"http://{name}:{port}/")
    assert (allowed.connections, private.connections) == (0, 0)


async def test_a_redirect_to_a_private_address_is_not_followed() -> None:
    async with serving("127.0.0.2") as private:
        hop = (f"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.2:{private.port}/\r\n"
               "Content-Length: 0\r\nConnection: close\r\n\r\n").encode()
        async with serving("127.0.0.1", hop) as public:
            names = {"cdn.example": ["127.0.0.1"]}
            url = f"http://cdn.example:{public.port}/file"
            async with safe_client(allow=LOCAL, resolver=resolver(names)) as client:
                response = await client.get(url)
            assert response.status_code == 302
            # Even a caller asking to follow redirects gets every hop checked.
            client = safe_client(allow=LOCAL, resolver=resolver(names))
            async with client:
                with pytest.raises(UnsafeDestination):
                    await client.get(url, follow_redirects=True)
            await asyncio.sleep(SETTLE)
    assert f"Host: cdn.example:{public.port}".encode() in public.requests[0]
    assert public.connections == 2
    assert private.connections == 0


async def test_proxy_variables_cannot_carry_a_request_around_the_guard(
        monkeypatch: pytest.MonkeyPatch) -> None:
    async with serving("127.0.0.1") as proxy, serving("127.0.0.2") as private:
        for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY"):
            monkeypatch.setenv(name, f"http://127.0.0.1:{proxy.port}")
        client = safe_client(allow=LOCAL)
        assert (client.follow_redirects, client.trust_env) == (False, False)
        await refused(client, f"http://127.0.0.2:{private.port}/")
    assert (proxy.connections, private.connections) == (0, 0)


async def test_only_http_and_https_are_called() -> None:
    async with serving("127.0.0.1") as server:
        async with safe_client(allow=LOCAL) as client:
            with pytest.raises(httpx.UnsupportedProtocol):
                await client.get(f"ws://127.0.0.1:{server.port}/")
        await asyncio.sleep(SETTLE)
    assert server.connections == 0


async def test_the_test_suite_allowlist_does_not_leak_into_an_explicit_empty_one() -> None:
    assert os.environ.get("CXPRISM_OUTBOUND_HTTP_ALLOW") == "127.0.0.1/32"
    async with serving("127.0.0.1") as server:
        async with safe_client() as client:  # the configured allowlist
            assert (await client.get(f"http://127.0.0.1:{server.port}/")).text == "ok"
        await refused(safe_client(allow=[]), f"http://127.0.0.1:{server.port}/")
    assert server.connections == 1


async def test_the_delivery_client_is_guarded() -> None:
    from cxprism.conversations.tasks import http_client

    async with serving("127.0.0.2") as private:
        client = http_client()
        assert http_client() is client  # one per event loop
        await refused(client, f"http://127.0.0.2:{private.port}/")
    assert private.connections == 0


def _addresses(values: Iterable[str]) -> list[IPAddress]:
    return [ipaddress.ip_address(v) for v in values]


async def test_every_answer_is_checked_and_dialled_in_order() -> None:
    spy = SpyBackend()
    names = {"dual.example": ["2606:4700:4700::1111", "1.1.1.1", "1.1.1.1"]}
    backend = GuardedBackend(resolver=resolver(names), inner=spy)
    assert await backend.checked_addresses("dual.example", 443) == _addresses(
        ["2606:4700:4700::1111", "1.1.1.1"])
    await backend.connect_tcp("dual.example", 443, timeout=1.0)
    assert spy.connected == ["2606:4700:4700::1111"]
