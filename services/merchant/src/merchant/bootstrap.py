"""Wires the merchant service: settings, unit of work, emitted messages (it consumes nothing yet)."""

from dataclasses import dataclass

from faka_common.contracts import ShopChanged
from faka_common.runtime import Runtime

from merchant.config import MIGRATIONS, Settings
from merchant.service_layer.unit_of_work import MerchantUnitOfWork


@dataclass
class Service:
    runtime: Runtime

    def uow(self) -> MerchantUnitOfWork:
        return MerchantUnitOfWork(self.runtime.sessions, self.runtime.settings.service_name)


def bootstrap(settings: Settings | None = None) -> Service:
    settings = settings or Settings()
    service = Service(Runtime(settings, MIGRATIONS))
    service.runtime.emits([ShopChanged])
    return service
