"""The message envelope, the event base class, the type registry and upcasters."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from uuid6 import uuid7

Payload = dict[str, Any]
Upcaster = Callable[[Payload], Payload]


class ContractError(ValueError):
    """A message that does not fit any known contract."""


class Message(BaseModel):
    """Base of every command and event: frozen, ignores unknown fields, carries its routing facts."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    type_name: ClassVar[str]
    version: ClassVar[int] = 1
    topic: ClassVar[str]
    key_field: ClassVar[str] = "order_id"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "type_name" in cls.__dict__:
            registry.register(cls)

    @property
    def key(self) -> str:
        """The Kafka key: the aggregate id, so one aggregate's messages stay ordered."""
        return str(getattr(self, self.key_field))


class Envelope(BaseModel):
    """What travels on Kafka: identity, type, version, time, producer and the payload."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    event_id: UUID = Field(description="UUIDv7, unique per message; consumers deduplicate on it")
    type: str = Field(description="Message type, e.g. OrderPaid", examples=["OrderPaid"])
    version: int = Field(ge=1, description="Contract version of the payload")
    occurred_at: datetime
    producer: str = Field(description="Service that emitted the message", examples=["order"])
    payload: Payload

    @classmethod
    def wrap(cls, message: Message, producer: str) -> Envelope:
        return cls(
            event_id=uuid7(),
            type=message.type_name,
            version=message.version,
            occurred_at=datetime.now(UTC),
            producer=producer,
            payload=message.model_dump(mode="json"),
        )

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Envelope:
        return cls.model_validate_json(raw)

    def open(self) -> Message:
        """The typed message, upcast to the current version of its contract."""
        return registry.load(self.type, self.version, self.payload)


class Registry:
    """Maps a type name to its current model, and old versions to upcasters."""

    def __init__(self) -> None:
        self._types: dict[str, type[Message]] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}

    def register(self, cls: type[Message]) -> None:
        existing = self._types.get(cls.type_name)
        if existing is not None and existing is not cls:
            raise ContractError(f"message type {cls.type_name!r} is defined twice")
        self._types[cls.type_name] = cls

    def upcaster(self, type_name: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        def decorate(fn: Upcaster) -> Upcaster:
            self._upcasters[(type_name, from_version)] = fn
            return fn

        return decorate

    def known(self, type_name: str) -> type[Message] | None:
        return self._types.get(type_name)

    def load(self, type_name: str, version: int, payload: Payload) -> Message:
        cls = self._types.get(type_name)
        if cls is None:
            raise ContractError(f"unknown message type {type_name!r}")
        if version > cls.version:
            raise ContractError(f"{type_name} v{version} is newer than this consumer's v{cls.version}")
        while version < cls.version:
            step = self._upcasters.get((type_name, version))
            if step is None:
                raise ContractError(f"no upcaster for {type_name} v{version}")
            payload = step(payload)
            version += 1
        return cls.model_validate(payload)


registry = Registry()
