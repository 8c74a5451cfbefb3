"""The one guard on outgoing URLs an operator can set (supplier base URLs, seller webhooks): no request
reaches loopback, private, link-local, CGNAT, multicast or reserved addresses, nor cloud metadata.

Checked twice: when the URL is configured (a clear 4xx, or a refusal to start) and when a connection is
opened. The second check is the one that holds: a DNS name may resolve to a public address when it is
configured and to 127.0.0.1 a second later (DNS rebinding), and re-checking "right before" the request
still leaves the HTTP client to resolve the name again on its own. So the guarded transport resolves once,
checks every address the name has, and connects to a checked address itself (httpcore network backend);
the URL, the Host header, TLS SNI and certificate checks keep the name. Redirects are never followed by
the clients that use it, and a followed one would pass the same check.

Lab set-ups (a supplier on the LAN, tests on 127.0.0.1) name what they allow in OUTBOUND_ALLOW_LIST:
networks (`10.1.0.0/16`), addresses or host names. Metadata addresses are refused even then."""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import json
import re
import socket
import ssl
import typing
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Self
from urllib.parse import urlsplit

import httpcore
import httpx
from pydantic import AfterValidator, BeforeValidator, Field
from pydantic_settings import NoDecode

from faka_common.errors import DomainError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]

METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean
        "169.254.170.2",  # AWS ECS task credentials
        "fd00:ec2::254",  # AWS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure wire server (a public address)
    )
)
METADATA_HOSTS = frozenset(
    {"metadata.google.internal", "metadata.goog", "metadata", "instance-data", "instance-data.ec2.internal"}
)
CGNAT = ipaddress.ip_network("100.64.0.0/10")
NAT64 = ipaddress.ip_network("64:ff9b::/96")
_HOST_NAME = re.compile(r"^(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]{0,62}\.?)*$")


class UnsafeURL(DomainError):
    """An outgoing URL this platform will not call; the message says why."""

    status_code = 422
    code = "unsafe_url"


def _split(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


def _entry(value: str) -> str:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        if not _HOST_NAME.match(value.lower()):
            raise ValueError(f"{value!r} is neither a network, an address nor a host name") from None
    return value


OutboundAllowList = Annotated[
    tuple[Annotated[str, AfterValidator(_entry)], ...],
    NoDecode,
    BeforeValidator(_split),
    Field(
        description="Internal networks, addresses or host names outgoing operator-set URLs (suppliers, "
        "webhooks) may reach, comma separated, e.g. `10.1.0.0/16,supplier.lab`; for lab set-ups. "
        "Cloud metadata addresses stay refused."
    ),
]


def _normal_host(host: str) -> str:
    return host.strip("[]").rstrip(".").lower()


def _address(text: str) -> IPAddress:
    """An address without its IPv6 zone (`fe80::1%eth0`), so that it compares as itself."""
    return ipaddress.ip_address(text.split("%", 1)[0])


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form carries (mapped, 6to4, Teredo, NAT64), checked as itself."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _is_metadata(address: IPAddress) -> bool:
    if address in METADATA_ADDRESSES:
        return True
    return isinstance(address, ipaddress.IPv6Address) and _embedded_ipv4(address) in METADATA_ADDRESSES


def address_class(address: IPAddress) -> str | None:
    """Why an address is not to be called (None: a public address)."""
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            reason = address_class(embedded)
            return f"{reason} (as IPv6 {address})" if reason else None
    checks: Sequence[tuple[bool, str]] = (
        (address.is_unspecified, "an unspecified address"),
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (isinstance(address, ipaddress.IPv4Address) and address in CGNAT, "a carrier-grade NAT address"),
        (address.is_reserved, "a reserved address"),
        (address.is_private, "a private address"),
        (not address.is_global, "not a public address"),
    )
    return next((reason for hit, reason in checks if hit), None)


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class OutboundPolicy:
    """What outgoing operator-set URLs may reach; `require_https` in production."""

    require_https: bool = True
    allowed_networks: tuple[IPNetwork, ...] = ()
    allowed_hosts: frozenset[str] = frozenset()
    resolver: Resolver = field(default=system_resolver, compare=False)

    @classmethod
    def of(cls, environment: str, allow_list: Iterable[str] = (), resolver: Resolver | None = None) -> Self:
        networks: list[IPNetwork] = []
        hosts: set[str] = set()
        for entry in allow_list:
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(_normal_host(entry))
        return cls(
            require_https=environment == "production",
            allowed_networks=tuple(networks),
            allowed_hosts=frozenset(hosts),
            resolver=resolver or system_resolver,
        )

    def refusal(self, host: str, address: IPAddress) -> str | None:
        """Why `host` at `address` may not be called (None: it may)."""
        reason = address_class(address)
        if reason is None or _is_metadata(address):
            return reason
        if host in self.allowed_hosts or any(
            address.version == n.version and address in n for n in self.allowed_networks
        ):
            return None
        return reason

    def check_static(self, url: str, what: str = "URL") -> tuple[str, int]:
        """Scheme, host, credentials and literal addresses; no DNS. Returns the host and port."""
        if any(ch.isspace() or not ch.isprintable() for ch in url):
            raise UnsafeURL(f"{what} must not contain spaces or control characters")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as error:
            raise UnsafeURL(f"{what} is not a valid URL: {error}") from error
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise UnsafeURL(f"{what} must be an http(s) URL")
        if self.require_https and scheme != "https":
            raise UnsafeURL(f"{what} must use https in production")
        if parts.username is not None or parts.password is not None:
            raise UnsafeURL(f"{what} must not carry credentials")
        host = _normal_host(parts.hostname or "")
        if not host:
            raise UnsafeURL(f"{what} has no host")
        if host in METADATA_HOSTS:
            raise UnsafeURL(f"{what} refused: {host} is a cloud metadata host")
        try:
            literal: IPAddress | None = _address(host)
        except ValueError:
            literal = None
        if literal is not None:
            reason = self.refusal(host, literal)
            if reason:
                raise UnsafeURL(f"{what} refused: {literal} is {reason}")
        return host, port or (443 if scheme == "https" else 80)

    async def addresses(self, host: str, port: int, what: str = "URL") -> list[str]:
        """Every address of `host`, each checked; one refused address refuses the host."""
        host = _normal_host(host)
        if host in METADATA_HOSTS:
            raise UnsafeURL(f"{what} refused: {host} is a cloud metadata host")
        try:
            resolved = [_address(host)]
        except ValueError:
            try:
                names = await self.resolver(host, port)
            except (OSError, UnicodeError) as error:  # UnicodeError: a label IDNA cannot encode (> 63)
                raise UnsafeURL(f"{what} refused: {host} does not resolve ({error})") from error
            resolved = [_address(a) for a in names]
        if not resolved:
            raise UnsafeURL(f"{what} refused: {host} has no address")
        for address in resolved:
            reason = self.refusal(host, address)
            if reason:
                shown = host if str(address) == host else f"{host} resolves to {address}, which"
                raise UnsafeURL(f"{what} refused: {shown} is {reason}")
        return [str(a) for a in resolved]

    async def check(self, url: str, what: str = "URL") -> None:
        """The configuration-time check: raises UnsafeURL (422) naming the reason."""
        host, port = self.check_static(url, what)
        await self.addresses(host, port, what)

    def transport(self) -> httpx.AsyncBaseTransport:
        """An httpx transport that connects only to addresses this policy allows (and never through a
        proxy from the environment: the guard must see the address it connects to)."""
        return GuardedTransport(self)


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, policy: OutboundPolicy) -> None:
        self._policy = policy
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: typing.Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await asyncio.wait_for(
                self._policy.addresses(host, port, "outgoing connection"), timeout
            )
        except TimeoutError as error:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from error
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: typing.Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise UnsafeURL("outgoing calls over unix sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


@functools.cache
def _verified_tls() -> ssl.SSLContext:
    """One verifying TLS context for every guarded transport (loading the CA bundle is the slow part)."""
    return httpx.create_ssl_context(trust_env=False)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport over a connection pool whose network backend is the guard. (Its __init__ is
    not called: it would build a second pool and TLS context only to drop them.)"""

    def __init__(self, policy: OutboundPolicy) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=_verified_tls(),
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=_GuardedBackend(policy),
        )
