"""Kafka topic names: one stream per producing service, keyed by aggregate id."""

ORDER_EVENTS = "order.events"
ORDER_OUTCOMES = "order.outcomes"
"""What became of an order that no service acts on (`OrderDelivered`): kept off `order.events`, whose
every record wakes risk, inventory, delivery and notification. Each of them fetched and skipped an
`OrderDelivered` a sale, 9.5 ms of CPU a record among Kafka and the four at 10/s (docs/scaling.md). For
whoever follows orders to their end outside the services (analytics, an operator's own tooling)."""
RISK_EVENTS = "risk.events"
INVENTORY_EVENTS = "inventory.events"
DELIVERY_EVENTS = "delivery.events"
NOTIFICATION_EVENTS = "notification.events"
COMMISSION_EVENTS = "commission.events"
MERCHANT_EVENTS = "merchant.events"

ALL = (
    ORDER_EVENTS,
    ORDER_OUTCOMES,
    RISK_EVENTS,
    INVENTORY_EVENTS,
    DELIVERY_EVENTS,
    NOTIFICATION_EVENTS,
    COMMISSION_EVENTS,
    MERCHANT_EVENTS,
)

EVENT_PARTITIONS = 6
"""Partitions of every event stream: the most replicas a consumer group can run with work for each
(the same count locally as in deploy/k8s/base/kafka-topics.yaml). Every fetch names each partition a
consumer holds, whether it has records or not: a consumer of five topics fetched 63 partitions at a time
with 12 each, and at 4 orders/s Kafka spent 127 ms of CPU per order (61 with 3 partitions a topic, same
box, same load); 6 keeps room for six replicas of every consumer service (docs/scaling.md)."""
SIDE_PARTITIONS = 3
"""Partitions of dead-letter and retry topics: little traffic, kept in key order all the same."""


def dead_letter(topic: str) -> str:
    """The dead-letter topic of a topic."""
    return f"{topic}.dlq"


def retry(consumer: str) -> str:
    """The topic where `consumer` parks messages that came before what they depend on."""
    return f"{consumer}.retry"


def partitions(topic: str) -> int:
    """How many partitions `topic` is created with."""
    return EVENT_PARTITIONS if topic in ALL else SIDE_PARTITIONS
