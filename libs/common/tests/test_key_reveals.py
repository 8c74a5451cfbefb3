"""Key reveals asked at the same moment go to inventory in one request, and each asker gets its own order's
answer (or its own NotFound); reveals asked one after another are not held back for company."""

from __future__ import annotations

import asyncio
import json
from uuid import UUID, uuid4

import httpx
import pytest
from faka_common.errors import NotFound, Unavailable
from faka_common.http import InternalClient
from faka_common.key_reveals import REVEALS_PATH, KeyReveals
from faka_common.service_auth import ServiceCredential


class Inventory:
    """The batch route as inventory answers it: the orders it holds keys of for the named shop."""

    def __init__(self, held: dict[UUID, UUID]) -> None:
        self.held = held  # order -> its shop
        self.batches: list[list[dict[str, str]]] = []
        self.down = False
        self.garbled = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == REVEALS_PATH and request.method == "POST"
        assert "X-Shop-Id" not in request.headers  # each order names its shop in the body
        asked = json.loads(request.content)["orders"]
        self.batches.append(asked)
        if self.down:
            return httpx.Response(502)
        if self.garbled:
            return httpx.Response(200, json={"orders": [{"keys": []}]})
        found = [
            {**named, "keys": [{"key_id": str(uuid4()), "content": f"K-{named['order_id']}"}]}
            for named in asked
            if self.held.get(UUID(named["order_id"])) == UUID(named["shop_id"])
        ]
        return httpx.Response(200, json={"orders": found})


def reveals(inventory: Inventory, **options: int) -> KeyReveals:
    credential = ServiceCredential("notification", "t" * 40)
    client = InternalClient("http://inventory.test", credential, transport=httpx.MockTransport(inventory))
    return KeyReveals(client, **options)


async def test_reveals_asked_together_go_in_one_request_and_each_asker_gets_its_own() -> None:
    shop, other = uuid4(), uuid4()
    mine, theirs, unknown = uuid4(), uuid4(), uuid4()
    inventory = Inventory({mine: shop, theirs: other})
    keys = reveals(inventory)

    answers = await asyncio.gather(
        keys.order_keys(shop, mine),
        keys.order_keys(shop, theirs),  # another shop's order, named with this shop
        keys.order_keys(other, theirs),
        keys.order_keys(shop, unknown),
        return_exceptions=True,
    )

    assert len(inventory.batches) == 1
    assert inventory.batches[0] == [
        {"order_id": str(order), "shop_id": str(named)}
        for order, named in ((mine, shop), (theirs, shop), (theirs, other), (unknown, shop))
    ]
    first, refused, second, missing = answers
    assert isinstance(first, dict) and first["keys"][0]["content"] == f"K-{mine}"
    assert isinstance(second, dict) and second["keys"][0]["content"] == f"K-{theirs}"
    for error, order in ((refused, theirs), (missing, unknown)):
        assert isinstance(error, NotFound) and str(order) in error.message


async def test_a_batch_is_cut_at_its_most_orders() -> None:
    shop = uuid4()
    orders = [uuid4() for _ in range(5)]
    inventory = Inventory(dict.fromkeys(orders, shop))

    keys = reveals(inventory, max_batch=2)
    answers = await asyncio.gather(*(keys.order_keys(shop, order) for order in orders))

    assert [len(batch) for batch in inventory.batches] == [2, 2, 1]
    assert [answer["order_id"] for answer in answers] == [str(order) for order in orders]


async def test_reveals_asked_one_after_another_each_go_at_once() -> None:
    shop = uuid4()
    orders = [uuid4() for _ in range(3)]
    inventory = Inventory(dict.fromkeys(orders, shop))
    keys = reveals(inventory)

    for order in orders:
        assert (await keys.order_keys(shop, order))["order_id"] == str(order)

    assert [[named["order_id"] for named in batch] for batch in inventory.batches] == [
        [str(o)] for o in orders
    ]


async def test_when_the_request_fails_or_its_answer_does_not_fit_every_asker_of_the_batch_is_told() -> None:
    shop = uuid4()
    orders = [uuid4() for _ in range(3)]
    inventory = Inventory(dict.fromkeys(orders, shop))
    inventory.down = True
    keys = reveals(inventory)

    answers = await asyncio.gather(
        *(keys.order_keys(shop, order) for order in orders), return_exceptions=True
    )

    assert len(inventory.batches) == 1
    assert all(isinstance(answer, Unavailable) for answer in answers)
    inventory.down, inventory.garbled = False, True
    with pytest.raises(Unavailable, match="unexpected reveals body"):  # a mismatched release, told as such
        await keys.order_keys(shop, orders[0])
    inventory.garbled = False
    revealed = await keys.order_keys(shop, orders[0])  # nothing kept of the failures
    assert revealed["order_id"] == str(orders[0])
