"""Wires the risk service: settings, unit of work, the Redis counters, consumers, the review expiry sweep,
emitted messages."""

from dataclasses import dataclass
from functools import partial

from faka_common.contracts import OrderCancelled, OrderPaid, OrderPlaced, OrderRejected, RiskDecided, topics
from faka_common.contracts.risk import RiskRulesChanged
from faka_common.messaging.consumer import EventConsumer
from faka_common.runtime import Runtime

from risk.adapters.counters import Counters, RedisCounters
from risk.config import MIGRATIONS, Settings
from risk.service_layer import handlers
from risk.service_layer.handlers import Decider
from risk.service_layer.unit_of_work import RiskUnitOfWork


@dataclass
class Service:
    runtime: Runtime
    decider: Decider
    consumer: EventConsumer[RiskUnitOfWork]

    def uow(self) -> RiskUnitOfWork:
        return RiskUnitOfWork(self.runtime.sessions, self.runtime.settings.service_name)

    async def publish_rules(self) -> None:
        await handlers.publish_rules(self.uow(), self.decider)

    async def expire_reviews(self) -> None:
        """The review sweep: reject overdue reviews in batches until none is left."""
        while await handlers.expire_reviews(self.uow()) == handlers.EXPIRY_BATCH:
            pass


def bootstrap(settings: Settings | None = None, counters: Counters | None = None) -> Service:
    settings = settings or Settings()
    runtime = Runtime(settings, MIGRATIONS)
    decider = Decider(
        counters or RedisCounters(settings.redis_url, settings.kafka_namespace),
        settings.max_quantity_per_order,
        settings.unpaid_horizon_seconds,
        means=handlers.MeanCache(settings.mean_cache_seconds),
    )

    def uow() -> RiskUnitOfWork:
        return RiskUnitOfWork(runtime.sessions, settings.service_name)

    ended = partial(handlers.on_order_ended_unpaid, decider=decider)
    consumer = EventConsumer(
        "risk",
        uow,
        {
            OrderPlaced: partial(handlers.decide_on_order, decider=decider),
            OrderPaid: partial(handlers.on_order_paid, decider=decider),
            OrderCancelled: ended,
            OrderRejected: ended,
        },
        batch_size=settings.consumer_batch_size,
        batch_handlers={
            OrderPlaced: partial(handlers.decide_on_orders, decider=decider),
            OrderPaid: partial(handlers.on_orders_paid, decider=decider),
        },
    )
    service = Service(runtime, decider, consumer)
    runtime.consume(consumer, [topics.ORDER_EVENTS])
    runtime.emits([RiskDecided, RiskRulesChanged])
    runtime.every(settings.review_sweep_seconds, "review expiry sweep", service.expire_reviews)
    runtime.every(settings.rules_publish_seconds, "rule set publication", service.publish_rules)
    runtime.on_stop.append(decider.counters.aclose)
    return service
