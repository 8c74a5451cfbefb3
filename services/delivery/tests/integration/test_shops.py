"""Shops: every delivery-owned row belongs to one shop. A request acting for shop B that names shop A's
orders, suppliers or routes is answered as if they did not exist and changes nothing; events out carry the
shop of the delivery they are about; the recharge worker routes a shop's order through that shop's suppliers
only."""

from __future__ import annotations

import json
import re
import typing
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from delivery.adapters.figures import FIGURES
from delivery.bootstrap import Service
from delivery.domain.suppliers import Route
from delivery.entrypoints.http import router
from delivery.service_layer import watchdog
from faka_common.contracts import KeysAllocated, OrderPaid
from faka_common.contracts.delivery import ManualDeliveryRequested, RechargeRequested
from faka_common.http import SHOP_HEADER, create_app
from faka_common.testing import OPERATIONAL_ROUTES, asgi_client, shop_scoping
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from .conftest import SECRET, SHOP_TABLES, SupplierServer, feed, outbox
from .test_recharge import drain, unique

pytestmark = pytest.mark.integration

#: Routes that own no shop's rows; every other route must be scoped by the shop (and be in CASES below).
# the keyring is the platform's: a rotation re-seals every shop's supplier secrets and delivered contents
# the platform's ticket queue and timers span every shop (the gateway admits platform staff only)
NOT_SHOP_OWNED = OPERATIONAL_ROUTES | {
    ("POST", "/internal/keys/reencrypt"),
    ("GET", "/internal/platform/tickets"),
    ("GET", "/internal/platform/ticket-sla"),
    ("PUT", "/internal/platform/ticket-sla"),
}


def acting_for(shop: UUID) -> dict[str, str]:
    return {SHOP_HEADER: str(shop)}


@dataclass
class ShopA:
    """What shop A has: a supplier with a route, a claimed manual task, a delivered order with sealed
    content, and a claim against the supplier."""

    shop: UUID
    supplier: str
    supplier_name: str
    product: UUID
    task_order: UUID
    delivered_order: UUID
    ticket: str
    canned: str
    image: str

    def ids(self) -> dict[str, str]:
        return {
            "supplier": self.supplier,
            "product": str(self.product),
            "order": str(self.task_order),
            "delivered": str(self.delivered_order),
            "ticket": self.ticket,
            "image": self.image,
            "canned": self.canned,
        }


async def manual_order(service: Service, api: httpx.AsyncClient, shop: UUID) -> UUID:
    """An order of `shop` in its manual queue, claimed by operator ann."""
    order_id = uuid4()
    await feed(service, ManualDeliveryRequested(order_id=order_id, shop_id=shop, product_id=uuid4()))
    claimed = await api.post(
        f"/internal/manual-tasks/{order_id}/claim", json={"operator": "ann"}, headers=acting_for(shop)
    )
    assert claimed.status_code == 200, claimed.text
    return order_id


async def add_supplier(api: httpx.AsyncClient, shop: UUID, name: str, base_url: str) -> httpx.Response:
    return await api.post(
        "/internal/suppliers",
        json={"name": name, "kind": "http_json", "base_url": base_url, "secret": SECRET,
              "config": {"merchant_id": "m-1"}},
        headers=acting_for(shop),
    )  # fmt: skip


async def routed_supplier(api: httpx.AsyncClient, shop: UUID, product: UUID, name: str, base_url: str) -> str:
    """A supplier of `shop` that `product` is routed to (primary)."""
    created = await add_supplier(api, shop, name, base_url)
    assert created.status_code == 201, created.text
    supplier_id: str = created.json()["supplier_id"]
    routed = await api.put(
        f"/internal/products/{product}/routes/{supplier_id}",
        json={"supplier_sku": "mobile-50", "priority": 0, "cost": 4900},
        headers=acting_for(shop),
    )
    assert routed.status_code == 200, routed.text
    return supplier_id


async def shop_a_with_everything(
    service: Service, api: httpx.AsyncClient, suppliers: SupplierServer
) -> ShopA:
    shop, product = uuid4(), uuid4()
    fake = suppliers.add(unique("a-supplier"))
    supplier = await routed_supplier(api, shop, product, fake.name, suppliers.url(fake.name))
    task_order = await manual_order(service, api, shop)
    delivered = await manual_order(service, api, shop)
    done = await api.post(
        f"/internal/manual-tasks/{delivered}/deliver",
        json={"operator": "ann", "content": "Gift code A-1"},
        headers=acting_for(shop),
    )
    assert done.status_code == 200, done.text
    claim = await api.post(
        f"/internal/suppliers/{supplier}/claims",
        json={"order_id": str(delivered), "amount": 100, "reason": "late", "recorded_by": "ann"},
        headers=acting_for(shop),
    )
    assert claim.status_code == 201, claim.text
    ticket = await api.post(
        "/internal/tickets", json=_filled(TICKET, {"order": str(task_order)}), headers=acting_for(shop)
    )
    assert ticket.status_code == 201, ticket.text
    canned = await api.post(
        "/internal/canned-replies", json=_filled(CANNED, {"order": str(task_order)}), headers=acting_for(shop)
    )
    assert canned.status_code == 201, canned.text
    ticket_id = ticket.json()["ticket_id"]
    pictured = await api.post(  # the buyer's: the ticket stays open, in the shop's queue
        f"/internal/orders/{task_order}/tickets/{ticket_id}/messages/with-images",
        **as_form({"author": "buyer", "message": "This one"}, PNG),
        headers=acting_for(shop),
    )
    assert pictured.status_code == 200, pictured.text
    return ShopA(
        shop, supplier, fake.name, product, task_order, delivered, ticket_id,
        canned.json()["canned_reply_id"], pictured.json()["messages"][-1]["attachments"][0]["attachment_id"],
    )  # fmt: skip


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(16)


def as_form(body: dict[str, Any] | None, *images: bytes) -> dict[str, Any]:
    """A multipart request of the images routes: `message` (the JSON body) and `image` files."""
    parts: list[Any] = [("message", (None, json.dumps(body), "application/json"))]
    return {"files": parts + [("image", (f"{n}.png", data, "image/png")) for n, data in enumerate(images)]}


@dataclass(frozen=True)
class Case:
    """One internal route: how to call it on shop A's things, and what it answers.
    `item`: shop B gets 404 (as for an id that does not exist), shop A `ok`.
    `list`: shop B gets 200 without any of shop A's ids, shop A `ok` with them.
    `create`: shop B creates its own (A's name is free in B), shop A gets `ok` (409: the name is taken).
    `settings`: a shop-wide setting: shop B reads or sets its own (`ok`), shop A's stays as it was."""

    kind: typing.Literal["item", "list", "create", "settings"]
    path: str
    body: dict[str, Any] | None = None
    ok: int = 200
    form: bool = False  # the body goes as the multipart `message` of an images route

    def sent(self, body: Any) -> dict[str, Any]:
        return as_form(body, PNG) if self.form else {"json": body}


CLAIM = {"order_id": "{delivered}", "amount": 100, "reason": "never arrived", "recorded_by": "ann"}
TICKET = {"order_id": "{order}", "order_no": "F1", "product_id": str(uuid4()), "category": "other",
          "message": "Where is my code?"}  # fmt: skip
CANNED = {"language": "en", "title": "Order {order}", "message": "About {order}", "updated_by": "ann"}
DISPUTE = {"author": "ann", "message": "A dispute"}
CASES: dict[tuple[str, str], Case] = {
    ("POST", "/internal/tickets/with-images"): Case(
        "create", "/internal/tickets/with-images", TICKET, ok=201, form=True
    ),
    ("POST", "/internal/tickets/{ticket_id}/replies/with-images"): Case(
        "item",
        "/internal/tickets/{ticket}/replies/with-images",
        {"author": "ann", "message": "See"},
        form=True,
    ),
    ("POST", "/internal/orders/{order_id}/tickets/{ticket_id}/messages/with-images"): Case(
        "item",
        "/internal/orders/{order}/tickets/{ticket}/messages/with-images",
        {"author": "buyer", "message": "Still"},
        form=True,
    ),
    ("GET", "/internal/tickets/{ticket_id}/attachments"): Case(
        "list", "/internal/tickets/{ticket}/attachments"
    ),
    ("GET", "/internal/orders/{order_id}/attachments"): Case("list", "/internal/orders/{order}/attachments"),
    ("GET", "/internal/tickets/{ticket_id}/attachments/{attachment_id}"): Case(
        "item", "/internal/tickets/{ticket}/attachments/{image}"
    ),
    ("GET", "/internal/deliveries/{order_id}"): Case("item", "/internal/deliveries/{delivered}"),
    ("GET", "/internal/deliveries/{order_id}/content"): Case(
        "item", "/internal/deliveries/{delivered}/content"
    ),
    ("GET", "/internal/manual-tasks"): Case("list", "/internal/manual-tasks?status=open&status=claimed"),
    ("GET", "/internal/delivery-figures"): Case(
        "settings", f"/internal/delivery-figures?first={date.today() - timedelta(days=1)}&last={date.today()}"
    ),
    ("POST", "/internal/manual-tasks/{order_id}/claim"): Case(
        "item", "/internal/manual-tasks/{order}/claim", {"operator": "ann"}
    ),
    ("POST", "/internal/manual-tasks/{order_id}/deliver"): Case(
        "item", "/internal/manual-tasks/{order}/deliver", {"operator": "ann", "content": "K-2"}
    ),
    ("POST", "/internal/manual-tasks/{order_id}/reject"): Case(
        "item", "/internal/manual-tasks/{order}/reject", {"operator": "ann", "reason": "banned"}
    ),
    ("POST", "/internal/suppliers"): Case(
        "create",
        "/internal/suppliers",
        {"name": "{supplier_name}", "kind": "http_json", "base_url": "http://127.0.0.1:9", "secret": SECRET},
        ok=409,
    ),
    ("GET", "/internal/suppliers"): Case("list", "/internal/suppliers"),
    ("GET", "/internal/suppliers/scores"): Case("list", "/internal/suppliers/scores"),
    ("PATCH", "/internal/suppliers/{supplier_id}"): Case(
        "item", "/internal/suppliers/{supplier}", {"active": False}
    ),
    ("GET", "/internal/suppliers/{supplier_id}/balance"): Case(
        "item", "/internal/suppliers/{supplier}/balance"
    ),
    ("GET", "/internal/suppliers/{supplier_id}/products"): Case(
        "item", "/internal/suppliers/{supplier}/products"
    ),
    ("POST", "/internal/suppliers/{supplier_id}/claims"): Case(
        "item", "/internal/suppliers/{supplier}/claims", CLAIM, ok=201
    ),
    ("GET", "/internal/suppliers/{supplier_id}/claims"): Case(
        "item", "/internal/suppliers/{supplier}/claims"
    ),
    ("GET", "/internal/products/{product_id}/routes"): Case("list", "/internal/products/{product}/routes"),
    ("PUT", "/internal/products/{product_id}/routes/{supplier_id}"): Case(
        "item", "/internal/products/{product}/routes/{supplier}", {"supplier_sku": "other", "cost": 1}
    ),
    ("DELETE", "/internal/products/{product_id}/routes/{supplier_id}"): Case(
        "item", "/internal/products/{product}/routes/{supplier}", ok=204
    ),
    ("GET", "/internal/suppliers/{supplier_id}/account"): Case(
        "item", "/internal/suppliers/{supplier}/account"
    ),
    ("POST", "/internal/suppliers/{supplier_id}/deposits"): Case(
        "item", "/internal/suppliers/{supplier}/deposits", {"amount": 500, "recorded_by": "ann"}, ok=201
    ),
    ("POST", "/internal/suppliers/{supplier_id}/resume"): Case(
        "item", "/internal/suppliers/{supplier}/resume", {"resumed_by": "ann"}
    ),
    ("GET", "/internal/supplier-policy"): Case("settings", "/internal/supplier-policy"),
    ("PUT", "/internal/supplier-policy"): Case(
        "settings",
        "/internal/supplier-policy",
        {"window_minutes": 30, "min_sample": 2, "demote_claim_rate": 0.4, "pause_claim_rate": 0.9},
    ),
    ("POST", "/internal/tickets"): Case("create", "/internal/tickets", TICKET, ok=201),
    ("GET", "/internal/tickets"): Case("list", "/internal/tickets"),
    ("GET", "/internal/tickets/{ticket_id}"): Case("item", "/internal/tickets/{ticket}"),
    ("POST", "/internal/tickets/{ticket_id}/replies"): Case(
        "item", "/internal/tickets/{ticket}/replies", {"author": "ann", "message": "On it"}
    ),
    ("GET", "/internal/orders/{order_id}/tickets"): Case("list", "/internal/orders/{order}/tickets"),
    ("POST", "/internal/tickets/{ticket_id}/escalation"): Case(
        "item", "/internal/tickets/{ticket}/escalation", DISPUTE
    ),
    ("POST", "/internal/orders/{order_id}/tickets/{ticket_id}/escalation"): Case(
        "item", "/internal/orders/{order}/tickets/{ticket}/escalation", {**DISPUTE, "author": "buyer"}
    ),
    ("GET", "/internal/ticket-sla"): Case("settings", "/internal/ticket-sla"),
    ("PUT", "/internal/ticket-sla"): Case(
        "settings", "/internal/ticket-sla", {"first_response_minutes": 60, "updated_by": "ann"}
    ),
    ("GET", "/internal/canned-replies"): Case("list", "/internal/canned-replies"),
    ("POST", "/internal/canned-replies"): Case("create", "/internal/canned-replies", CANNED, ok=409),
    ("PUT", "/internal/canned-replies/{reply_id}"): Case(
        "item", "/internal/canned-replies/{canned}", {**CANNED, "message": "Changed"}
    ),
    ("DELETE", "/internal/canned-replies/{reply_id}"): Case(
        "item", "/internal/canned-replies/{canned}", ok=204
    ),
    ("POST", "/internal/orders/{order_id}/tickets/{ticket_id}/messages"): Case(
        "item", "/internal/orders/{order}/tickets/{ticket}/messages", {"author": "buyer", "message": "Still"}
    ),
}


def _filled(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**names)
    if isinstance(value, dict):
        return {k: _filled(v, names) for k, v in value.items()}
    return value


def the_app(service: Service) -> FastAPI:
    return create_app(service.runtime, [router(service)], title="delivery under test")


@pytest.fixture
async def app_client(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(the_app(service), "delivery") as client:
        yield client


async def test_every_route_is_scoped_by_the_shop_or_listed_as_not_shop_owned(service: Service) -> None:
    scoping = shop_scoping(the_app(service))
    assert scoping.unscoped == NOT_SHOP_OWNED, "a route that is not shop-owned must be listed as such"
    assert scoping.scoped == set(CASES), "every scoped route needs an isolation case"


async def shop_rows(service: Service, shop: UUID) -> dict[str, list[tuple[Any, ...]]]:
    """Every row the shop has in every shop-owned table, and how many messages were emitted about it."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    async with service.runtime.engine.connect() as connection:
        for table in SHOP_TABLES:
            rows = await connection.execute(
                text(f"SELECT * FROM {table} WHERE shop_id = :shop ORDER BY 1"), {"shop": shop}
            )
            out[table] = [tuple(row) for row in rows]
        # the messages about the shop (another shop's own ticket announces itself, about that shop)
        about = text(
            "SELECT count(*) FROM outbox"
            " WHERE convert_from(value, 'UTF8')::jsonb -> 'payload' ->> 'shop_id' = :shop"
        )
        out["outbox"] = [((await connection.execute(about, {"shop": str(shop)})).scalar_one(),)]
    return out


@pytest.mark.parametrize(("method", "route"), sorted(CASES))
async def test_shop_b_cannot_see_or_change_what_shop_a_has_and_shop_a_can(
    service: Service,
    api: httpx.AsyncClient,
    app_client: httpx.AsyncClient,
    suppliers: SupplierServer,
    method: str,
    route: str,
) -> None:
    case = CASES[(method, route)]
    a = await shop_a_with_everything(service, api, suppliers)
    shop_b = uuid4()
    names = {**a.ids(), "supplier_name": a.supplier_name}
    path, body = _filled(case.path, names), _filled(case.body, names)
    before = await shop_rows(service, a.shop)

    as_b = await app_client.request(method, path, **case.sent(body), headers=acting_for(shop_b))

    assert await shop_rows(service, a.shop) == before, "a request of shop B changed shop A's rows"
    if case.kind == "item":
        unknown = {k: str(uuid4()) if k != "supplier_name" else v for k, v in names.items()}
        as_unknown = await app_client.request(
            method,
            _filled(case.path, unknown),
            **case.sent(_filled(case.body, unknown)),
            headers=acting_for(shop_b),
        )
        assert as_b.status_code == 404, as_b.text
        assert (as_b.json()["error"], _without_ids(as_b.json()["message"])) == (
            as_unknown.json()["error"],
            _without_ids(as_unknown.json()["message"]),
        ), "shop A's id must be answered as an id that does not exist"
    elif case.kind == "list":
        assert as_b.status_code == 200, as_b.text
        assert not [v for v in (a.supplier, str(a.task_order), a.supplier_name, a.image) if v in as_b.text]
    elif case.kind == "settings":
        assert as_b.status_code == case.ok, as_b.text
    else:
        assert as_b.status_code == 201, as_b.text
    assert "Gift code A-1" not in as_b.text

    as_a = await app_client.request(method, path, **case.sent(body), headers=acting_for(a.shop))
    assert as_a.status_code == case.ok, as_a.text
    if case.kind == "list":
        assert a.supplier in as_a.text or str(a.task_order) in as_a.text or a.image in as_a.text


async def test_a_shops_delivery_figures_count_its_own_deliveries_by_mode_and_channel_only(
    service: Service, api: httpx.AsyncClient, suppliers: SupplierServer
) -> None:
    a = await shop_a_with_everything(service, api, suppliers)
    period = {"first": str(date.today() - timedelta(days=1)), "last": str(date.today() + timedelta(days=1))}
    mine = await api.get("/internal/delivery-figures", params=period, headers=acting_for(a.shop))
    assert mine.status_code == 200, mine.text
    found = mine.json()
    [manual] = found["by_mode"]
    assert (manual["mode"], manual["deliveries"], manual["succeeded"], manual["failed"], manual["open"]) == (
        "manual",
        2,
        1,
        0,
        1,
    )
    assert manual["p50_ms"] is not None
    channels = {c["channel"]: (c["attempts"], c["succeeded"]) for c in found["by_channel"]}
    assert channels == {"operator": (1, 1)}
    assert found["by_supplier"] == []
    theirs = await api.get("/internal/delivery-figures", params=period, headers=acting_for(uuid4()))
    assert (theirs.json()["by_mode"], theirs.json()["by_channel"]) == ([], [])
    for wrong, field in (({"last": "2020-01-01"}, "last"), ({"tz": "Mars/Olympus"}, "tz")):
        refused = await api.get(
            "/internal/delivery-figures", params={**period, **wrong}, headers=acting_for(a.shop)
        )
        assert refused.status_code == 400 and refused.json()["message"].startswith(field), refused.text


async def test_a_shops_delivery_figures_read_the_period_through_the_shop_and_time_indexes(
    service: Service,
) -> None:
    period = {"shop": uuid4(), "first": date.today(), "last": date.today(), "tz": "UTC"}
    async with service.runtime.engine.connect() as connection:
        await connection.execute(text("SET LOCAL enable_seqscan = off"))
        plan = await connection.execute(text(f"EXPLAIN {FIGURES.text}"), period)
        lines = "\n".join(row[0] for row in plan)
    assert "deliveries_shop_created" in lines, lines
    assert "delivery_attempts_shop_started" in lines, lines


def _without_ids(message: str) -> str:
    return re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<id>", message)


async def test_supplier_names_are_unique_per_shop(api: httpx.AsyncClient) -> None:
    shop_a, shop_b, name = uuid4(), uuid4(), unique("same")
    assert (await add_supplier(api, shop_a, name, "http://127.0.0.1:9")).status_code == 201
    assert (await add_supplier(api, shop_b, name, "http://127.0.0.1:9")).status_code == 201
    taken = await add_supplier(api, shop_a, name, "http://127.0.0.1:9")
    assert taken.status_code == 409 and name in taken.json()["message"]
    listed = (await api.get("/internal/suppliers", headers=acting_for(shop_b))).json()["items"]
    assert [s["name"] for s in listed] == [name]


async def test_the_database_refuses_a_route_or_a_claim_naming_another_shops_supplier(
    service: Service, api: httpx.AsyncClient
) -> None:
    shop_a, shop_b = uuid4(), uuid4()
    created = await add_supplier(api, shop_a, unique("a"), "http://127.0.0.1:9")
    supplier_a = UUID(created.json()["supplier_id"])
    foreign = Route(uuid4(), shop_b, uuid4(), supplier_a, "a", "sku", 0, 1, "CNY")
    with pytest.raises(IntegrityError, match="supplier_routes_shop_supplier"):
        async with service.uow() as uow:
            await uow.suppliers.put_route(foreign)
    async with service.runtime.engine.connect() as connection:
        with pytest.raises(IntegrityError, match="supplier_claims_shop_supplier"):
            await connection.execute(
                text(
                    "INSERT INTO supplier_claims (id, shop_id, supplier_id, order_id, amount, currency,"
                    " reason, recorded_by) VALUES (:id, :shop, :supplier, :order, 1, 'CNY', 'x', 'ann')"
                ),
                {"id": uuid4(), "shop": shop_b, "supplier": supplier_a, "order": uuid4()},
            )


async def test_a_recharge_goes_through_its_own_shops_suppliers_only(
    service: Service, api: httpx.AsyncClient, suppliers: SupplierServer
) -> None:
    shop_a, shop_b, product = uuid4(), uuid4(), uuid4()
    fake_a, fake_b = suppliers.add(unique("a")), suppliers.add(unique("b"))
    await routed_supplier(api, shop_a, product, fake_a.name, suppliers.url(fake_a.name))
    await routed_supplier(api, shop_b, product, fake_b.name, suppliers.url(fake_b.name))
    order_a, order_b, order_c = uuid4(), uuid4(), uuid4()
    for order, shop in ((order_a, shop_a), (order_b, shop_b), (order_c, uuid4())):
        await feed(
            service,
            RechargeRequested(
                order_id=order, shop_id=shop, product_id=product, account="13800138000", amount=5000
            ),
        )
    await drain(service)

    assert fake_a.submits == {str(order_a): 1} and fake_b.submits == {str(order_b): 1}
    assert shop_of(await outbox(service, order_a)) == [("DeliverySucceeded", str(shop_a))]
    assert shop_of(await outbox(service, order_b)) == [("DeliverySucceeded", str(shop_b))]
    # a shop without a route of its own goes to its manual queue, not to another shop's supplier
    [needs] = await outbox(service, order_c)
    assert needs["type"] == "DeliveryNeedsAttention" and needs["payload"]["reason"] == "no_supplier_route"
    routes_a = (await api.get(f"/internal/products/{product}/routes", headers=acting_for(shop_a))).json()
    assert [r["supplier_name"] for r in routes_a["items"]] == [fake_a.name]
    scores_b = (await api.get("/internal/suppliers/scores", headers=acting_for(shop_b))).json()["items"]
    assert [(s["name"], s["attempts"]) for s in scores_b] == [(fake_b.name, 1)]


def shop_of(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(m["type"], m["payload"]["shop_id"]) for m in messages]


async def test_every_event_out_carries_the_shop_of_the_event_that_created_the_delivery(
    service: Service, api: httpx.AsyncClient
) -> None:
    shop = uuid4()
    keyed, keyless, paid_late, manual, rejected = (uuid4() for _ in range(5))
    await feed(service, KeysAllocated(order_id=keyed, shop_id=shop, product_id=uuid4(), key_ids=[uuid4()],
                                      delivery_type="card_key"))  # fmt: skip
    await feed(service, KeysAllocated(order_id=keyless, shop_id=shop, product_id=uuid4(), key_ids=[],
                                      delivery_type="card_key"))  # fmt: skip
    await feed(service, OrderPaid(order_id=paid_late, shop_id=shop, order_no="F1", product_id=uuid4(),
                                  quantity=1, amount=100, currency="CNY", provider="sandbox", trade_no="T1",
                                  paid_at=datetime.now(UTC) - timedelta(minutes=30)))  # fmt: skip
    await feed(service, ManualDeliveryRequested(order_id=manual, shop_id=shop, product_id=uuid4()))
    await feed(service, ManualDeliveryRequested(order_id=rejected, shop_id=shop, product_id=uuid4()))
    for order, action, body in (
        (manual, "deliver", {"operator": "ann", "content": "K"}),
        (rejected, "reject", {"operator": "ann", "reason": "banned"}),
    ):
        tasks = f"/internal/manual-tasks/{order}"
        await api.post(f"{tasks}/claim", json={"operator": "ann"}, headers=acting_for(shop))
        done = await api.post(f"{tasks}/{action}", json=body, headers=acting_for(shop))
        assert done.status_code == 200, done.text
    await watchdog.sweep_once(service.uow, 5)

    s = str(shop)
    assert shop_of(await outbox(service, keyed)) == [("DeliverySucceeded", s)]
    assert shop_of(await outbox(service, keyless)) == [("DeliveryFailed", s)]
    assert shop_of(await outbox(service, paid_late)) == [("DeliveryDelayed", s)]
    assert shop_of(await outbox(service, manual)) == [("DeliveryNeedsAttention", s), ("DeliverySucceeded", s)]
    assert shop_of(await outbox(service, rejected)) == [("DeliveryNeedsAttention", s), ("DeliveryFailed", s)]
    late_queue = (await api.get("/internal/manual-tasks", headers=acting_for(shop))).json()["items"]
    assert [t["reason"] for t in late_queue if t["order_id"] == str(paid_late)] == ["sla_breach"]
    elsewhere = (await api.get("/internal/manual-tasks")).json()["items"]
    assert str(paid_late) not in {t["order_id"] for t in elsewhere}


async def test_a_message_naming_another_shops_order_changes_nothing_and_is_dead_lettered(
    service: Service, api: httpx.AsyncClient
) -> None:
    shop_a, other, order = uuid4(), uuid4(), uuid4()
    await feed(service, ManualDeliveryRequested(order_id=order, shop_id=shop_a, product_id=uuid4()))
    before = await shop_rows(service, shop_a)
    _, outcome = await feed(
        service,
        KeysAllocated(order_id=order, shop_id=other, product_id=uuid4(), key_ids=[uuid4()],
                      delivery_type="card_key"),
    )  # fmt: skip
    assert outcome == "dead_lettered"
    after = await shop_rows(service, shop_a)
    assert {k: v for k, v in after.items() if k != "outbox"} == {
        k: v for k, v in before.items() if k != "outbox"
    }
    emitted = shop_of(await outbox(service, order))
    assert emitted == [("DeliveryNeedsAttention", str(shop_a)), ("KeysAllocated", str(other))]  # its DLQ
    record = (await api.get(f"/internal/deliveries/{order}", headers=acting_for(shop_a))).json()
    assert record["status"] == "manual"
