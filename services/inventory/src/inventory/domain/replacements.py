"""After-sales replacement of a delivered key: the product's policy and its verdict on a claim (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from faka_common.contracts.aftersales import RefusalReason

from inventory.domain.model import Product


@dataclass(frozen=True)
class ReplacementPolicy:
    """How far a product's seller stands behind its keys: a key reported invalid within `window_hours`
    of delivery is replaced automatically, at most `per_order` times per order, and only with evidence
    when `evidence_required`."""

    window_hours: int = 24
    per_order: int = 1
    evidence_required: bool = False

    @classmethod
    def of(cls, product: Product) -> ReplacementPolicy:
        return cls(
            product.replacement_window_hours,
            product.replacements_per_order,
            product.replacement_evidence_required,
        )

    def refusal(
        self, delivered_at: datetime, now: datetime, earlier: int, evidence: bool
    ) -> tuple[RefusalReason, str] | None:
        """Why the claim is not for automatic replacement (and the detail for the shop), or None."""
        if self.per_order <= earlier:
            return "order_limit_reached", f"{earlier} of {self.per_order} replacement(s) of this order used"
        if now - delivered_at > timedelta(hours=self.window_hours):
            return "outside_window", f"reported more than {self.window_hours} h after delivery"
        if self.evidence_required and not evidence:
            return "evidence_required", "the product's policy asks for evidence"
        return None
