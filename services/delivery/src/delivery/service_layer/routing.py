"""Suppliers' standing in routing: the order routes are tried in (a demoted supplier last), and the pause of a
supplier whose claim rate passes the shop's pause threshold."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from uuid import UUID

from faka_common.contracts.quality import SupplierPaused

from delivery.domain.suppliers import Route, Supplier, rank
from delivery.service_layer.unit_of_work import DeliveryUnitOfWork

log = logging.getLogger(__name__)


async def routes_in_order(
    uow: DeliveryUnitOfWork, shop_id: UUID, product_id: UUID, score_window: timedelta, now: datetime
) -> list[Route]:
    """The product's routes to suppliers that are not paused, in the order they are tried: suppliers the
    shop's policy demotes (claim rate over its threshold in its window) after every other."""
    routes = await uow.suppliers.routes(shop_id, product_id)
    if not routes:
        return []
    scores = await uow.attempts.scores(shop_id, now - score_window)
    policy = await uow.accounts.policy(shop_id)
    judged = scores
    if policy.window != score_window:
        judged = await uow.attempts.scores(shop_id, now - policy.window)
    demoted = {supplier for supplier, score in judged.items() if policy.standing(score) != "good"}
    return rank(routes, scores, demoted)


async def judge(uow: DeliveryUnitOfWork, supplier: Supplier, now: datetime) -> None:
    """After a claim against the supplier: pause it (once, announced) when its claim rate over the shop's
    window passes the pause threshold. The window starts afresh at an operator's resume."""
    if supplier.paused_at is not None:
        return
    policy = await uow.accounts.policy(supplier.shop_id)
    score = (await uow.attempts.scores(supplier.shop_id, now - policy.window)).get(supplier.id)
    if score is None or policy.standing(score) != "paused":
        return
    reason = (
        f"claim rate {score.claim_rate:.3f} >= {policy.pause_claim_rate} "
        f"({score.claims} claims / {score.succeeded} successes)"
    )
    if not await uow.accounts.pause(supplier.shop_id, supplier.id, reason, now):
        return
    uow.publish(
        SupplierPaused(
            supplier_id=supplier.id,
            shop_id=supplier.shop_id,
            supplier_name=supplier.name,
            claims=score.claims,
            succeeded=score.succeeded,
            claim_rate=round(score.claim_rate, 4),
            threshold=policy.pause_claim_rate,
        )
    )
    log.warning("supplier %s of shop %s paused: %s", supplier.id, supplier.shop_id, reason)
