"""Shops in the risk service: a decision belongs to the shop of the order it is about; another shop asking
for it is told there is none, and the verdict goes out with the order's shop."""

from __future__ import annotations

from uuid import UUID, uuid4

import httpx
import pytest
from faka_common.contracts import OrderPlaced
from faka_common.http import SHOP_HEADER
from faka_common.testing import OPERATIONAL_ROUTES, shop_scoping
from risk.bootstrap import Service

from .conftest import emitted, feed, the_app

pytestmark = pytest.mark.integration

#: The platform's rule set is above every shop's: the gateway's platform routes alone reach it.
NOT_SHOP_OWNED = OPERATIONAL_ROUTES | {
    ("GET", "/internal/platform-rules"),
    ("PUT", "/internal/platform-rules"),
}
SCOPED = {
    ("GET", "/internal/decisions/{order_id}"),
    ("GET", "/internal/rules"),
    ("PUT", "/internal/rules"),
    ("GET", "/internal/rules/history"),
    ("GET", "/internal/reviews"),
    ("POST", "/internal/reviews/{order_id}/approve"),
    ("POST", "/internal/reviews/{order_id}/reject"),
}


def placed(shop: UUID, quantity: int = 1) -> OrderPlaced:
    return OrderPlaced(
        order_id=uuid4(),
        shop_id=shop,
        order_no="F1",
        product_id=uuid4(),
        product_title="Card",
        quantity=quantity,
        amount=100 * quantity,
        currency="CNY",
        buyer_email="a@example.com",
    )


async def test_every_route_is_scoped_by_the_shop_or_listed_as_not_shop_owned(service: Service) -> None:
    scoping = shop_scoping(the_app(service))
    assert scoping.unscoped == NOT_SHOP_OWNED, "a route that is not shop-owned must be listed as such"
    assert scoping.scoped == SCOPED, "every scoped route needs an isolation test"


async def test_a_decision_is_read_by_its_shop_only_and_another_shop_gets_the_answer_for_no_decision(
    service: Service, api: httpx.AsyncClient
) -> None:
    shop_a, shop_b = uuid4(), uuid4()
    order = placed(shop_a, quantity=11)
    assert await feed(service, order) == "handled"
    path = f"/internal/decisions/{order.order_id}"

    as_b = await api.get(path, headers={SHOP_HEADER: str(shop_b)})
    unknown = await api.get(f"/internal/decisions/{uuid4()}", headers={SHOP_HEADER: str(shop_b)})
    as_default = await api.get(path)
    as_a = await api.get(path, headers={SHOP_HEADER: str(shop_a)})

    assert as_b.status_code == unknown.status_code == as_default.status_code == 404
    assert as_b.json()["error"] == unknown.json()["error"] and "exceeds" not in as_b.text
    assert as_a.status_code == 200 and as_a.json()["verdict"] == "reject"


async def test_the_verdict_goes_out_with_the_shop_of_the_placed_order(service: Service) -> None:
    shop = uuid4()
    order = placed(shop)
    await feed(service, order)
    [decided] = await emitted(service, order.order_id)
    assert decided["type"] == "RiskDecided"
    assert decided["payload"]["shop_id"] == str(shop) and decided["payload"]["verdict"] == "approve"


async def test_the_same_order_placed_again_under_another_shop_changes_nothing(
    service: Service, api: httpx.AsyncClient
) -> None:
    shop_a = uuid4()
    order = placed(shop_a)
    await feed(service, order)
    await feed(service, order.model_copy(update={"shop_id": uuid4(), "quantity": 11}))
    assert [m["payload"]["shop_id"] for m in await emitted(service, order.order_id)] == [str(shop_a)]
    as_a = await api.get(f"/internal/decisions/{order.order_id}", headers={SHOP_HEADER: str(shop_a)})
    assert as_a.json()["verdict"] == "approve"


async def test_a_shops_rules_and_reviews_are_its_own_and_another_shop_can_neither_see_nor_resolve_them(
    service: Service, api: httpx.AsyncClient
) -> None:
    shop_a, shop_b = uuid4(), uuid4()
    rules = {"rules": [{"type": "disposable_email", "action": "review"}], "changed_by": "owner@a.example"}
    assert (
        await api.put("/internal/rules", json=rules, headers={SHOP_HEADER: str(shop_a)})
    ).status_code == 200
    order = placed(shop_a).model_copy(update={"buyer_email": "x@mailinator.com"})
    await feed(service, order)
    as_a, as_b = ({SHOP_HEADER: str(shop_a)}, {SHOP_HEADER: str(shop_b)})

    assert (await api.get("/internal/rules", headers=as_b)).json()["version"] == 0
    assert (await api.get("/internal/reviews", headers=as_b)).json()["items"] == []
    path = f"/internal/reviews/{order.order_id}"
    approve = await api.post(f"{path}/approve", json={"reviewed_by": "b"}, headers=as_b)
    reject = await api.post(f"{path}/reject", json={"reviewed_by": "b", "reason": "no"}, headers=as_b)
    assert approve.status_code == reject.status_code == 404

    assert (await api.get("/internal/rules", headers=as_a)).json()["version"] == 1
    [review] = (await api.get("/internal/reviews", headers=as_a)).json()["items"]
    assert review["order_id"] == str(order.order_id) and review["status"] == "open"
