"""Delivery's metrics: each supplier call's committed outcome, a supplier's breaker opening, a recharge with
no route sent to the manual queue, a buyer's ticket by category and level. Suppliers played by a real HTTP
server on 127.0.0.1."""

from __future__ import annotations

from uuid import uuid4

import httpx
import pytest
from delivery.bootstrap import Service
from prometheus_client import REGISTRY

from .conftest import SupplierServer, closed_port_url, feed
from .test_recharge import drain, recharge, register, unique
from .test_tickets import delivered_order, open_ticket, ticket

pytestmark = pytest.mark.integration


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_a_supplier_down_and_its_backup_are_counted_by_outcome_and_its_breaker_opens(
    service: Service, api: httpx.AsyncClient, suppliers: SupplierServer
) -> None:
    product_id, order_id = uuid4(), uuid4()
    backup = suppliers.add(unique("backup"))
    down = await register(api, product_id, unique("down"), closed_port_url(), 0)
    up = await register(api, product_id, backup.name, suppliers.url(backup.name), 1)

    await feed(service, recharge(order_id, product_id))
    await drain(service)

    assert sample("faka_supplier_attempts_total", supplier=down, phase="submit", outcome="transient") == 3
    assert sample("faka_supplier_breaker_open", supplier=down) == 1  # three transient failures open it
    assert sample("faka_supplier_attempts_total", supplier=up, phase="submit", outcome="succeeded") == 1
    assert sample("faka_supplier_call_seconds_count", phase="submit") >= 4


async def test_a_recharge_with_no_route_counts_one_delivery_sent_to_the_manual_queue(
    service: Service, api: httpx.AsyncClient
) -> None:
    before = sample("faka_delivery_attention_total", mode="recharge", reason="no_supplier_route")
    await feed(service, recharge(uuid4(), uuid4()))
    await drain(service)
    assert sample("faka_delivery_attention_total", mode="recharge", reason="no_supplier_route") - before == 1


async def test_tickets_are_counted_by_category_and_the_level_they_start_at(
    service: Service, api: httpx.AsyncClient
) -> None:
    shop = uuid4()
    order_id, product_id, [key_id] = await delivered_order(service, shop)
    # a key reported invalid asks for its replacement, and "not received" on a delivered order is answered by
    # the system (where the key is, the e-mail again): both start at L1
    asked = [("key_invalid", "L1"), ("not_received", "L1")]
    before = [sample("faka_tickets_opened_total", category=c, level=level) for c, level in asked]
    await open_ticket(api, shop, ticket(order_id, product_id, key_id=str(key_id)))
    await open_ticket(api, shop, ticket(order_id, product_id, "not_received"))
    after = [sample("faka_tickets_opened_total", category=c, level=level) for c, level in asked]
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1]
