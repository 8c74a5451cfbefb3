"""Kill -9 between a consumer's database commit and its Kafka commit, then start it again."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from faka_common.testing import eventually


async def crash_after_commit_then_restart(
    script: Path, database_url: str, kafka_bootstrap: str, group: str, topic: str
) -> None:
    """Run the consumer `script` (of group `group`, on `topic`) with CRASH_AFTER_COMMIT=1: it prints
    "ready", handles the waiting record, prints "handled" and dies (exit 9) before its offset is committed.
    Run it again: the record comes again and is a "duplicate" (AssertionError otherwise)."""
    env = {
        **os.environ,
        "TEST_DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "GROUP_ID": group,
        "FAKA_TEST_TOPIC": topic,
    }
    first = await asyncio.create_subprocess_exec(
        sys.executable, str(script), env={**env, "CRASH_AFTER_COMMIT": "1"}, stdout=subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(first.communicate(), 90)
    assert first.returncode == 9
    assert out.split() == [b"ready", b"handled"]

    second = await asyncio.create_subprocess_exec(
        sys.executable, str(script), env=env, stdout=subprocess.PIPE
    )
    assert second.stdout is not None
    try:

        async def redelivered_and_skipped() -> bool:
            line = await asyncio.wait_for(second.stdout.readline(), 60)  # type: ignore[union-attr]
            return line.strip() == b"duplicate"

        await eventually(redelivered_and_skipped, timeout=90)
    finally:
        second.kill()
        await second.wait()
