"""The outgoing-URL guard: every class of internal address, names resolving to them, DNS that changes
between the check and the request, redirects, and the allow-list for lab set-ups."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from faka_common.outbound import OutboundAllowList, OutboundPolicy, UnsafeURL
from pydantic import BaseModel, ValidationError

LAB = OutboundPolicy.of("test")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/", "loopback"),
        ("http://127.8.9.10:8080/", "loopback"),
        ("http://[::1]/", "loopback"),
        ("http://10.0.0.1/", "private"),
        ("http://172.16.5.4/", "private"),
        ("http://192.168.1.1/", "private"),
        ("http://[fc00::1]/", "private"),
        ("http://169.254.1.1/", "link-local"),
        ("http://[fe80::1]/", "link-local"),
        ("http://100.64.0.1/", "carrier-grade NAT"),
        ("http://224.0.0.1/", "multicast"),
        ("http://[ff02::1]/", "multicast"),
        ("http://0.0.0.0/", "unspecified"),
        ("http://[::]/", "unspecified"),
        ("http://240.0.0.1/", "reserved"),
        ("http://255.255.255.255/", "reserved"),
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://[fd00:ec2::254]/", "metadata"),
        ("http://100.100.100.200/", "metadata"),
        ("http://metadata.google.internal/computeMetadata/v1/", "metadata"),
        ("http://METADATA.google.internal./", "metadata"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),
        ("http://[::ffff:10.0.0.1]/", "private"),
        ("http://[::ffff:169.254.169.254]/", "metadata"),
        ("http://[2002:a9fe:a9fe::]/", "metadata"),
        ("http://[64:ff9b::a00:1]/", "private"),
    ],
)
async def test_internal_and_metadata_addresses_are_refused_naming_the_reason(url: str, reason: str) -> None:
    with pytest.raises(UnsafeURL, match=reason) as refused:
        await LAB.check(url, "base_url")
    assert refused.value.status_code == 422
    assert "base_url" in refused.value.message


@pytest.mark.parametrize(
    "url", ["http://2130706433/", "http://0x7f000001/", "http://127.1/", "http://localhost/"]
)
async def test_other_spellings_of_loopback_are_refused_once_resolved(url: str) -> None:
    with pytest.raises(UnsafeURL, match="loopback"):
        await LAB.check(url)


async def test_a_public_address_passes() -> None:
    await LAB.check("http://93.184.216.34/orders")
    await LAB.check("https://[2606:4700:4700::1111]:8443/")


def resolving(table: dict[str, list[str]]) -> OutboundPolicy:
    async def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError("no such host")
        return table[host]

    return OutboundPolicy.of("test", resolver=resolve)


async def test_a_name_resolving_to_an_internal_address_is_refused() -> None:
    policy = resolving({"evil.example": ["10.0.0.5"], "mixed.example": ["93.184.216.34", "127.0.0.1"]})
    with pytest.raises(UnsafeURL, match=r"evil\.example resolves to 10\.0\.0\.5, which is a private address"):
        await policy.check("https://evil.example/x")
    with pytest.raises(UnsafeURL, match=r"127\.0\.0\.1, which is a loopback"):
        await policy.check("https://mixed.example/x")


async def test_a_name_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(UnsafeURL, match="does not resolve"):
        await resolving({}).check("https://nowhere.example/")


async def test_a_host_the_system_resolver_cannot_even_encode_is_refused_not_a_crash() -> None:
    # a label over 63 characters: getaddrinfo raises UnicodeError (IDNA), not OSError
    with pytest.raises(UnsafeURL, match="does not resolve"):
        await OutboundPolicy.of("test").check(f"https://{'0' * 300}/")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://93.184.216.34/", "http"),
        ("file:///etc/passwd", "http"),
        ("gopher://93.184.216.34/", "http"),
        ("http://user:pw@93.184.216.34/", "credentials"),
        ("http:///path", "no host"),
        ("http://93.184.216.34:99999/", "not a valid URL"),
        ("http://93.184.216.34/\x00", "control characters"),
        ("http://93.184.216.34/a b", "spaces"),
        ("http://93.184.216.34\u202e/", "control characters"),
    ],
)
async def test_urls_of_other_shapes_are_refused(url: str, reason: str) -> None:
    with pytest.raises(UnsafeURL, match=reason):
        await LAB.check(url)


async def test_production_requires_https() -> None:
    production = OutboundPolicy.of("production")
    with pytest.raises(UnsafeURL, match="https"):
        await production.check("http://93.184.216.34/")
    await production.check("https://93.184.216.34/")


async def test_the_allow_list_opens_named_networks_and_hosts_but_never_metadata() -> None:
    async def resolve(host: str, port: int) -> list[str]:
        return {"supplier.lab": ["10.1.2.3"], "other.lab": ["10.9.9.9"]}[host]

    allow = ["127.0.0.1", "192.168.0.0/16", "supplier.lab", "169.254.0.0/16"]
    policy = OutboundPolicy.of("test", allow, resolve)
    await policy.check("http://127.0.0.1:8080/")
    await policy.check("http://192.168.7.7/")
    await policy.check("http://supplier.lab/")
    with pytest.raises(UnsafeURL, match="private"):
        await policy.check("http://other.lab/")
    with pytest.raises(UnsafeURL, match="loopback"):
        await policy.check("http://127.0.0.2/")
    with pytest.raises(UnsafeURL, match="metadata"):
        await policy.check("http://169.254.169.254/")
    await policy.check("http://169.254.1.1/")
    mapped = OutboundPolicy.of("test", ["::ffff:0:0/96", "2002::/16"])
    for url in ("http://[::ffff:169.254.169.254]/", "http://[2002:a9fe:a9fe::]/"):
        with pytest.raises(UnsafeURL, match="metadata"):
            await mapped.check(url)


class _AllowListSettings(BaseModel):
    allow: OutboundAllowList = ()


def test_the_allow_list_setting_takes_a_comma_separated_list_and_refuses_nonsense() -> None:
    parsed = _AllowListSettings.model_validate({"allow": " 127.0.0.1, 10.0.0.0/8,supplier.lab ,"})
    assert parsed.allow == ("127.0.0.1", "10.0.0.0/8", "supplier.lab")
    assert _AllowListSettings.model_validate({"allow": '["::1"]'}).allow == ("::1",)
    with pytest.raises(ValidationError, match="neither a network"):
        _AllowListSettings.model_validate({"allow": "10.0.0.0/8, not a host!"})


@dataclass
class Receiver:
    """A bare HTTP/1.1 server on 127.0.0.1 that records the Host header and answers by path:
    /redirect sends to the metadata address, anything else says ok."""

    port: int = 0
    hosts: list[str] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        path = head.split(" ", 2)[1]
        self.hosts.extend(
            line.split(":", 1)[1].strip() for line in head.split("\r\n") if line.lower().startswith("host:")
        )
        if path == "/redirect":
            status, extra, body = "302 Found", "Location: http://169.254.169.254/latest/\r\n", b""
        else:
            status, extra, body = "200 OK", "Content-Type: text/plain\r\n", b"ok"
        writer.write(
            f"HTTP/1.1 {status}\r\n{extra}Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        writer.close()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    server = await asyncio.start_server(found.handle, "127.0.0.1", 0)
    found.port = server.sockets[0].getsockname()[1]
    async with server:
        yield found


def client(policy: OutboundPolicy, follow_redirects: bool = False) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=policy.transport(), follow_redirects=follow_redirects, timeout=5)


async def test_the_transport_refuses_to_connect_to_an_address_the_policy_refuses(receiver: Receiver) -> None:
    async with client(LAB) as refusing:
        with pytest.raises(UnsafeURL, match="loopback"):
            await refusing.get(f"http://127.0.0.1:{receiver.port}/")
    async with client(OutboundPolicy.of("test", ["127.0.0.1"])) as allowed:
        assert (await allowed.get(f"http://127.0.0.1:{receiver.port}/")).text == "ok"
    assert len(receiver.hosts) == 1


async def test_dns_that_changes_after_the_check_cannot_reach_an_internal_address(receiver: Receiver) -> None:
    answers: Iterator[list[str]] = iter([["93.184.216.34"], ["127.0.0.1"], ["127.0.0.1"]])

    async def rebinding(host: str, port: int) -> list[str]:
        return next(answers)

    policy = OutboundPolicy.of("test", resolver=rebinding)
    url = f"http://rebind.example:{receiver.port}/"
    await policy.check(url)
    async with client(policy) as checked:
        with pytest.raises(UnsafeURL, match=r"rebind\.example resolves to 127\.0\.0\.1"):
            await checked.get(url)
    assert receiver.hosts == []


async def test_the_transport_connects_to_the_address_it_checked_and_keeps_the_host_name(
    receiver: Receiver,
) -> None:
    async def resolve(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    policy = OutboundPolicy.of("test", ["supplier.lab"], resolve)
    async with client(policy) as lab:
        assert (await lab.get(f"http://supplier.lab:{receiver.port}/")).text == "ok"
    assert receiver.hosts == [f"supplier.lab:{receiver.port}"]


async def test_redirects_to_internal_addresses_are_not_followed(receiver: Receiver) -> None:
    policy = OutboundPolicy.of("test", ["127.0.0.1"])
    async with client(policy) as plain:
        answer = await plain.get(f"http://127.0.0.1:{receiver.port}/redirect")
    assert answer.status_code == 302
    async with client(policy, follow_redirects=True) as following:
        with pytest.raises(UnsafeURL, match="metadata"):
            await following.get(f"http://127.0.0.1:{receiver.port}/redirect")
