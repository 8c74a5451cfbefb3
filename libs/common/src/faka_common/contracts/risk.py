"""Messages emitted by the risk service."""

from typing import ClassVar, Literal
from uuid import UUID

from pydantic import Field

from faka_common.contracts import topics
from faka_common.contracts.envelope import Message
from faka_common.contracts.shops import shop_id_field


class RiskDecided(Message):
    """The verdict on a placed order. An order sent to review gets a second one when the review ends
    (`review_outcome` says how): approve or reject, which the order's state machine takes from review."""

    type_name: ClassVar[str] = "RiskDecided"
    topic: ClassVar[str] = topics.RISK_EVENTS

    order_id: UUID
    shop_id: UUID = shop_id_field()
    verdict: Literal["approve", "review", "reject"]
    reasons: list[str] = Field(default_factory=list, examples=[["ip_velocity"]])
    fired: list[str] = Field(
        default_factory=list,
        description="The rules that fired, as `<scope>.<type>[<index>]`",
        examples=[["shop.velocity[0]", "platform.blocklist[1]"]],
    )
    rules_version: int | None = Field(
        default=None, description="The shop's rule-set version the decision used"
    )
    platform_rules_version: int | None = Field(
        default=None, description="The platform's rule-set version the decision used"
    )
    review_outcome: Literal["approved", "rejected", "expired"] | None = Field(
        default=None, description="Set on the verdict that ends a review"
    )
    reviewed_by: str | None = Field(default=None, description="Who ended the review (none when it expired)")


class RiskRulesChanged(Message):
    """A shop's or the platform's rule set has a new version; risk replicas reload it on their next order."""

    type_name: ClassVar[str] = "RiskRulesChanged"
    topic: ClassVar[str] = topics.RISK_EVENTS
    key_field: ClassVar[str] = "scope"

    scope: str = Field(description="`platform` or the shop's id", examples=["platform"])
    rules_version: int = Field(ge=1)
    changed_by: str = Field(description="Who made the change (the console person or API token)")
    rule_types: list[str] = Field(default_factory=list, examples=[["velocity", "blocklist"]])
