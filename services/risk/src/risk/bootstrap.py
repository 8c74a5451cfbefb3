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

    def uow(self) -> RiskUnitOfWork:
        return RiskUnitOfWork(self.runtime.sessions, self.runtime.settings.service_name)


def bootstrap(settings: Settings | None = None) -> Service:
    settings = settings or Settings()
    service = Service(Runtime(settings, MIGRATIONS), RuleSet(settings.max_quantity_per_order))
    service.runtime.consume(
        EventConsumer(
            "risk",
            service.uow,
            {OrderPlaced: partial(handlers.decide_on_order, rules=service.rules)},
            batch_size=settings.consumer_batch_size,
        ),
        [topics.ORDER_EVENTS],
    )
    service.runtime.emits([RiskDecided])
    return service
