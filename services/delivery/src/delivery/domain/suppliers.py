"""Suppliers: error classes, upstream order states, routes and the scores that order them. No I/O."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal
from uuid import UUID

UpstreamState = Literal["succeeded", "processing", "failed", "not_found"]


class SupplierError(Exception):
    """Base of every supplier failure; `error_class` is what the attempt records."""

    error_class = "supplier_error"

    def __init__(self, message: str, error_class: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if error_class is not None:
            self.error_class = error_class


class TransientError(SupplierError):
    """The supplier did not take the request (refused connection, 429, 5xx on a read): try again later."""

    error_class = "transient"


class AmbiguousError(TransientError):
    """The request was sent and may have been executed (timeout after sending, 5xx on a submit): the
    order's status at that supplier must be queried before anything else is tried."""

    error_class = "ambiguous"


class PermanentError(SupplierError):
    """Retrying will not help at this supplier (invalid account, out of stock upstream, bad config)."""

    error_class = "permanent"


@dataclass(frozen=True)
class UpstreamOrder:
    """What a supplier says about our order."""

    state: UpstreamState
    supplier_order_no: str | None = None
    content: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class RechargeOrder:
    """What we ask a supplier to do; `order_id` is the idempotency key the supplier deduplicates on."""

    order_id: UUID
    supplier_sku: str
    account: str
    amount: int
    quantity: int = 1
    buyer_fields: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Route:
    id: UUID
    shop_id: UUID
    product_id: UUID
    supplier_id: UUID
    supplier_name: str
    supplier_sku: str
    priority: int
    cost: int
    currency: str


@dataclass(frozen=True)
class Score:
    supplier_id: UUID
    attempts: int
    succeeded: int
    mean_latency_ms: float | None
    claims: int = 0

    @property
    def success_rate(self) -> float:
        """Laplace-smoothed, so a supplier without history starts at 0.5 and one bad answer is not fatal."""
        return (self.succeeded + 1) / (self.attempts + 2)

    @property
    def claim_rate(self) -> float:
        return self.claims / self.succeeded if self.succeeded else 0.0


Standing = Literal["good", "demoted", "paused"]


@dataclass(frozen=True)
class SupplierPolicy:
    """The shop's thresholds on its suppliers' claim rate (claims per successful recharge) over a sliding
    window; a supplier is only judged once `min_sample` successes are counted, so one claim against a
    supplier with three sales does not demote it."""

    window: timedelta = timedelta(days=7)
    min_sample: int = 20
    demote_claim_rate: float = 0.05
    pause_claim_rate: float = 0.2

    def since(self, now: datetime, resumed_at: datetime | None = None) -> datetime:
        """Where the supplier's window starts: an operator's resume starts it afresh, so the claims that
        paused it do not pause it again at once."""
        start = now - self.window
        return max(start, resumed_at) if resumed_at is not None else start

    def standing(self, score: Score | None) -> Standing:
        if score is None or score.succeeded < self.min_sample:
            return "good"
        if score.claim_rate >= self.pause_claim_rate:
            return "paused"
        if score.claim_rate >= self.demote_claim_rate:
            return "demoted"
        return "good"


def rank(routes: Iterable[Route], scores: dict[UUID, Score], demoted: Collection[UUID] = ()) -> list[Route]:
    """Priority first (primary, then backups), except that the routes of a demoted supplier go after every
    other; among equal priorities the better-scoring supplier (success rate, then lower latency, then lower
    cost) goes first."""

    def key(route: Route) -> tuple[bool, int, float, float, int, str]:
        score = scores.get(route.supplier_id)
        rate = score.success_rate if score else 0.5
        latency = score.mean_latency_ms if score and score.mean_latency_ms is not None else 0.0
        return (route.supplier_id in demoted, route.priority, -rate, latency, route.cost, route.supplier_name)

    return sorted(routes, key=key)


def remaining(routes: Sequence[Route], exhausted: set[UUID]) -> list[Route]:
    return [r for r in routes if r.supplier_id not in exhausted]


@dataclass(frozen=True)
class Supplier:
    """An upstream; its secret is kept sealed (key id + blob) and opened only to sign requests."""

    id: UUID
    shop_id: UUID
    name: str
    kind: Literal["http_json", "platform"]
    base_url: str
    config: dict[str, object]
    secret_key_id: str
    secret_blob: bytes
    timeout_seconds: float
    active: bool = True
    paused_at: datetime | None = None
    paused_reason: str | None = None
    resumed_at: datetime | None = None


@dataclass(frozen=True)
class Claim:
    """A loss a supplier caused (paid for a recharge that never arrived, a key that did not work)."""

    id: UUID
    shop_id: UUID
    supplier_id: UUID
    order_id: UUID
    amount: int
    currency: str
    reason: str
    recorded_by: str
    replacement_claim_id: UUID | None = None
    batch_id: UUID | None = None
