"""The notification's metrics: notices sent or failed, by channel (email, aliyun_sms, twilio_sms, telegram,
in_site, webhook) and outcome."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import Counter

from notification.domain.channels import ChannelUnavailable, PermanentChannelError

NOTIFICATIONS = Counter(
    "faka_notifications_total",
    "Sends through a channel by outcome: sent, failed (transient, retried later), refused (permanent), "
    "unavailable (its circuit breaker was open)",
    ["channel", "outcome"],
)


@contextmanager
def counting_send(channel: str) -> Iterator[None]:
    """Count one send through `channel` by how it ended; the error goes on unchanged."""
    outcome = "failed"
    try:
        yield
        outcome = "sent"
    except ChannelUnavailable:
        outcome = "unavailable"
        raise
    except PermanentChannelError:
        outcome = "refused"
        raise
    finally:
        NOTIFICATIONS.labels(channel, outcome).inc()
