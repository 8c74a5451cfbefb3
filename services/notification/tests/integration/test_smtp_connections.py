"""The SMTP mailer keeps its connections open between emails, and replaces one the server has closed."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from notification.adapters.mailer import SmtpMailer
from notification.domain.model import RenderedEmail

pytestmark = pytest.mark.integration


class Peers:
    """Which client connection (its address) carried each email."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.seen.append(tuple(session.peer))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


EMAIL = RenderedEmail(subject="Your order", text="key: K-1\n", html="<p>key: K-1</p>\n")


async def test_emails_share_one_connection_and_a_connection_the_server_closed_is_replaced() -> None:
    peers, port = Peers(), _free_port()
    server = Controller(peers, hostname="127.0.0.1", port=port)
    server.start()
    mailer = SmtpMailer("127.0.0.1", port, "shop@faka.local", connections=2)
    try:
        for i in range(5):
            await mailer.send("buyer@example.com", EMAIL, f"<m{i}@faka.local>")
        assert len(peers.seen) == 5 and len(set(peers.seen)) == 1

        server.stop()  # drops the idle connection, as a server's idle timeout would
        server = Controller(peers, hostname="127.0.0.1", port=port)
        server.start()
        await mailer.send("buyer@example.com", EMAIL, "<after@faka.local>")
        assert len(peers.seen) == 6  # sent once, on a new connection
        assert peers.seen[-1] != peers.seen[0]
    finally:
        await mailer.aclose()
        server.stop()
