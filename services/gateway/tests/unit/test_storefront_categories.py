"""The storefront home's category names: kept a while per shop, and the kept ones used while the inventory
cannot answer, so the home never fails for want of them."""

import uuid
from typing import Any

import httpx
from faka_common.errors import Unavailable
from gateway.service_layer.storefront_categories import CategoryNames

SHOP = uuid.uuid4()
GIFT_CARDS = {"category_id": str(uuid.uuid4()), "name": "Gift cards", "sort_order": 1, "visible": True}


class Inventory:
    def __init__(self) -> None:
        self.asked: list[tuple[str, uuid.UUID | None]] = []
        self.down = False

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        self.asked.append((path, kwargs.get("shop")))
        if self.down:
            raise Unavailable("inventory unreachable")
        request = httpx.Request(method, f"http://inventory{path}")
        return httpx.Response(200, json={"items": [GIFT_CARDS]}, request=request)


class Gateway:
    def __init__(self) -> None:
        self.inventory = Inventory()


async def test_a_shops_category_names_are_asked_once_per_while_and_for_that_shop() -> None:
    now = [0.0]
    names, gw = CategoryNames(ttl=30, clock=lambda: now[0]), Gateway()
    assert await names.of(gw, SHOP) == [GIFT_CARDS]  # type: ignore[arg-type]
    now[0] = 29
    assert await names.of(gw, SHOP) == [GIFT_CARDS]  # type: ignore[arg-type]
    assert gw.inventory.asked == [("/internal/categories", SHOP)]
    now[0] = 31
    await names.of(gw, SHOP)  # type: ignore[arg-type]
    assert len(gw.inventory.asked) == 2


async def test_kept_names_are_used_however_old_while_the_inventory_is_down_and_none_for_a_new_shop() -> None:
    now = [0.0]
    names, gw = CategoryNames(ttl=30, clock=lambda: now[0]), Gateway()
    await names.of(gw, SHOP)  # type: ignore[arg-type]
    gw.inventory.down, now[0] = True, 3600
    assert await names.of(gw, SHOP) == [GIFT_CARDS]  # type: ignore[arg-type]
    assert await names.of(gw, uuid.uuid4()) == []  # type: ignore[arg-type]
