"""The manual queue: a task an operator claims, then delivers (with content) or rejects (with a reason)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID

from faka_common.errors import Conflict

TaskStatus = Literal["open", "claimed", "delivered", "rejected", "resolved"]
TaskReason = Literal[
    "manual_product", "suppliers_exhausted", "no_supplier_route", "sla_breach", "undeliverable"
]

OPEN_STATUSES: frozenset[str] = frozenset({"open", "claimed"})


@dataclass
class ManualTask:
    id: UUID
    shop_id: UUID
    order_id: UUID
    delivery_id: UUID
    reason: str
    status: TaskStatus
    created_at: datetime
    detail: str = ""
    claimed_by: str | None = None
    claimed_at: datetime | None = None
    resolved_by: str | None = None
    resolved_at: datetime | None = None
    reject_reason: str | None = None

    @property
    def open(self) -> bool:
        return self.status in OPEN_STATUSES

    def claim(self, operator: str, now: datetime) -> None:
        """Claiming twice by the same operator is harmless; another operator's claim is a conflict."""
        if not self.open:
            raise Conflict(f"the task of order {self.order_id} is already {self.status}")
        if self.status == "claimed" and self.claimed_by != operator:
            raise Conflict(f"the task of order {self.order_id} is claimed by {self.claimed_by}")
        self.status, self.claimed_by, self.claimed_at = "claimed", operator, self.claimed_at or now

    def _finish(self, operator: str, status: TaskStatus, now: datetime) -> None:
        if self.status != "claimed" or self.claimed_by != operator:
            raise Conflict(f"claim the task of order {self.order_id} before finishing it")
        self.status, self.resolved_by, self.resolved_at = status, operator, now

    def deliver(self, operator: str, now: datetime) -> None:
        self._finish(operator, "delivered", now)

    def reject(self, operator: str, reason: str, now: datetime) -> None:
        self._finish(operator, "rejected", now)
        self.reject_reason = reason

    def resolve_automatically(self, now: datetime) -> None:
        """The goods arrived by themselves (late keys, a late supplier success): nothing left to do."""
        if self.open:
            self.status, self.resolved_by, self.resolved_at = "resolved", "system", now

    def reopen(self, reason: str, detail: str) -> None:
        """A new reason to look at an order whose task is already open keeps the claim."""
        if not self.open:
            self.status, self.claimed_by, self.claimed_at = "open", None, None
        self.reason, self.detail = reason, detail
