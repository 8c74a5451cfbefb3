"""Sends through a guarded channel are counted by channel and how they ended: sent, failed (transient, after
its retries), refused (permanent) and unavailable (breaker open)."""

from __future__ import annotations

import pytest
from notification.adapters.channels.resilience import GuardedChannel, breakers
from notification.domain.channels import ChannelError, PermanentChannelError, TransientChannelError
from prometheus_client import REGISTRY

from .test_channels import Flaky, _message

OUTCOMES = ["sent", "failed", "refused", "unavailable"]


def readings() -> list[float]:
    return [
        REGISTRY.get_sample_value("faka_notifications_total", {"channel": "email", "outcome": outcome}) or 0.0
        for outcome in OUTCOMES
    ]


async def test_each_send_is_counted_once_by_its_outcome_however_often_it_was_retried() -> None:
    channel = Flaky()
    guarded = GuardedChannel(channel, breakers(threshold=2, reset_seconds=30), attempts=3, backoff=0)
    before = readings()
    channel.error = PermanentChannelError("invalid address")
    with pytest.raises(PermanentChannelError):
        await guarded.send(_message())
    channel.error = None
    await guarded.send(_message())
    channel.error = TransientChannelError("smtp down")
    for _ in range(3):  # two failures open the breaker; the third is not even tried
        with pytest.raises(ChannelError):
            await guarded.send(_message())
    assert [a - b for a, b in zip(readings(), before, strict=True)] == [1, 2, 1, 1]
