"""The SSRF guard: every outgoing HTTP call made on a user's behalf goes through it.

A user can point cxprism at any URL (a reply bridge, a provider base URL, a webhook), so
a URL is never trusted to name a public host. :func:`safe_client` returns an
``httpx.AsyncClient`` whose every TCP connection is made by :class:`GuardedBackend`:

* the host is resolved **once**, every answer is checked, and the connection goes to the
  checked IP address itself, so a second DNS answer (rebinding) is never used;
* the original hostname still travels in the Host header and in TLS (SNI and certificate
  checks), because httpcore passes it to ``start_tls`` separately from ``connect_tcp``;
* a refused destination raises :class:`UnsafeDestination` before any socket is opened.

The client never follows redirects (a 3xx is the caller's failure to report) and ignores
proxy environment variables, which would otherwise carry requests around the guard.

:func:`check_url` / :func:`validate_public_url` are the same rules for configuration time,
for URLs whose host is a literal address. Networks in ``CXPRISM_OUTBOUND_HTTP_ALLOW``
(tests and development only) are let through, so local fakes can be reached.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence

import anyio
import httpcore
import httpx

from cxprism.config import get_settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# host, port -> the addresses the host resolves to (strings or address objects).
Resolver = Callable[[str, int], Awaitable[Sequence[str | IPAddress]]]
Allow = Sequence[IPNetwork | str]

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)  # httpx's own
SCHEMES = frozenset({"http", "https"})


class UnsafeDestination(httpx.TransportError):
    """A destination the guard refused; nothing was sent to it.

    A ``TransportError`` so callers that already turn network failures into send errors
    handle it without a new ``except``; ``reason`` says which address and why.
    """

    def __init__(self, host: str, reason: str) -> None:
        self.host = host
        self.reason = reason
        super().__init__(f"refused to connect to {host}: {reason}")


# --- the address rules (pure) ------------------------------------------------------------

def _nets(*cidrs: str) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(c) for c in cidrs)


# First match names the kind; anything else not globally routable is caught afterwards.
_V4_KINDS: tuple[tuple[tuple[IPNetwork, ...], str], ...] = (
    (_nets("0.0.0.0/8"), "an unspecified ('this network') address"),
    (_nets("127.0.0.0/8"), "a loopback address"),
    (_nets("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"), "a private address"),
    (_nets("100.64.0.0/10"), "a carrier-grade NAT (shared) address"),
    (_nets("169.254.0.0/16"), "a link-local address (cloud metadata lives there)"),
    (_nets("224.0.0.0/4"), "a multicast address"),
    (_nets("255.255.255.255/32"), "the broadcast address"),
    (_nets("240.0.0.0/4"), "a reserved address"),
)
_V6_KINDS: tuple[tuple[tuple[IPNetwork, ...], str], ...] = (
    (_nets("::/128"), "the unspecified address"),
    (_nets("::1/128"), "a loopback address"),
    (_nets("fe80::/10"), "a link-local address"),
    (_nets("fec0::/10"), "a site-local address"),
    (_nets("fc00::/7"), "a unique-local (private) address"),
    (_nets("ff00::/8"), "a multicast address"),
    (_nets("64:ff9b:1::/48"), "a local-use NAT64 address"),
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_V4_COMPATIBLE = ipaddress.IPv6Network("::/96")


def _embedded_v4(address: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address] | None:
    """The IPv4 address an IPv6 form carries, and the form's name; the IPv4 address is
    where such a packet ends up, so it is what must be judged."""
    if address.ipv4_mapped is not None:
        return "an IPv4-mapped form", address.ipv4_mapped
    if address.sixtofour is not None:
        return "a 6to4 form", address.sixtofour
    low32 = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _NAT64:
        return "a NAT64 form", low32
    if address in _V4_COMPATIBLE and int(address) > 1:  # :: and ::1 are named above
        return "an IPv4-compatible form", low32
    return None


def _named_kind(address: IPAddress) -> str | None:
    kinds = _V4_KINDS if address.version == 4 else _V6_KINDS
    for networks, kind in kinds:
        if any(address in network for network in networks):
            return kind
    return None


def address_problem(address: IPAddress) -> str | None:
    """Why ``address`` must not be called (``"a private address"``), or None if public."""
    kind = _named_kind(address)
    if kind is not None:
        return kind
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_v4(address)
        if embedded is not None:
            form, inner = embedded
            inner_kind = address_problem(inner)
            return None if inner_kind is None else f"{form} of {inner}, {inner_kind}"
        if address.is_reserved:
            return "a reserved address"
    if not address.is_global:
        return "not a globally routable address"
    return None


def is_public_address(address: IPAddress | str) -> bool:
    return address_problem(ipaddress.ip_address(address)) is None


# Spellings the C resolver reads as IPv4 (``2130706433``, ``0x7f.1``, ``127.1``) though
# they are not dotted quads; httpx passes them on as host names.
_INET_ATON_FORM = re.compile(r"(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}\.?", re.I)


def literal_address(host: str) -> IPAddress | None:
    """The address a host names literally, in any spelling the resolver accepts."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    if not _INET_ATON_FORM.fullmatch(host):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host.rstrip(".")))
    except OSError:
        return None


def parse_allowlist(text: str) -> tuple[IPNetwork, ...]:
    """Comma-separated networks (``127.0.0.1/32, ::1``) as used by the setting."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    try:
        return tuple(ipaddress.ip_network(item, strict=False) for item in items)
    except ValueError as exc:
        raise ValueError(f"outbound HTTP allowlist: {exc}; expected e.g. 127.0.0.1/32") from None


def _allowed_networks(allow: Allow | None) -> tuple[IPNetwork, ...]:
    """``None`` means the configured allowlist; an explicit list (even empty) replaces it."""
    if allow is None:
        return parse_allowlist(get_settings().outbound_http_allow)
    return tuple(ipaddress.ip_network(n, strict=False) for n in allow)


def _refusal(address: IPAddress, allow: Iterable[IPNetwork]) -> str | None:
    if any(address.version == n.version and address in n for n in allow):
        return None
    return address_problem(address)


def _spelled(host: str, address: IPAddress) -> str:
    """``2130706433 (127.0.0.1)``: an odd spelling is shown with the address it means."""
    return host if host == str(address) else f"{host} ({address})"


# --- configuration time ------------------------------------------------------------------

_LOCALHOST = (ipaddress.IPv4Address("127.0.0.1"), ipaddress.IPv6Address("::1"))


def _host_problem(host: str, allow: tuple[IPNetwork, ...]) -> str | None:
    name = host.rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        # Always this machine (RFC 6761), whatever DNS says; allowed only if both are.
        refused = [a for a in _LOCALHOST if _refusal(a, allow)]
        return f"{host} is this machine (a loopback name)" if refused else None
    address = literal_address(host)
    if address is None:
        return None  # a name: judged by what it resolves to, at connect time
    kind = _refusal(address, allow)
    return None if kind is None else f"{_spelled(host, address)} is {kind}"


def check_url(url: str, *, allow: Allow | None = None) -> str | None:
    """Why ``url`` may not be called (a sentence for the user), or None when it may.

    Only the literal host can be judged here; a name is checked when it is resolved.
    """
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return "not a valid URL"
    if parsed.scheme not in SCHEMES:
        return f"the URL must start with http:// or https://, not {parsed.scheme or 'nothing'}"
    if not parsed.host:
        return "the URL has no host"
    if parsed.userinfo:
        return "the URL must not carry a user name or password"
    return _host_problem(parsed.host, _allowed_networks(allow))


def validate_public_url(url: str, *, allow: Allow | None = None) -> str:
    """``url`` unchanged, or ``ValueError`` with the reason (for pydantic validators)."""
    problem = check_url(url, allow=allow)
    if problem is not None:
        raise ValueError(problem)
    return url


# --- connect time ------------------------------------------------------------------------

async def system_resolver(host: str, port: int) -> Sequence[str]:
    """The platform resolver, without blocking the event loop."""
    answers = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(sockaddr[0]) for *_, sockaddr in answers]


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(deadline - time.monotonic(), 0.0)


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that connects only to checked, allowed addresses."""

    def __init__(self, *, allow: Iterable[IPNetwork] = (), resolver: Resolver | None = None,
                 inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._allow = tuple(allow)
        self._resolver = resolver or system_resolver
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
            self, host: str, port: int,
            timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
            local_address: str | None = None,
            socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            with anyio.fail_after(timeout):
                addresses = await self.checked_addresses(host, port)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from exc
        failure: Exception = httpcore.ConnectTimeout(f"connecting to {host} timed out")
        for address in addresses:
            left = _remaining(deadline)
            if left == 0.0:
                break
            try:
                return await self._inner.connect_tcp(
                    str(address), port, timeout=left, local_address=local_address,
                    socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc  # the next checked address may answer
        raise failure

    async def checked_addresses(self, host: str, port: int) -> list[IPAddress]:
        """Every address ``host`` stands for, all allowed, or :class:`UnsafeDestination`."""
        literal = literal_address(host)
        addresses = [literal] if literal is not None else await self._resolve(host, port)
        for address in addresses:
            kind = _refusal(address, self._allow)
            if kind is not None:
                said = (f"{_spelled(host, address)} is" if literal is not None
                        else f"{host} resolves to {address},")
                raise UnsafeDestination(host, f"{said} {kind}")
        return addresses

    async def _resolve(self, host: str, port: int) -> list[IPAddress]:
        try:
            answers = await self._resolver(host, port)
            # A scope (``fe80::1%eth0``) does not change what kind of address it is.
            addresses = [ipaddress.ip_address(str(answer).split("%")[0]) for answer in answers]
        except (OSError, ValueError) as exc:
            raise httpcore.ConnectError(f"{host} could not be resolved: {exc}") from exc
        if not addresses:
            raise httpcore.ConnectError(f"{host} resolved to no address")
        return list(dict.fromkeys(addresses))

    async def connect_unix_socket(
            self, path: str,
            timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
            socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise UnsafeDestination(path, "outgoing calls never use local sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with its connection pool built on :class:`GuardedBackend`."""

    def __init__(self, backend: GuardedBackend, *, allow: tuple[IPNetwork, ...],
                 limits: httpx.Limits = DEFAULT_LIMITS) -> None:
        # Certificate locations may still come from SSL_CERT_FILE/DIR, as before the guard:
        # they choose whom to trust, not where to connect.
        context: ssl.SSLContext = httpx.create_ssl_context(trust_env=True)
        super().__init__(verify=context, trust_env=False, limits=limits)
        # httpx offers no public way to hand its pool a network backend, so the pool is
        # rebuilt with the same settings plus the guard (tests check the guard is in place).
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=context, max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry, network_backend=backend)
        self._allow = allow

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        # The URL is judged before the pool sees it: a wrong scheme or a literal unsafe
        # host fails here with the clearest message; names are judged at connect time.
        if request.url.scheme not in SCHEMES:
            raise httpx.UnsupportedProtocol(
                f"only http and https URLs are called, not {request.url.scheme!r}",
                request=request)
        problem = _host_problem(request.url.host, self._allow)
        if problem is not None:
            raise UnsafeDestination(request.url.host, problem)
        return await super().handle_async_request(request)


def safe_client(*, timeout: httpx.Timeout | float = DEFAULT_TIMEOUT, allow: Allow | None = None,
                resolver: Resolver | None = None,
                limits: httpx.Limits = DEFAULT_LIMITS) -> httpx.AsyncClient:
    """An ``AsyncClient`` for calls on a user's behalf: guarded, no redirects, no proxies.

    ``allow`` lists networks let through although not public; ``None`` reads them from
    the ``outbound_http_allow`` setting, ``[]`` lets nothing through. ``resolver``
    replaces the system resolver (tests).
    """
    networks = _allowed_networks(allow)
    backend = GuardedBackend(allow=networks, resolver=resolver)
    return httpx.AsyncClient(transport=GuardedTransport(backend, allow=networks, limits=limits),
                             timeout=timeout, follow_redirects=False, trust_env=False)


# httpx's connection pool gets slower as it grows (measured on the outbound benchmark:
# 1,130 requests/s through one client with 4 connections, 370/s with 32), so callers with
# many requests in flight spread them over many small clients instead (32 clients of 2
# connections: 1,690/s).
POOL_CLIENTS = 32
POOL_CONNECTIONS = 2


def safe_client_pool(*, timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
                     clients: int = POOL_CLIENTS,
                     connections: int = POOL_CONNECTIONS) -> list[httpx.AsyncClient]:
    """Guarded clients for concurrent calls: use ``pool[i % len(pool)]`` for call ``i``."""
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return [safe_client(timeout=timeout, limits=limits) for _ in range(clients)]
