"""The operator's requests to the delivery service (the manual queue, suppliers, routes, claims): one model
each, enforced by the delivery service, checked and documented by the gateway's admin API on the way in."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from faka_common.fields import Line, Money, Text

Operator = Annotated[Line, Field(min_length=1, max_length=100, description="Who does it (audit)")]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ClaimTask(Body):
    operator: Operator


class DeliverTask(Body):
    operator: Operator
    content: Text = Field(
        min_length=1, max_length=20_000, description="What the buyer receives (sealed at rest)"
    )
    force: bool = Field(
        default=False, description="Deliver even while a supplier may still recharge the order"
    )


class RejectTask(Body):
    operator: Operator
    reason: Line = Field(min_length=1, max_length=500)


class NewSupplier(Body):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")
    kind: Literal["http_json", "platform"]
    base_url: str = Field(
        pattern=r"^https?://[^\s]+$",
        max_length=500,
        description="Public http(s) address (https in production); internal and metadata addresses "
        "are refused unless OUTBOUND_ALLOW_LIST names them",
    )
    secret: str = Field(min_length=8, max_length=500, description="Signing secret; sealed, never returned")
    config: dict[str, Any] = Field(
        default_factory=dict, description="HTTP-JSON settings (paths, fields, statuses)"
    )
    timeout_seconds: float = Field(default=5.0, gt=0, le=120)


class SupplierActive(Body):
    active: bool


class NewRoute(Body):
    supplier_sku: Line = Field(min_length=1, max_length=200, description="The product's id at the supplier")
    priority: int = Field(default=0, ge=0, le=1000, description="0 = primary; higher = later backups")
    cost: Money = Field(description="What the supplier charges us, minor units")
    currency: str = Field(default="CNY", pattern=r"^[A-Z]{3}$")


class NewClaim(Body):
    order_id: UUID
    amount: Money = Field(description="The loss, minor units")
    currency: str = Field(default="CNY", pattern=r"^[A-Z]{3}$")
    reason: Line = Field(min_length=1, max_length=500)
    recorded_by: Operator
