"""Notification reads an order's keys and delivered content as itself, for the order's shop: its own
credential names it, and the owners audit that name as the reader (no reader parameter a caller could set)."""

import json
from uuid import uuid4

import httpx
from faka_common.http import InternalClient
from faka_common.key_reveals import REVEALS_PATH, KeyReveals
from notification.adapters.delivery import DeliveredContent
from notification.adapters.inventory import InventoryKeys
from notification.config import Settings


async def test_keys_and_content_are_read_for_the_orders_shop_with_notifications_own_credential() -> None:
    settings = Settings()
    order_id = uuid4()
    seen: list[httpx.Request] = []

    def owner(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == REVEALS_PATH:
            keys = [{"key_id": str(uuid4()), "content": "K"}]
            [asked] = json.loads(request.content)["orders"]
            return httpx.Response(200, json={"orders": [{**asked, "keys": keys}]})
        return httpx.Response(200, json={"order_id": str(order_id), "content": "C"})

    def client() -> InternalClient:
        return InternalClient(
            "http://owner.test", settings.credential(), transport=httpx.MockTransport(owner)
        )

    shop = uuid4()
    assert (await InventoryKeys(KeyReveals(client())).order_keys(shop, order_id)).keys == ["K"]
    assert (await DeliveredContent(client()).order_keys(shop, order_id)).keys == ["C"]
    assert [r.url.path for r in seen] == [REVEALS_PATH, f"/internal/deliveries/{order_id}/content"]
    for request in seen:
        assert request.url.query == b""
        assert request.headers["X-Internal-Caller"] == "notification"
        assert request.headers["X-Internal-Token"] == settings.service_token.get_secret_value()
    # the order's shop, so its owner scopes the read: in the batch's body for the keys, in X-Shop-Id else
    assert json.loads(seen[0].content) == {"orders": [{"order_id": str(order_id), "shop_id": str(shop)}]}
    assert seen[1].headers["X-Shop-Id"] == str(shop)
