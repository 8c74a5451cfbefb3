"""A shop's buyer e-mails through the shop's own SMTP server when it has one, else (and whenever that server
fails) through the platform's, From the shop's sender either way. A shop's server is reached only at an
address the outgoing-URL guard allows, checked on every connection (DNS may have changed since it was set)."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import OrderedDict
from collections.abc import Mapping
from functools import partial

from faka_common.outbound import OutboundPolicy

from notification.adapters.mailer import Mailer, SmtpMailer
from notification.domain.channels import ChannelError
from notification.domain.model import RenderedEmail
from notification.domain.shop_channels import MailSender, ShopSmtp

log = logging.getLogger(__name__)


async def guarded_socket(
    policy: OutboundPolicy,
    host: str,
    port: int,
    timeout: float,  # noqa: ASYNC109 (each address gets its own)
) -> socket.socket:
    """A socket connected to an address of `host` that `policy` allows (every address it resolves to is
    checked, and the connection goes to a checked one: a later DNS answer cannot move it)."""
    loop = asyncio.get_running_loop()
    failure: OSError = OSError(f"{host}:{port} has no address to connect to")
    for address in await policy.addresses(host, port, "SMTP host"):
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            await asyncio.wait_for(loop.sock_connect(sock, (address, port)), timeout)
        except OSError as error:  # TimeoutError too
            sock.close()
            failure = error
            continue
        return sock
    raise failure


class ShopMailers:
    """A Mailer that sends each e-mail through its sender's own SMTP server (a few kept-open connections per
    server, for the servers used last) and falls back to the platform's mailer."""

    def __init__(
        self, platform: Mailer, policy: OutboundPolicy, timeout: float = 10, servers: int = 32
    ) -> None:
        self._platform = platform
        self._policy = policy
        self._timeout = timeout
        self._servers = servers
        self._mailers: OrderedDict[ShopSmtp, SmtpMailer] = OrderedDict()
        self._closing: set[asyncio.Task[None]] = set()

    async def send(
        self,
        recipient: str,
        email: RenderedEmail,
        message_id: str,
        sender: MailSender | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        smtp = sender.smtp if sender is not None else None
        extra = {"headers": headers} if headers else {}  # mailers that take no headers are sent none
        if smtp is not None:
            try:
                await self._mailer(smtp).send(recipient, email, message_id, sender, **extra)
                return
            except ChannelError as error:
                log.warning(
                    "the shop's SMTP server %s:%d failed (%s); sending %s through the platform's server",
                    smtp.host,
                    smtp.port,
                    error,
                    message_id,
                )
        await self._platform.send(recipient, email, message_id, sender, **extra)

    def _mailer(self, smtp: ShopSmtp) -> SmtpMailer:
        mailer = self._mailers.pop(smtp, None)
        if mailer is None:
            mailer = SmtpMailer(
                smtp.host,
                smtp.port,
                "",
                username=smtp.username,
                password=smtp.password,
                use_tls=smtp.security == "tls",
                start_tls={"starttls": True, "tls": False, "none": False}[smtp.security],
                timeout=self._timeout,
                connections=2,
                connect=partial(guarded_socket, self._policy, smtp.host, smtp.port, self._timeout),
            )
            while len(self._mailers) >= self._servers:
                _, oldest = self._mailers.popitem(last=False)
                closing = asyncio.get_running_loop().create_task(oldest.aclose())
                self._closing.add(closing)
                closing.add_done_callback(self._closing.discard)
        self._mailers[smtp] = mailer
        return mailer

    async def aclose(self) -> None:
        mailers, self._mailers = list(self._mailers.values()), OrderedDict()
        for mailer in mailers:
            await mailer.aclose()
