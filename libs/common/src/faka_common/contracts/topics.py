"""Kafka topic names: one stream per producing service, keyed by aggregate id."""

ORDER_EVENTS = "order.events"
RISK_EVENTS = "risk.events"
INVENTORY_EVENTS = "inventory.events"
DELIVERY_EVENTS = "delivery.events"
NOTIFICATION_EVENTS = "notification.events"
COMMISSION_EVENTS = "commission.events"

ALL = (
    ORDER_EVENTS,
    RISK_EVENTS,
    INVENTORY_EVENTS,
    DELIVERY_EVENTS,
    NOTIFICATION_EVENTS,
    COMMISSION_EVENTS,
)


def dead_letter(topic: str) -> str:
    """The dead-letter topic of a topic."""
    return f"{topic}.dlq"
