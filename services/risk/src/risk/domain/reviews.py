"""An order held for review: open until someone approves or rejects it, or its time runs out."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal
from uuid import UUID

from faka_common.errors import Conflict

ReviewStatus = Literal["open", "approved", "rejected", "expired"]


class ReviewClosed(Conflict):
    """The review was already approved, rejected or expired."""


@dataclass
class Review:
    order_id: UUID
    shop_id: UUID
    order_no: str
    product_title: str
    amount: int
    currency: str
    buyer_email: str
    reasons: list[str]
    status: ReviewStatus
    created_at: datetime
    expires_at: datetime
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    resolution_reason: str | None = None
    #: The rules that fired, and the product's trailing mean the amount was compared with (minor units).
    fired: list[str] = field(default_factory=list)
    trailing_mean: int | None = None
    #: The device id the checkout sent (`faka_common.contracts.risk_rules.DeviceId`), if any.
    device_id: str | None = None

    def resolve(self, outcome: ReviewStatus, at: datetime, by: str | None, reason: str | None) -> None:
        if self.status != "open":
            raise ReviewClosed(f"the review of order {self.order_no} is {self.status} already")
        self.status = outcome
        self.resolved_at = at
        self.resolved_by = by
        self.resolution_reason = reason
