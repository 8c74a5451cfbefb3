"""The recharge worker: routes a recharge through the product's suppliers, primary then backups, and never
sends a second recharge while an earlier one's effect is unknown."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from uuid import UUID

from faka_common.breakers import BreakerStore, breaker_factory
from faka_common.crypto import KeyRing
from faka_common.settings import ServiceSettings
from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.model import OpenedState
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential
from uuid6 import uuid7

from delivery.adapters.deliveries import Attempt
from delivery.adapters.metrics import count_attempt, watch_breakers
from delivery.adapters.suppliers.base import SupplierAdapter
from delivery.domain.model import Delivery, latency_ms
from delivery.domain.suppliers import (
    AmbiguousError,
    PermanentError,
    RechargeOrder,
    Route,
    Supplier,
    SupplierError,
    TransientError,
    UpstreamOrder,
    remaining,
)
from delivery.service_layer import handlers, routing
from delivery.service_layer.unit_of_work import DeliveryUnitOfWork

log = logging.getLogger(__name__)

AdapterFactory = Callable[[Supplier], SupplierAdapter]
Result = Literal["succeeded", "failed", "unsure", "stopped"]


@dataclass(frozen=True)
class RechargePolicy:
    retry_attempts: int = 3
    backoff_seconds: float = 0.2
    backoff_max_seconds: float = 2.0
    processing_wait_seconds: float = 20.0
    processing_poll_seconds: float = 1.0
    reschedule_seconds: float = 10.0
    lease_seconds: float = 120.0
    score_window: timedelta = timedelta(hours=1)


class Breakers:
    """One circuit breaker per supplier. Transient failures count; permanent ones (the order's own fault,
    e.g. an invalid account) do not. Status queries bypass the breaker: knowing beats protecting."""

    def __init__(self, factory: AsyncCircuitBreakerFactory) -> None:
        self.factory = factory
        watch_breakers(factory)

    @classmethod
    def of(
        cls, settings: ServiceSettings, threshold: int, ttl_seconds: float, store: BreakerStore | None = None
    ) -> Breakers:
        """Shared by every replica through Redis unless the settings say otherwise (faka_common.breakers)."""
        return cls(breaker_factory(settings, threshold, ttl_seconds, [PermanentError], store))

    async def call_submit(
        self, supplier_id: UUID, adapter: SupplierAdapter, order: RechargeOrder
    ) -> UpstreamOrder:
        breaker = await self.factory.get_breaker(str(supplier_id))
        async with breaker:
            return await adapter.submit(order)

    async def state(self, supplier_id: UUID) -> str:
        breaker = await self.factory.get_breaker(str(supplier_id))
        return str(breaker.context.state)


class _Retry(Exception):
    """The submit did not happen (or is known not to have happened): the same supplier may be asked again."""

    def __init__(self, cause: SupplierError) -> None:
        super().__init__(cause.message)
        self.cause = cause


class RechargeWorker:
    def __init__(
        self,
        uow_factory: Callable[[], DeliveryUnitOfWork],
        adapters: AdapterFactory,
        breakers: Breakers,
        keyring: KeyRing,
        policy: RechargePolicy,
        lease_uow: Callable[[], DeliveryUnitOfWork] | None = None,
    ) -> None:
        """`lease_uow`: units of work on an autocommit session for the lease, a single statement (the look
        for due work, twice a second while the platform is idle, is then one round trip instead of BEGIN,
        UPDATE, COMMIT); by default `uow_factory`'s."""
        self._uow = uow_factory
        self._lease_uow = lease_uow or uow_factory
        self._adapters = adapters
        self.breakers = breakers
        self._keyring = keyring
        self.policy = policy

    async def drain(self) -> None:
        """Push due recharges one after another until none is due."""
        while await self.run_once():
            pass

    async def run_once(self) -> bool:
        """Take one due recharge and push it as far as it goes; False when nothing was due."""
        async with self._lease_uow() as uow:
            leased = await uow.deliveries.lease_due_recharge(
                handlers.now_utc(), timedelta(seconds=self.policy.lease_seconds)
            )
            await uow.commit()
        if leased is None:
            return False
        shop_id, order_id = leased
        next_at: datetime | None = None
        try:
            if await self.process(shop_id, order_id) == "unsure":
                next_at = handlers.now_utc() + timedelta(seconds=self.policy.reschedule_seconds)
        except Exception:
            next_at = handlers.now_utc() + timedelta(seconds=self.policy.reschedule_seconds)
            raise
        finally:
            async with self._uow() as uow:
                await uow.deliveries.release(shop_id, order_id, next_at)
                await uow.commit()
        return True

    async def process(self, shop_id: UUID, order_id: UUID) -> Result:
        """Push the shop's recharge through the shop's own supplier routes."""
        async with self._uow() as uow:
            delivery = await uow.deliveries.get(shop_id, order_id)
            if (
                delivery is None
                or delivery.status not in ("recharging", "manual")
                or delivery.product_id is None
            ):
                return "stopped"
            tried = {
                a.supplier_id for a in await uow.attempts.for_order(shop_id, order_id) if a.phase == "submit"
            }
            unsure = await uow.attempts.unresolved_submits(shop_id, order_id)
            plan = await routing.routes_in_order(
                uow, shop_id, delivery.product_id, self.policy.score_window, handlers.now_utc()
            )
            suppliers = {r.supplier_id: await uow.suppliers.get(shop_id, r.supplier_id) for r in plan}
            for attempt in unsure:
                if attempt.supplier_id is not None and attempt.supplier_id not in suppliers:
                    suppliers[attempt.supplier_id] = await uow.suppliers.get(shop_id, attempt.supplier_id)
        by_supplier = {r.supplier_id: r for r in plan}

        for attempt in unsure:
            supplier = suppliers.get(attempt.supplier_id) if attempt.supplier_id else None
            if supplier is None:
                return "unsure"
            try:
                result = await self._settle(delivery, supplier, attempt, by_supplier.get(supplier.id))
            except _Retry:
                result = "failed"
            if result != "failed":
                return result
        if delivery.status != "recharging":
            return "stopped"

        for route in remaining(plan, {s for s in tried if s is not None}):
            supplier = suppliers.get(route.supplier_id)
            if supplier is None:
                continue
            result = await self._try_supplier(delivery, route, supplier)
            if result != "failed":
                return result

        async with self._uow() as uow:
            locked = await uow.deliveries.lock(shop_id, order_id)
            if (
                locked is None
                or locked.status != "recharging"
                or await uow.attempts.unresolved_submits(shop_id, order_id)
            ):
                return "stopped"
            reason = "suppliers_exhausted" if plan else "no_supplier_route"
            detail = (
                f"{len(plan)} supplier route(s) tried, none delivered" if plan else "no active supplier route"
            )
            await handlers.send_to_manual(uow, locked, reason, detail, handlers.now_utc())
            await uow.commit()
        return "failed"

    async def _try_supplier(self, delivery: Delivery, route: Route, supplier: Supplier) -> Result:
        """Submit at one supplier, retrying transient failures with bounded backoff; an ambiguous failure is
        settled by a status query before anything else happens."""
        adapter = self._adapters(supplier)
        order = RechargeOrder(
            order_id=delivery.order_id,
            supplier_sku=route.supplier_sku,
            account=str(delivery.request.get("account", "")),
            amount=int(delivery.request.get("amount", 0)),
            quantity=int(delivery.request.get("quantity", 1)),
            buyer_fields=dict(delivery.request.get("buyer_fields", {})),
        )
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.policy.retry_attempts),
            wait=wait_exponential(
                multiplier=self.policy.backoff_seconds, max=self.policy.backoff_max_seconds
            ),
            retry=retry_if_exception_type(_Retry),
            reraise=True,
        )
        try:
            async for attempt_state in retrying:
                with attempt_state:
                    return await self._submit_once(delivery, route, supplier, adapter, order)
        except _Retry as retry:
            log.warning(
                "supplier %s gave up on order %s: %s", supplier.name, delivery.order_id, retry.cause.message
            )
            return "failed"
        finally:
            await adapter.aclose()
        raise AssertionError("unreachable: tenacity returns or reraises")

    async def _submit_once(
        self,
        delivery: Delivery,
        route: Route,
        supplier: Supplier,
        adapter: SupplierAdapter,
        order: RechargeOrder,
    ) -> Result:
        attempt = await self._begin_submit(delivery, route)
        if attempt is None:
            return "stopped"
        try:
            upstream = await self.breakers.call_submit(supplier.id, adapter, order)
        except OpenedState:
            await self._finish(attempt, "breaker_open", "breaker_open", f"circuit of {supplier.name} is open")
            return "failed"
        except PermanentError as error:
            await self._finish(attempt, "permanent", error.error_class, error.message)
            return "failed"
        except AmbiguousError as error:
            await self._finish(attempt, "ambiguous", error.error_class, error.message)
            return await self._settle(delivery, supplier, attempt, route, adapter)
        except TransientError as error:
            await self._finish(attempt, "transient", error.error_class, error.message)
            raise _Retry(error) from error
        return await self._accept(delivery, supplier, attempt, route, upstream, adapter)

    async def _accept(
        self,
        delivery: Delivery,
        supplier: Supplier,
        attempt: Attempt,
        route: Route | None,
        upstream: UpstreamOrder,
        adapter: SupplierAdapter,
    ) -> Result:
        if upstream.state == "succeeded":
            await self._finish(attempt, "succeeded", None, None, upstream.supplier_order_no)
            return await self._complete(delivery, supplier, route, upstream)
        if upstream.state == "failed":
            await self._finish(
                attempt, "failed", "upstream_failed", upstream.reason, upstream.supplier_order_no
            )
            return "failed"
        await self._finish(attempt, "processing", None, upstream.reason, upstream.supplier_order_no)
        return await self._settle(delivery, supplier, attempt, route, adapter)

    async def _settle(
        self,
        delivery: Delivery,
        supplier: Supplier,
        attempt: Attempt,
        route: Route | None,
        adapter: SupplierAdapter | None = None,
    ) -> Result:
        """Ask the supplier what became of our order until it knows (or the wait is over: "unsure")."""
        own = adapter is None
        adapter = adapter or self._adapters(supplier)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.policy.processing_wait_seconds
        try:
            while True:
                upstream = await self._query(delivery, supplier, adapter)
                if upstream is not None and upstream.state != "processing":
                    break
                if loop.time() >= deadline:
                    log.warning("order %s: %s still unsure; retrying later", delivery.order_id, supplier.name)
                    return "unsure"
                await asyncio.sleep(self.policy.processing_poll_seconds)
        finally:
            if own:
                await adapter.aclose()
        if upstream.state == "succeeded":
            await self._resolve(attempt, "succeeded", upstream)
            return await self._complete(delivery, supplier, route, upstream)
        if upstream.state == "failed":
            await self._resolve(attempt, "failed", upstream)
            return "failed"
        await self._resolve(attempt, "not_executed", upstream)
        raise _Retry(
            TransientError("the supplier has no such order: the submit never took effect", "not_executed")
        )

    async def _query(
        self, delivery: Delivery, supplier: Supplier, adapter: SupplierAdapter
    ) -> UpstreamOrder | None:
        started = handlers.now_utc()
        query = Attempt(
            id=uuid7(),
            shop_id=delivery.shop_id,
            delivery_id=delivery.id,
            order_id=delivery.order_id,
            channel=f"supplier:{supplier.name}",
            phase="query",
            started_at=started,
            outcome="in_flight",
            supplier_id=supplier.id,
        )
        try:
            upstream = await adapter.query(delivery.order_id)
        except SupplierError as error:
            await self._record(query, "error", error.error_class, error.message)
            return None
        await self._record(query, upstream.state, None, upstream.reason, upstream.supplier_order_no)
        return upstream

    async def _complete(
        self, delivery: Delivery, supplier: Supplier, route: Route | None, upstream: UpstreamOrder
    ) -> Result:
        async with self._uow() as uow:
            await handlers.complete_recharge(
                uow,
                delivery.shop_id,
                delivery.order_id,
                supplier.id,
                route.cost if route else 0,
                route.currency if route else str(delivery.request.get("currency", "")),
                upstream.content,
                self._keyring,
            )
            await uow.commit()
        return "succeeded"

    async def _begin_submit(self, delivery: Delivery, route: Route) -> Attempt | None:
        """Write the attempt down before sending (a crash mid-request leaves an unresolved submit that the
        next run settles by query). Refuses once the delivery left `recharging` or a submit is unsure."""
        async with self._uow() as uow:
            locked = await uow.deliveries.lock(delivery.shop_id, delivery.order_id)
            if locked is None or locked.status != "recharging":
                return None
            if await uow.attempts.unresolved_submits(delivery.shop_id, delivery.order_id):
                return None
            attempt = Attempt(
                id=uuid7(),
                shop_id=delivery.shop_id,
                delivery_id=delivery.id,
                order_id=delivery.order_id,
                channel=f"supplier:{route.supplier_name}",
                phase="submit",
                started_at=handlers.now_utc(),
                outcome="in_flight",
                supplier_id=route.supplier_id,
                cost=route.cost,
            )
            await uow.attempts.add(attempt)
            locked.attempts += 1
            await uow.deliveries.save(locked)
            await uow.commit()
        return attempt

    async def _finish(
        self,
        attempt: Attempt,
        outcome: str,
        error_class: str | None,
        error: str | None,
        supplier_order_no: str | None = None,
    ) -> None:
        await self._record(attempt, outcome, error_class, error, supplier_order_no)

    async def _resolve(self, attempt: Attempt, outcome: str, upstream: UpstreamOrder) -> None:
        """Settle an ambiguous submit with what the status query said; its error class stays as it was."""
        attempt.outcome = outcome
        attempt.supplier_order_no = upstream.supplier_order_no or attempt.supplier_order_no
        async with self._uow() as uow:
            await uow.attempts.save(attempt)
            await uow.commit()
        count_attempt(attempt)

    async def _record(
        self,
        attempt: Attempt,
        outcome: str,
        error_class: str | None,
        error: str | None,
        supplier_order_no: str | None = None,
    ) -> None:
        now = handlers.now_utc()
        attempt.finished_at = now
        attempt.latency_ms = latency_ms(attempt.started_at, now)
        attempt.outcome = outcome
        attempt.error_class = error_class
        attempt.error = error[:300] if error else None
        attempt.supplier_order_no = supplier_order_no or attempt.supplier_order_no
        async with self._uow() as uow:
            if attempt.phase == "query":
                await uow.attempts.add(attempt)
            else:
                await uow.attempts.save(attempt)
            await uow.commit()
        count_attempt(attempt)
