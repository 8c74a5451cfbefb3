"""The chaos run, short: `python -m bench.chaos` for two minutes at a low rate with one fault of each kind
(a service process killed with -9, the Kafka broker and Postgres killed with -9 and started again, Redis
paused), on an installation of its own (.state/chaos, other ports: the servers the other tests use are
never touched), and every assertion of the full run: no lost paid order, no key sold twice, no payment
booked twice, every order terminal within a minute of the last fault, no dead letter, no 500 to a buyer.
The harness stops its processes and its servers at the end, passed or not."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
STATE = Path(os.environ.get("FAKA_STATE_DIR", ROOT / ".state")) / "chaos"


def listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_two_minutes_of_faults_under_load_lose_no_paid_order_and_leave_every_order_terminal() -> None:
    # one kill at 60 s; Kafka at 30 s, Postgres at 60 s, Redis paused at 84 s for 15 s (bench.chaos.schedule)
    run = subprocess.run(
        [
            sys.executable, "-m", "bench.chaos", "--rate", "1", "--minutes", "2", "--kill-every", "60",
            "--redis-pause", "15", "--seed", "15", "--state", str(STATE),
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    output = run.stdout + run.stderr
    written = re.search(r"JSON: (\S+)", output)
    assert written, output[-4000:]
    results = json.loads(Path(written.group(1)).read_text())
    kinds = {fault["kind"].split()[0] for fault in results["faults"]}
    assert kinds == {"kill", "kafka", "postgres", "redis"}, results["faults"]
    failed = [name for name, ok in results["verdicts"].items() if not ok]
    assert not failed, f"{failed}\n{output[-4000:]}"
    assert run.returncode == 0, output[-4000:]
    assert results["ledger"]["paid_orders"] > 0  # the faults met real sales
    # nothing of the run is left behind: its services and its servers are stopped
    ports = [*results["processes"].values(), *results["installation"]["ports"].values()]
    assert not [port for port in ports if listening(port)]
