"""Commission handlers."""

import logging

from faka_common.contracts import DeliverySucceeded

from commission.service_layer.unit_of_work import CommissionUnitOfWork

log = logging.getLogger(__name__)


async def on_delivery_succeeded(event: DeliverySucceeded, uow: CommissionUnitOfWork) -> None:
    """Nothing is booked yet: the consumer's inbox row (same transaction) proves the event was consumed."""
    log.info(
        "delivery %s of order %s of shop %s seen (%d item(s), mode %s); no commission rules yet",
        event.delivery_id,
        event.order_id,
        event.shop_id,
        event.item_count,
        event.mode,
    )
