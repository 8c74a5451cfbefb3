"""Runs the whole platform as real processes for end-to-end tests: eight services on free loopback ports,
each with its own fresh database, one Kafka namespace per run, and a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import Message
from email.policy import default
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pyotp
import uvicorn
from aiosmtpd.controller import Controller
from faka_common.service_auth import token_digest
from faka_common.testing import drop_database
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

FAKA_ADMIN = Path(sys.executable).parent / "faka-admin"
ADMIN_PASSWORD = "a long and lovely password"

SERVICES = ("gateway", "order", "inventory", "delivery", "risk", "commission", "notification", "merchant")
#: Who calls whose internal routes: each service is given the digests of exactly these callers' tokens.
CALLERS = {
    "order": ("gateway", "notification"),
    "inventory": ("gateway", "order", "notification"),
    "delivery": ("gateway", "notification"),
    "notification": ("gateway",),
    "merchant": ("gateway", "notification"),
    "risk": ("gateway",),
}


def free_ports(count: int) -> list[int]:
    """`count` distinct free loopback ports: every socket is held until all are bound, so two services of
    one platform can never be handed the same port (one would then answer the other's readiness probe)."""
    with ExitStack() as held:
        sockets = [held.enter_context(socket.socket()) for _ in range(count)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]


def free_port() -> int:
    return free_ports(1)[0]


class Mailbox:
    """An aiosmtpd handler that keeps every message it receives, read as a mail client reads it (headers
    decoded and unfolded: a long subject may be folded on the wire wherever the sender's library folds)."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content, policy=default)))  # type: ignore[attr-defined]
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[Message]:
        return [m for rcpts, m in self.messages if address in rcpts]


def body_text(message: Message) -> str:
    parts = message.walk() if message.is_multipart() else [message]
    texts = []
    for part in parts:
        if part.get_content_maintype() == "text":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                texts.append(payload.decode(part.get_content_charset() or "utf-8"))
    return "\n".join(texts)


@dataclass
class Platform:
    server_database_url: str
    kafka_bootstrap: str
    redis_url: str
    run_id: str = field(default_factory=lambda: secrets.token_hex(4))
    ports: dict[str, int] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    #: Each service's own SERVICE_TOKEN.
    tokens: dict[str, str] = field(default_factory=dict)
    processes: dict[str, asyncio.subprocess.Process] = field(default_factory=dict)
    mailbox: Mailbox = field(default_factory=Mailbox)
    logs: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="faka-e2e-")))
    #: Extra settings for every service (e.g. a short payment window), over the defaults below.
    overrides: dict[str, str] = field(default_factory=dict)
    #: The platform admin every test's `admin()` acts as (signed in once the platform is up).
    operator: ConsolePerson | None = None

    def __post_init__(self) -> None:
        self.secrets = {
            "SANDBOX_SECRET": secrets.token_urlsafe(24),
            "ORDER_TOKEN_SECRET": secrets.token_urlsafe(24),
            "KEY_ENCRYPTION_KEYS": "e2e:" + base64.b64encode(os.urandom(32)).decode(),
            "KEY_FINGERPRINT_SECRET": secrets.token_urlsafe(24),
        }
        self.tokens = {service: secrets.token_urlsafe(24) for service in SERVICES}
        *service_ports, smtp_port = free_ports(len(SERVICES) + 1)
        self.ports = self.ports or dict(zip(SERVICES, service_ports, strict=True))
        self.smtp = Controller(self.mailbox, hostname="127.0.0.1", port=smtp_port)

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    @property
    def gateway(self) -> str:
        return self.url("gateway")

    def database(self, service: str) -> str:
        base = self.server_database_url.rsplit("/", 1)[0]
        return f"{base}/e2e_{self.run_id}_{service}"

    def env(self, service: str) -> dict[str, str]:
        return {
            **os.environ,
            **self.secrets,
            "SERVICE_TOKEN": self.tokens[service],
            "INTERNAL_CALLERS": json.dumps(
                {caller: token_digest(self.tokens[caller]) for caller in CALLERS.get(service, ())}
            ),
            "ENVIRONMENT": "test",
            "OUTBOUND_ALLOW_LIST": "127.0.0.1",  # fake suppliers and webhook receivers run on loopback
            "DATABASE_URL": self.database(service),
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap,
            "KAFKA_NAMESPACE": f"e2e{self.run_id}.",
            "REDIS_URL": self.redis_url,
            "ORDER_URL": self.url("order"),
            "INVENTORY_URL": self.url("inventory"),
            "DELIVERY_URL": self.url("delivery"),
            "NOTIFICATION_URL": self.url("notification"),
            "MERCHANT_URL": self.url("merchant"),
            "RISK_URL": self.url("risk"),
            "PUBLIC_BASE_URL": self.gateway,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(self.smtp.port),
            "EXPIRY_SWEEP_SECONDS": "1",
            "LOG_LEVEL": "INFO",
            # the floor merchant accepts (OWASP's minimum): hashing at the production cost took over the
            # 5 s internal timeout of a sign-in on a box loaded by other test runs
            "ARGON2_MEMORY_KIB": str(19 * 1024),
            "ARGON2_TIME_COST": "2",
            "ARGON2_PARALLELISM": "1",
            **self.overrides,
        }

    async def start(self) -> None:
        self.smtp.start()
        for service in SERVICES:
            await self.start_service(service)
        await asyncio.gather(*(self.wait_ready(s) for s in SERVICES))
        self.operator = await ConsolePerson.sign_up(self, f"operator-{self.run_id}@example.com")

    async def start_service(self, service: str) -> None:
        log = (self.logs / f"{service}.log").open("ab")
        self.processes[service] = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "uvicorn", f"{service}.entrypoints.app:app",
            "--host", "127.0.0.1", "--port", str(self.ports[service]), "--no-access-log",
            env=self.env(service), stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    async def wait_ready(self, service: str, timeout: float = 180) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with httpx.AsyncClient() as client:
            while True:
                process = self.processes[service]
                if process.returncode is not None:
                    raise RuntimeError(
                        f"{service} exited with {process.returncode}:\n{self.log_tail(service)}"
                    )
                try:
                    if (await client.get(f"{self.url(service)}/health/ready", timeout=2)).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if loop.time() > deadline:
                    raise RuntimeError(f"{service} not ready after {timeout}s:\n{self.log_tail(service)}")
                await asyncio.sleep(0.2)

    async def kill(self, service: str) -> None:
        """kill -9: no shutdown hooks, no offset commits, nothing flushed."""
        process = self.processes[service]
        process.send_signal(signal.SIGKILL)
        await process.wait()

    async def restart(self, service: str) -> None:
        await self.start_service(service)
        await self.wait_ready(service)

    def log_tail(self, service: str, lines: int = 60) -> str:
        path = self.logs / f"{service}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    async def stop(self) -> None:
        for process in self.processes.values():
            if process.returncode is None:
                process.terminate()
        for process in self.processes.values():
            try:
                await asyncio.wait_for(process.wait(), 15)
            except TimeoutError:
                process.kill()
                await process.wait()
        self.smtp.stop()

    def admin(self) -> httpx.AsyncClient:
        """A client acting as the platform's admin through the console session (any shop: X-Shop-Id)."""
        assert self.operator is not None, "the platform is not started"
        return self.operator.client()

    def storefront(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.gateway, timeout=15)


async def faka_admin(platform: Platform, *args: str) -> list[str]:
    """`faka-admin` run on merchant's settings (as an operator runs it in the merchant pod): its lines."""
    cli = await asyncio.create_subprocess_exec(
        str(FAKA_ADMIN), *args,
        env=platform.env("merchant"), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(cli.communicate(), timeout=120)
    assert cli.returncode == 0, err.decode()
    return out.decode().strip().splitlines()


async def setup_link_token(platform: Platform, email: str) -> str:
    """What a first admin is given: the one-time link `faka-admin create-platform-admin` prints; its token."""
    link = (await faka_admin(platform, "create-platform-admin", "--email", email))[-1]
    assert urlsplit(link).path == "/console/setup", link
    return parse_qs(urlsplit(link).query)["token"][0]


@dataclass
class ConsolePerson:
    """A person signed in to the console over the gateway: the setup link redeemed, TOTP set up with the
    codes an app would show; its cookies and CSRF token go with every request of `client()`."""

    gateway: str
    email: str
    totp: pyotp.TOTP
    cookies: httpx.Cookies
    last_step: int

    @classmethod
    async def sign_up(cls, platform: Platform, email: str) -> ConsolePerson:
        """The platform's first admin, made by `faka-admin create-platform-admin`."""
        return await cls.set_up(platform.gateway, email, await setup_link_token(platform, email))

    @classmethod
    async def set_up(cls, gateway: str, email: str, token: str) -> ConsolePerson:
        """A person whose account_setup link holds `token`: the password set, signed in, TOTP set up."""
        async with httpx.AsyncClient(base_url=gateway, timeout=30) as console:
            redeemed = await console.post(
                "/api/console/links/redeem",
                json={"token": token, "purpose": "account_setup", "new_password": ADMIN_PASSWORD},
            )
            assert redeemed.status_code == 200, redeemed.text
            signed_in = await console.post(
                "/api/console/sign-in", json={"email": email, "password": ADMIN_PASSWORD}
            )
            assert signed_in.status_code == 200, signed_in.text
            csrf = {"X-CSRF-Token": console.cookies["faka_csrf"]}
            enrolment = await console.post("/api/console/totp", headers=csrf)
            assert enrolment.status_code == 201, enrolment.text
            totp = pyotp.TOTP(enrolment.json()["secret"])
            step = totp.timecode(datetime.now(UTC))
            confirmed = await console.post(
                "/api/console/totp/confirm", json={"code": totp.at(step * 30)}, headers=csrf
            )
            assert confirmed.status_code == 200, confirmed.text
            return cls(gateway, email, totp, httpx.Cookies(console.cookies), step)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.gateway,
            cookies=self.cookies,
            headers={"X-CSRF-Token": self.cookies["faka_csrf"]},
            timeout=15,
        )

    async def step_up(self) -> None:
        """Prove the second factor again (key export wants it within 5 minutes): the next unused step's
        code, waiting for it when it is not yet within the accepted window."""
        step = max(self.last_step + 1, self.totp.timecode(datetime.now(UTC)))
        while step > self.totp.timecode(datetime.now(UTC)) + 1:
            await asyncio.sleep(1)
        async with self.client() as console:
            code = {"code": self.totp.at(step * self.totp.interval)}
            stepped = await console.post("/api/console/step-up", json=code)
            assert stepped.status_code == 200, stepped.text
        self.last_step = step


@asynccontextmanager
async def running_platform(infrastructure: dict[str, str], **overrides: str) -> AsyncIterator[Platform]:
    """All eight services up on the shared infrastructure; their databases dropped afterwards."""
    running = Platform(
        infrastructure["DATABASE_URL"],
        infrastructure["KAFKA_BOOTSTRAP_SERVERS"],
        infrastructure["REDIS_URL"],
        overrides=overrides,
    )
    try:
        await running.start()
        yield running
    finally:
        await running.stop()
        for service in SERVICES:
            await drop_database(infrastructure["DATABASE_URL"], running.database(service).rsplit("/", 1)[1])


class FakeSupplier:
    """A recharge supplier speaking the generic HTTP-JSON protocol on 127.0.0.1 (POST /orders, POST
    /orders/query, HMAC-SHA256 over `timestamp.body`); it records every submit and always tops up."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.submits: list[dict[str, object]] = []
        self.bad_signatures = 0
        self.port = free_port()
        self.app = FastAPI()
        self._server: object | None = None
        self._task: asyncio.Task[None] | None = None

        def verified(request: Request, body: bytes) -> bool:
            timestamp = request.headers.get("X-Timestamp", "")
            expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
            ok = hmac.compare_digest(expected, request.headers.get("X-Signature", ""))
            self.bad_signatures += 0 if ok else 1
            return ok

        @self.app.post("/orders")
        async def submit(request: Request) -> JSONResponse:
            body = await request.body()
            if not verified(request, body):
                return JSONResponse({"error": "bad_signature"}, status_code=401)
            order = json.loads(body)
            self.submits.append(order)
            return JSONResponse(
                {
                    "status": "success",
                    "supplier_order_no": f"SUP-{order['order_id']}",
                    "content": f"topped up {order['account']} with {order['amount']}",
                }
            )

        @self.app.post("/orders/query")
        async def query(request: Request) -> JSONResponse:
            body = await request.body()
            if not verified(request, body):
                return JSONResponse({"error": "bad_signature"}, status_code=401)
            order_id = json.loads(body)["order_id"]
            if not any(s["order_id"] == order_id for s in self.submits):
                return JSONResponse({"error": "not_found"}, status_code=404)
            return JSONResponse({"status": "success", "supplier_order_no": f"SUP-{order_id}"})

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def submits_for(self, order_id: str) -> list[dict[str, object]]:
        return [s for s in self.submits if s.get("order_id") == order_id]

    async def start(self) -> None:
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        server = uvicorn.Server(config)
        self._server = server
        self._task = asyncio.create_task(server.serve())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while not server.started:
            if loop.time() > deadline:
                raise RuntimeError("fake supplier did not start")
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        if isinstance(self._server, uvicorn.Server) and self._task is not None:
            self._server.should_exit = True
            await self._task
