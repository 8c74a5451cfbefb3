"""Wires the risk service: settings, unit of work, consumers, emitted messages."""

from dataclasses import dataclass
from functools import partial

from faka_common.contracts import OrderPlaced, RiskDecided, topics
from faka_common.messaging.consumer import EventConsumer
from faka_common.runtime import Runtime

from risk.config import MIGRATIONS, Settings
from risk.domain.rules import RuleSet
from risk.service_layer import handlers
from risk.service_layer.unit_of_work import RiskUnitOfWork


@dataclass
class Service:
    runtime: Runtime
    rules: RuleSet
    consumer: EventConsumer[RiskUnitOfWork]

    def uow(self) -> RiskUnitOfWork:
        return RiskUnitOfWork(self.runtime.sessions, self.runtime.settings.service_name)


def bootstrap(settings: Settings | None = None) -> Service:
    settings = settings or Settings()
    runtime = Runtime(settings, MIGRATIONS)
    rules = RuleSet(settings.max_quantity_per_order)

    def uow() -> RiskUnitOfWork:
        return RiskUnitOfWork(runtime.sessions, settings.service_name)

    consumer = EventConsumer(
        "risk",
        uow,
        {OrderPlaced: partial(handlers.decide_on_order, rules=rules)},
        batch_size=settings.consumer_batch_size,
    )
    service = Service(runtime, rules, consumer)
    runtime.consume(consumer, [topics.ORDER_EVENTS])
    runtime.emits([RiskDecided])
    return service
