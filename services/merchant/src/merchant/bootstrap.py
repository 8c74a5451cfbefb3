"""Wires the merchant service: settings, unit of work, people's credentials, the clock, emitted messages (it
consumes nothing yet)."""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from faka_common.contracts import AccountLinkRequested, ShopChanged
from faka_common.runtime import Runtime

from merchant.adapters.credentials import Passwords, TotpSecrets
from merchant.adapters.sign_in_limits import SignInLimits
from merchant.config import MIGRATIONS, Settings
from merchant.service_layer.accounts import Credentials
from merchant.service_layer.unit_of_work import MerchantUnitOfWork

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Service:
    runtime: Runtime
    settings: Settings
    credentials: Credentials
    clock: Clock = field(default=utc_now)

    def uow(self) -> MerchantUnitOfWork:
        return MerchantUnitOfWork(self.runtime.sessions, self.settings.service_name)


def credentials(settings: Settings) -> Credentials:
    return Credentials(
        passwords=Passwords(
            settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism
        ),
        totp=TotpSecrets(settings.keyring()),
        limits=SignInLimits(
            settings.redis_url,
            settings.kafka_namespace,
            per_address=settings.sign_in_attempts_per_account,
            per_client=settings.sign_in_attempts_per_client,
            window_minutes=settings.sign_in_window_minutes,
            links_per_hour=settings.link_requests_per_account_per_hour,
        ),
        policy=settings.session_policy(),
        issuer=settings.totp_issuer,
    )


def bootstrap(settings: Settings | None = None, clock: Clock = utc_now) -> Service:
    settings = settings or Settings()
    service = Service(Runtime(settings, MIGRATIONS), settings, credentials(settings), clock)
    service.runtime.emits([ShopChanged, AccountLinkRequested])

    async def warm() -> None:  # the decoy hash, made before the first sign-in rather than during it
        await asyncio.to_thread(service.credentials.passwords.warm)

    service.runtime.on_start.append(warm)
    return service
