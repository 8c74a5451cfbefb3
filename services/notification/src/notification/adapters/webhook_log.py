"""The webhook delivery log: each attempt at a shop's webhook, committed on its own."""

from __future__ import annotations

from faka_common.db.uow import SessionFactory
from sqlalchemy.dialects.postgresql import insert

from notification.adapters.channels.webhook import WebhookAttempt
from notification.adapters.tables import webhook_deliveries


class SqlWebhookLog:
    """Each webhook attempt, committed on its own (`sessions`: a `reader_factory`'s, one statement without
    BEGIN and COMMIT): the log keeps what was tried even when the notice's transaction rolls back."""

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    async def record(self, attempt: WebhookAttempt) -> None:
        async with self._sessions() as session:
            await session.execute(
                insert(webhook_deliveries).values(
                    shop_id=attempt.shop_id,
                    event_id=attempt.event_id,
                    order_id=attempt.order_id,
                    template=attempt.template,
                    url=attempt.url,
                    attempt=attempt.attempt,
                    status_code=attempt.status_code,
                    outcome=attempt.outcome,
                    error=attempt.error[:2000] if attempt.error else None,
                    latency_ms=attempt.latency_ms,
                )
            )
            await session.commit()  # nothing to send for an autocommit session's statement
