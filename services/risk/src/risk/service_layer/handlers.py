"""Risk handlers."""

import logging

from faka_common.contracts import OrderPlaced, RiskDecided

from risk.domain.rules import OrderFacts, RuleSet
from risk.service_layer.unit_of_work import RiskUnitOfWork

log = logging.getLogger(__name__)


async def decide_on_order(event: OrderPlaced, uow: RiskUnitOfWork, rules: RuleSet) -> None:
    """Apply the rule set to a placed order and announce the verdict to the order's shop, once per order."""
    decision = rules.decide(OrderFacts(event.quantity, event.amount, event.buyer_email, event.buyer_ip))
    if not await uow.decisions.add(event.shop_id, event.order_id, decision):
        log.info("order %s already has a risk decision; ignoring", event.order_id)
        return
    uow.publish(
        RiskDecided(
            order_id=event.order_id, shop_id=event.shop_id, verdict=decision.verdict, reasons=decision.reasons
        )
    )
