"""The unit of work: a service's state changes and its outgoing messages commit in one transaction."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from opentelemetry import propagate
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from faka_common.contracts.envelope import Envelope, Message
from faka_common.db.tables import inbox, outbox

SessionFactory = async_sessionmaker[AsyncSession]


def outbox_channel(producer: str) -> str:
    """The NOTIFY channel that wakes a service's outbox relay."""
    return f"outbox_{producer}"


class UnitOfWork:
    """Open with `async with`; stage messages with `publish`; nothing is kept unless `commit` is called."""

    def __init__(self, sessions: SessionFactory, producer: str) -> None:
        self._sessions = sessions
        self.producer = producer
        self._staged: list[tuple[Message, Envelope, dict[str, str]]] = []
        self._session: AsyncSession | None = None

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("unit of work used outside `async with`")
        return self._session

    async def __aenter__(self) -> Self:
        self._session = self._sessions()
        self._staged = []
        self.bind(self._session)
        return self

    def bind(self, session: AsyncSession) -> None:
        """Attach repositories to the session; services override this."""

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            await self.rollback()
        finally:
            await self.session.close()
            self._session = None

    def publish(self, message: Message) -> Envelope:
        """Stage a message for the outbox; the current trace context rides along as Kafka headers."""
        envelope = Envelope.wrap(message, self.producer)
        headers: dict[str, str] = {}
        propagate.inject(headers)
        self._staged.append((message, envelope, headers))
        return envelope

    async def claim_inbox(self, consumer: str, envelope: Envelope) -> bool:
        """Record that `consumer` handles this message; False when it already has (a duplicate)."""
        inserted = await self.session.execute(
            insert(inbox)
            .values(consumer=consumer, event_id=envelope.event_id, type=envelope.type)
            .on_conflict_do_nothing()
            .returning(inbox.c.event_id)
        )
        return inserted.first() is not None

    async def commit(self) -> None:
        if self._staged:
            await self.session.execute(
                insert(outbox),
                [
                    {
                        "event_id": envelope.event_id,
                        "topic": message.topic,
                        "key": message.key,
                        "type": envelope.type,
                        "value": envelope.to_bytes(),
                        "headers": headers,
                    }
                    for message, envelope, headers in self._staged
                ],
            )
            await self.session.execute(select(func.pg_notify(outbox_channel(self.producer), "")))
        await self.session.commit()
        self._staged = []

    async def add_raw(
        self, topic: str, key: str, event_id: object, type_: str, value: bytes, headers: dict[str, str]
    ) -> None:
        """Stage an already-serialized message (dead letters keep the original bytes)."""
        await self.session.execute(
            insert(outbox).values(
                event_id=event_id, topic=topic, key=key, type=type_, value=value, headers=headers
            )
        )
        await self.session.execute(select(func.pg_notify(outbox_channel(self.producer), "")))

    async def rollback(self) -> None:
        self._staged = []
        await self.session.rollback()
