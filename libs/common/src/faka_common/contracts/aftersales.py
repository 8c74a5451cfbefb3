"""After-sales: a buyer's claim that a delivered key does not work, and inventory's answer to it.

Delivery owns tickets and asks for a replacement (`KeyReplacementRequested`, once per key); inventory owns
the keys and the product's after-sales policy, so it decides and either replaces the key (`KeyReplaced`)
or says why not (`KeyReplacementRefused`). All three are keyed by order id."""

from datetime import datetime
from typing import ClassVar, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from faka_common.contracts import topics
from faka_common.contracts.envelope import Message
from faka_common.contracts.inventory import InventoryEvent
from faka_common.contracts.shops import shop_id_field

TicketCategory = Literal["key_invalid", "not_received", "how_to_use", "refund_request", "other"]
"""What a buyer's ticket is about."""

RefusalReason = Literal[
    "outside_window",
    "order_limit_reached",
    "out_of_stock",
    "evidence_required",
    "not_replaceable",
    "not_this_orders_key",
    "already_replaced",
]
"""Why inventory did not replace a key (the ticket goes to the shop with it; the buyer is told)."""


class KeyReplacementRequested(Message):
    """Delivery asks inventory to replace one delivered key the buyer reports invalid. Delivery sends at
    most one per key (a unique claim per key); inventory checks the product's policy against
    `delivered_at` and the order's earlier replacements."""

    topic: ClassVar[str] = topics.DELIVERY_EVENTS
    type_name: ClassVar[str] = "KeyReplacementRequested"

    order_id: UUID
    shop_id: UUID = shop_id_field()
    product_id: UUID
    claim_id: UUID = Field(description="The replacement claim (one per key); inventory answers with it")
    ticket_id: UUID
    key_id: UUID = Field(description="The delivered key reported invalid")
    delivered_at: datetime = Field(description="When the order was delivered: the policy window starts here")
    evidence: bool = Field(default=False, description="Whether the claim carries evidence (a screenshot)")


class SupplierBatchSales(BaseModel):
    """One import batch of a card-key supplier and how many of its keys were delivered so far (sold, or sold
    and then voided as reported invalid): the denominator of the supplier's claim rate."""

    model_config = ConfigDict(frozen=True)

    batch_id: UUID
    imported_at: datetime
    delivered: int = Field(ge=0)


class KeyReplaced(InventoryEvent):
    """The reported key is void (counted against its import batch) and the order holds `key_id` instead,
    a different key of the same product's pool. The plaintext is revealed to the order as usual."""

    type_name: ClassVar[str] = "KeyReplaced"

    claim_id: UUID
    ticket_id: UUID
    voided_key_id: UUID
    key_id: UUID = Field(description="The replacement key now sold to the order")
    batch_id: UUID = Field(description="The import batch the voided key came from")
    cost_price: int | None = Field(
        default=None, description="The voided key's cost (its batch's), minor units"
    )
    supplier_id: UUID | None = Field(
        default=None, description="The supplier the voided key's batch came from (a claim against it)"
    )
    currency: str | None = Field(default=None, description="The currency of cost_price (the product's)")
    supplier_batches: list[SupplierBatchSales] = Field(
        default_factory=list,
        description="The supplier's batches in the shop imported within the last 90 days (the longest "
        "supplier window), with their keys delivered as this replacement leaves them; empty without a "
        "supplier",
    )


class KeyReplacementRefused(InventoryEvent):
    """Inventory did not replace the key; the ticket goes to the shop's queue with the reason."""

    type_name: ClassVar[str] = "KeyReplacementRefused"

    claim_id: UUID
    ticket_id: UUID
    key_id: UUID
    reason: RefusalReason
    detail: str = Field(default="", description="For the shop, e.g. the window or the limit; no secrets")
