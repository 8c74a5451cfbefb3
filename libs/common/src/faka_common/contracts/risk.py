"""Messages emitted by the risk service."""

from typing import ClassVar, Literal
from uuid import UUID

from pydantic import Field

from faka_common.contracts import topics
from faka_common.contracts.envelope import Message
from faka_common.contracts.shops import shop_id_field


class RiskDecided(Message):
    """The verdict on a placed order."""

    type_name: ClassVar[str] = "RiskDecided"
    topic: ClassVar[str] = topics.RISK_EVENTS

    order_id: UUID
    shop_id: UUID = shop_id_field()
    verdict: Literal["approve", "review", "reject"]
    reasons: list[str] = Field(default_factory=list, examples=[["ip_velocity"]])
