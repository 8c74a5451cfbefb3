"""`make up`'s mailbox (the Procfile's `mailbox` line, aiosmtpd with deploy/local/mailsink.py): every message
lands in the Maildir as it was sent, one file each, readable by the benchmark's parser."""

from __future__ import annotations

import shlex
import smtplib
import socket
import subprocess
import sys
import time
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _mailbox_command(port: int, maildir: Path) -> list[str]:
    """The Procfile's command, with this test's port and Maildir (and this interpreter)."""
    line = next(
        line
        for line in (ROOT / "deploy" / "local" / "Procfile").read_text().splitlines()
        if line.startswith("mailbox:")
    )
    argv = shlex.split(line.split(":", 1)[1])
    argv = argv[1:] if argv[0] == "exec" else argv
    assert argv[:3] == ["python", "-m", "aiosmtpd"], argv
    argv[0] = sys.executable
    argv[argv.index("-l") + 1] = f"127.0.0.1:{port}"
    argv[-1] = str(maildir)
    return argv


def test_each_message_lands_in_the_maildir_as_it_was_sent(tmp_path: Path) -> None:
    maildir = tmp_path / "mailbox"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True)
    port = _free_port()
    server = subprocess.Popen(_mailbox_command(port, maildir), cwd=ROOT)
    try:
        deadline = time.monotonic() + 20
        while True:  # until it listens
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "the mailbox did not start"
                time.sleep(0.1)
        sent = []
        for n in (1, 2):
            message = EmailMessage()
            message["From"], message["To"] = "shop@example.com", f"buyer{n}@example.com"
            message["Subject"] = f"订单 F2026120600000{n} 已发货"
            message.set_content(f"Your key: KEY-{n}\n.a line that starts with a dot\n")
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
                client.send_message(message)
            sent.append(message)
    finally:
        server.terminate()
        server.wait(10)
    files = sorted((maildir / "new").iterdir(), key=lambda entry: entry.stat().st_mtime_ns)
    assert len(files) == 2
    for message, entry in zip(sent, files, strict=True):
        kept = BytesParser(policy=policy.default).parsebytes(entry.read_bytes())
        assert (kept["To"], kept["Subject"]) == (message["To"], message["Subject"])
        assert kept.get_content() == message.get_content()  # the dot line unstuffed, nothing added
