"""Quality automation after sales: suppliers held to their claims, products that pause themselves.

Delivery owns suppliers, their claims and deposits: a confirmed key replacement (`KeyReplaced` naming the
batch's supplier) becomes a claim against that supplier, and a supplier whose claim rate passes the shop's
pause threshold stops getting routes and its card keys stop selling (`SupplierPaused`) until an operator
resumes it (`SupplierResumed`). Inventory owns the catalog: a product whose after-sales rate passes the
shop's threshold is paused (`ProductPaused`), not sold, until an operator resumes it (`ProductResumed`)."""

from __future__ import annotations

from typing import Annotated, ClassVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from faka_common.contracts import topics
from faka_common.contracts.envelope import Message
from faka_common.contracts.inventory import ProductEvent
from faka_common.contracts.shops import shop_id_field
from faka_common.fields import Line, Money

Rate = Annotated[float, Field(ge=0, le=1, description="A share between 0 and 1")]
Operator = Annotated[Line, Field(min_length=1, max_length=100, description="Who does it (audit)")]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SupplierPolicy(Body):
    """When the shop's suppliers are demoted (tried last) and paused (not tried), judged on the share of
    their successful recharges that became claims over the last `window_minutes`, once at least
    `min_sample` of them are counted. A pause rate below the demotion rate makes the demotion moot (the
    pause is judged first); it is not refused, as no JSON schema could say so."""

    window_minutes: int = Field(default=7 * 24 * 60, ge=1, le=90 * 24 * 60)
    min_sample: int = Field(default=20, ge=1, le=1_000_000)
    demote_claim_rate: Rate = 0.05
    pause_claim_rate: Rate = 0.2


class SupplierDeposit(Body):
    """Money the shop holds for the supplier (a deposit, or a top-up of it); claims are deducted from it."""

    amount: Money = Field(gt=0)
    currency: str = Field(default="CNY", pattern=r"^[A-Z]{3}$")
    note: Line = Field(default="", max_length=500)
    recorded_by: Operator


class SupplierResume(Body):
    resumed_by: Operator


class ProductResume(Body):
    resumed_by: Operator


class ProductQualityPolicy(Body):
    """When the shop's products pause themselves: after-sales cases (keys reported invalid and replaced, or
    refused a replacement) per delivered key over the last `window_days` days, judged only once at least
    `min_deliveries` keys were delivered in that window."""

    window_days: int = Field(default=7, ge=1, le=90)
    min_deliveries: int = Field(default=20, ge=1, le=1_000_000)
    pause_rate: Rate = 0.1


class SupplierPaused(Message):
    """A supplier's claim rate passed the shop's pause threshold: no new route goes to it until an operator
    resumes it. Keyed by supplier."""

    topic: ClassVar[str] = topics.DELIVERY_EVENTS
    type_name: ClassVar[str] = "SupplierPaused"
    key_field: ClassVar[str] = "supplier_id"

    supplier_id: UUID
    shop_id: UUID = shop_id_field()
    supplier_name: str
    claims: int = Field(ge=0, description="Claims against it in the window")
    succeeded: int = Field(ge=0, description="Its successful recharges in the window")
    claim_rate: float
    threshold: float


class SupplierResumed(Message):
    """An operator routes to the paused supplier again: inventory offers its withheld card keys again.
    Keyed by supplier, so it follows the pause it undoes."""

    topic: ClassVar[str] = topics.DELIVERY_EVENTS
    type_name: ClassVar[str] = "SupplierResumed"
    key_field: ClassVar[str] = "supplier_id"

    supplier_id: UUID
    shop_id: UUID = shop_id_field()
    resumed_by: str


class ProductPaused(ProductEvent):
    """The product's after-sales rate passed the shop's threshold: it is not sold until an operator resumes
    it (the storefront marks it paused)."""

    type_name: ClassVar[str] = "ProductPaused"

    title: str
    cases: int = Field(ge=0, description="After-sales cases in the window")
    delivered: int = Field(ge=0, description="Keys delivered in the window")
    rate: float
    threshold: float
    window_days: int


class ProductResumed(ProductEvent):
    """An operator put the paused product back on sale."""

    type_name: ClassVar[str] = "ProductResumed"

    resumed_by: str
