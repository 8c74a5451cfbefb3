"""The buyer's order secrets on the order service's internal API: they travel in bodies (never in a URL),
tokens can be rotated by the seller, and the pay link follows the enabled providers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import httpx
import pytest
from faka_common.testing import asgi_client, statements_run
from order.adapters.inventory import Product
from order.entrypoints.api import order_app

from .conftest import ShopCatalog, order_api, order_service

pytestmark = pytest.mark.integration

PRODUCT = Product(uuid4(), "Game key", 1999, "CNY", True)


def Catalog() -> ShopCatalog:
    return ShopCatalog(PRODUCT)


def order(**extra: Any) -> dict[str, Any]:
    return {"product_id": str(PRODUCT.product_id), "quantity": 1, "buyer_email": "a@example.com", **extra}


async def placed_awaiting_payment(api: httpx.AsyncClient, db: Any) -> dict[str, Any]:
    response = await api.post("/internal/orders", json=order(query_password="pw-123456"))
    placed: dict[str, Any] = response.json()
    await db.fetch("UPDATE orders SET status = 'awaiting_payment' WHERE order_no = $1", placed["order_no"])
    return placed


async def shown(api: httpx.AsyncClient, placed: dict[str, Any]) -> dict[str, Any]:
    response = await api.post(f"/internal/orders/{placed['order_no']}/view", json={"token": placed["token"]})
    assert response.status_code == 200, response.text
    view: dict[str, Any] = response.json()
    return view


async def test_the_order_is_shown_for_a_secret_in_the_body_never_in_the_query(db: Any) -> None:
    async with order_api(db, Catalog()) as api:
        placed = await placed_awaiting_payment(api, db)
        path = f"/internal/orders/{placed['order_no']}"
        by_token = await api.post(f"{path}/view", json={"token": placed["token"]})
        by_password = await api.post(f"{path}/view", json={"password": "pw-123456"})
        in_query = await api.get(path, params={"token": placed["token"]})
    assert by_token.status_code == 200 and by_token.json()["order_no"] == placed["order_no"]
    assert by_password.status_code == 200
    assert in_query.status_code in (404, 405)


async def test_rotating_the_secret_revokes_the_old_token_and_the_new_one_works(db: Any) -> None:
    async with order_api(db, Catalog()) as api:
        placed = await placed_awaiting_payment(api, db)
        path = f"/internal/orders/{placed['order_no']}"
        rotated = await api.post(f"{path}/secret-rotations")
        old = await api.post(f"{path}/view", json={"token": placed["token"]})
        new = await api.post(f"{path}/view", json={"token": rotated.json()["token"]})
        password = await api.post(f"{path}/view", json={"password": "pw-123456"})
        unknown = await api.post("/internal/orders/F20990101000000ZZZZZZ/secret-rotations")
    assert rotated.status_code == 201, rotated.text
    assert rotated.json()["secret_version"] == 1 and rotated.json()["token_expires_at"]
    assert old.status_code == 404
    assert new.status_code == 200 and password.status_code == 200
    assert unknown.status_code == 404


async def test_the_view_tells_the_gateway_how_the_secret_opened_the_order(db: Any) -> None:
    """By a token: of which secret version and until when (the order page's stream then tells the delivery
    from its announcement while that still holds); by the query password, which rotations leave alone."""
    async with order_api(db, Catalog()) as api:
        placed = await placed_awaiting_payment(api, db)
        path = f"/internal/orders/{placed['order_no']}"
        by_token = (await api.post(f"{path}/view", json={"token": placed["token"]})).json()["access"]
        rotated = (await api.post(f"{path}/secret-rotations")).json()
        by_new_token = (await api.post(f"{path}/view", json={"token": rotated["token"]})).json()["access"]
        wrong_token_right_password = {"token": placed["token"], "password": "pw-123456"}
        by_password = (await api.post(f"{path}/view", json=wrong_token_right_password)).json()["access"]
    assert by_token["by"] == "token" and by_token["secret_version"] == 0
    assert datetime.fromisoformat(by_token["until"]) > datetime.now(UTC)
    assert by_new_token == {"by": "token", "secret_version": 1, "until": rotated["token_expires_at"]}
    assert by_password == {"by": "password"}


async def test_the_pay_link_is_the_sandbox_checkout_only_when_the_sandbox_is_enabled(db: Any) -> None:
    async with order_api(db, Catalog()) as api:
        placed = await placed_awaiting_payment(api, db)
        view = await shown(api, placed)
    assert "/pay/sandbox/" in view["pay_url"] and view["payment_methods"] == ["sandbox"]
    epay = {
        "payment_providers": ["epay"],
        "epay_url": "https://pay.example.com",
        "epay_pid": "1001",
        "epay_key": "k" * 32,
    }
    async with order_api(db, Catalog(), **epay) as api:
        view = await shown(api, placed)
    assert view["payment_methods"] == ["epay"]
    assert view["pay_url"] is None


async def test_a_replayed_placement_gets_its_token_again_and_the_kept_answer_holds_none(db: Any) -> None:
    key = {"Idempotency-Key": "checkout-1"}
    async with order_api(db, Catalog()) as api:
        first = (await api.post("/internal/orders", json=order(), headers=key)).json()
        again = await api.post("/internal/orders", json=order(), headers=key)
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json()["token"] == first["token"]
        assert (await shown(api, first))["order_no"] == first["order_no"]
        [kept] = await db.fetch("SELECT response::text AS response FROM idempotency_keys")
        assert first["order_no"] in kept["response"] and first["token"] not in kept["response"]
        await api.post(f"/internal/orders/{first['order_no']}/secret-rotations")
        replayed_after_rotation = (await api.post("/internal/orders", json=order(), headers=key)).json()
        view = await api.post(f"/internal/orders/{first['order_no']}/view", json=replayed_after_rotation)
    assert view.status_code == 404


async def test_the_view_of_an_order_awaiting_payment_reads_it_with_what_it_may_be_paid_with_in_one_statement(
    db: Any,
) -> None:
    """The order page's view (twice a sale) reads the order and its shop's enabled channels together."""
    async with order_service(db, Catalog()) as service, asgi_client(order_app(service), "order") as api:
        placed = await placed_awaiting_payment(api, db)
        await shown(api, placed)  # the connection's codecs set up
        async with statements_run(service.runtime.engine) as sent:
            view = await shown(api, placed)
    assert view["status"] == "awaiting_payment" and view["payment_methods"] == ["sandbox"]
    assert len(sent) == 1, sent
    assert "FROM orders" in sent[0] and "payment_channels" in sent[0]


async def test_the_view_before_payment_carries_the_link_and_methods_it_will_show_once_awaiting_payment(
    db: Any,
) -> None:
    """So the order page's stream shows the move to awaiting payment with no read of its own; the link is
    the one the view awaiting payment shows (the same token), and nothing is offered before then."""
    async with order_api(db, Catalog()) as api:
        placed = (await api.post("/internal/orders", json=order())).json()
        before = await shown(api, placed)
        await db.fetch(
            "UPDATE orders SET status = 'awaiting_payment' WHERE order_no = $1", placed["order_no"]
        )
        awaiting = await shown(api, placed)
    assert before["status"] == "pending_risk"
    assert (before["pay_url"], before["payment_methods"]) == (None, [])
    assert "/pay/sandbox/" in awaiting["pay_url"] and awaiting["payment_methods"] == ["sandbox"]
    once = {"pay_url": awaiting["pay_url"], "payment_methods": awaiting["payment_methods"]}
    assert before["once_awaiting_payment"] == once
    assert "once_awaiting_payment" not in awaiting
