"""Messages emitted by the notification service."""

from typing import ClassVar
from uuid import UUID

from pydantic import Field

from faka_common.contracts import topics
from faka_common.contracts.envelope import Message
from faka_common.contracts.shops import shop_id_field


class NotificationSent(Message):
    type_name: ClassVar[str] = "NotificationSent"
    topic: ClassVar[str] = topics.NOTIFICATION_EVENTS

    order_id: UUID
    shop_id: UUID = shop_id_field()
    channel: str = Field(examples=["email"])
    template: str = Field(examples=["order_delivered"])


class NotificationFailed(Message):
    type_name: ClassVar[str] = "NotificationFailed"
    topic: ClassVar[str] = topics.NOTIFICATION_EVENTS

    order_id: UUID
    shop_id: UUID = shop_id_field()
    channel: str
    template: str
    reason: str
