"""The merchant service's internal shop API over ASGI on a migrated database: every answer, and the one
ShopChanged (the whole shop) each change leaves in the outbox."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from faka_common.contracts import DEFAULT_SHOP_ID, ShopChanged
from merchant.bootstrap import Service

from .conftest import outbox

EVENT_FIELDS = ("shop_id", "slug", "name", "status", "currency", "languages", "domains", "contact")


def announced(view: dict[str, Any]) -> dict[str, Any]:
    """What a ShopChanged says of the shop `view` shows: all of it but the timestamps."""
    return {field: view[field] for field in EVENT_FIELDS}


async def open_shop(api: httpx.AsyncClient, slug: str = "game-cards", **fields: Any) -> dict[str, Any]:
    response = await api.post("/internal/shops", json={"slug": slug, "name": "Game cards", **fields})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def events_of(service: Service, shop_id: str) -> list[dict[str, Any]]:
    envelopes = await outbox(service, shop_id)
    assert all(e.type == "ShopChanged" and e.producer == "merchant" for e in envelopes)
    return [e.payload for e in envelopes]


async def test_the_migration_opens_the_default_shop_and_announces_it_once(
    api: httpx.AsyncClient, service: Service
) -> None:
    shop = (await api.get(f"/internal/shops/{DEFAULT_SHOP_ID}")).json()
    assert announced(shop) == {
        "shop_id": str(DEFAULT_SHOP_ID),
        "slug": "default",
        "name": "Default shop",
        "status": "active",
        "currency": "CNY",
        "languages": ["zh-CN", "en"],
        "domains": [],
        "contact": "",
    }
    (envelope,) = await outbox(service)
    assert (envelope.type, envelope.version, envelope.producer) == ("ShopChanged", 1, "merchant")
    event = envelope.open()
    assert isinstance(event, ShopChanged) and event.key == str(DEFAULT_SHOP_ID)
    assert event.model_dump(mode="json") == announced(shop)
    assert (await api.get("/internal/shops/resolve", params={"slug": "default"})).json() == shop


async def test_opening_a_shop_answers_it_and_announces_the_whole_shop_once(
    api: httpx.AsyncClient, service: Service
) -> None:
    shop = await open_shop(
        api,
        contact="tg: @gamecards",
        currency="USD",
        languages=["en"],
        domains=["Cards.Example.com", "cards.example.net."],
    )
    assert announced(shop) == {
        "shop_id": shop["shop_id"],
        "slug": "game-cards",
        "name": "Game cards",
        "status": "pending",
        "currency": "USD",
        "languages": ["en"],
        "domains": ["cards.example.com", "cards.example.net"],
        "contact": "tg: @gamecards",
    }
    assert (await api.get(f"/internal/shops/{shop['shop_id']}")).json() == shop
    assert await events_of(service, shop["shop_id"]) == [announced(shop)]


async def test_a_shop_can_be_opened_active_at_once(api: httpx.AsyncClient) -> None:
    assert (await open_shop(api, status="active"))["status"] == "active"


async def test_a_taken_slug_is_a_conflict_and_stores_nothing(
    api: httpx.AsyncClient, service: Service
) -> None:
    await open_shop(api)
    before = len(await outbox(service))
    response = await api.post("/internal/shops", json={"slug": "game-cards", "name": "Other cards"})
    assert response.status_code == 409
    assert response.json() == {"error": "slug_taken", "message": "slug 'game-cards' belongs to another shop"}
    assert len(await outbox(service)) == before
    assert [s["slug"] for s in (await api.get("/internal/shops")).json()["items"]] == [
        "default",
        "game-cards",
    ]


async def test_a_domain_of_another_shop_is_a_conflict_on_opening_and_on_changing(
    api: httpx.AsyncClient, service: Service
) -> None:
    first = await open_shop(api, domains=["cards.example.com"])
    refused = await api.post(
        "/internal/shops", json={"slug": "other-cards", "name": "Other", "domains": ["CARDS.example.com"]}
    )
    assert refused.status_code == 409 and refused.json()["error"] == "domain_taken"
    assert "cards.example.com" in refused.json()["message"]
    assert (await api.get("/internal/shops/resolve", params={"slug": "other-cards"})).status_code == 404

    second = await open_shop(api, "other-cards", domains=["other.example.com"])
    changed = await api.patch(
        f"/internal/shops/{second['shop_id']}", json={"domains": ["other.example.com", "cards.example.com"]}
    )
    assert changed.status_code == 409 and changed.json()["error"] == "domain_taken"
    assert (await api.get(f"/internal/shops/{second['shop_id']}")).json() == second
    assert await events_of(service, second["shop_id"]) == [announced(second)]
    resolved = await api.get("/internal/shops/resolve", params={"host": "cards.example.com"})
    assert resolved.json()["shop_id"] == first["shop_id"]


async def test_a_shop_is_resolved_by_its_slug_or_any_of_its_domains(api: httpx.AsyncClient) -> None:
    shop = await open_shop(api, domains=["cards.example.com", "shop.example.cn"])
    for params in (
        {"slug": "game-cards"},
        {"host": "cards.example.com"},
        {"host": "SHOP.example.CN."},
    ):
        response = await api.get("/internal/shops/resolve", params=params)
        assert response.status_code == 200 and response.json() == shop, params


async def test_changing_settings_announces_the_whole_shop_once_per_change(
    api: httpx.AsyncClient, service: Service
) -> None:
    shop = await open_shop(api, domains=["cards.example.com"])
    response = await api.patch(
        f"/internal/shops/{shop['shop_id']}",
        json={"name": "Cards & more", "contact": "mail: a@example.com", "domains": ["New.example.com"]},
    )
    assert response.status_code == 200
    changed = response.json()
    assert announced(changed) == {
        **announced(shop),
        "name": "Cards & more",
        "contact": "mail: a@example.com",
        "domains": ["new.example.com"],
    }
    assert changed["updated_at"] > shop["updated_at"] and changed["created_at"] == shop["created_at"]
    assert await events_of(service, shop["shop_id"]) == [announced(shop), announced(changed)]
    gone = await api.get("/internal/shops/resolve", params={"host": "cards.example.com"})
    assert gone.status_code == 404

    again = await api.patch(f"/internal/shops/{shop['shop_id']}", json={"name": "Cards & more"})
    assert again.status_code == 200 and again.json() == changed
    assert len(await events_of(service, shop["shop_id"])) == 2

    emptied = await api.patch(
        f"/internal/shops/{shop['shop_id']}", json={"domains": [], "currency": "USD", "languages": ["en"]}
    )
    assert announced(emptied.json()) == {
        **announced(changed),
        "domains": [],
        "currency": "USD",
        "languages": ["en"],
    }
    assert (await events_of(service, shop["shop_id"]))[-1] == announced(emptied.json())


async def test_a_shop_goes_through_its_lifecycle_each_step_announced(
    api: httpx.AsyncClient, service: Service
) -> None:
    shop = await open_shop(api)
    path = f"/internal/shops/{shop['shop_id']}/status"
    seen = [shop["status"]]
    for status in ("active", "suspended", "active", "suspended", "closed"):
        response = await api.post(path, json={"status": status})
        assert response.status_code == 200 and response.json()["status"] == status
        seen.append(status)
    assert [event["status"] for event in await events_of(service, shop["shop_id"])] == seen
    events = await events_of(service, shop["shop_id"])
    assert events[-1] == announced((await api.get(f"/internal/shops/{shop['shop_id']}")).json())


async def test_a_refused_status_change_is_a_conflict_that_says_why_and_changes_nothing(
    api: httpx.AsyncClient, service: Service
) -> None:
    shop = await open_shop(api)
    path = f"/internal/shops/{shop['shop_id']}/status"
    refused = await api.post(path, json={"status": "suspended"})
    assert refused.status_code == 409
    assert refused.json() == {
        "error": "status_change_refused",
        "message": "shop 'game-cards' is pending and cannot become suspended: it can become active or closed",
    }
    assert (await api.post(path, json={"status": "closed"})).status_code == 200
    reopened = await api.post(path, json={"status": "active"})
    assert reopened.status_code == 409 and "closing a shop is final" in reopened.json()["message"]
    renamed = await api.patch(f"/internal/shops/{shop['shop_id']}", json={"name": "Back again"})
    assert renamed.status_code == 409 and renamed.json()["error"] == "shop_closed"
    assert [e["status"] for e in await events_of(service, shop["shop_id"])] == ["pending", "closed"]
    assert (await api.get(f"/internal/shops/{shop['shop_id']}")).json()["name"] == "Game cards"


async def test_asking_for_the_status_a_shop_has_changes_and_announces_nothing(
    api: httpx.AsyncClient, service: Service
) -> None:
    shop = await open_shop(api)
    response = await api.post(f"/internal/shops/{shop['shop_id']}/status", json={"status": "pending"})
    assert response.status_code == 200 and response.json() == shop
    assert await events_of(service, shop["shop_id"]) == [announced(shop)]
    unknown = await api.post(f"/internal/shops/{shop['shop_id']}/status", json={"status": "open"})
    assert unknown.status_code == 422


async def test_shops_are_listed_a_page_at_a_time_in_slug_order(api: httpx.AsyncClient) -> None:
    for slug in ("delta", "alpha", "charlie", "bravo"):
        await open_shop(api, slug)
    bravo = (await api.get("/internal/shops/resolve", params={"slug": "bravo"})).json()
    await api.post(f"/internal/shops/{bravo['shop_id']}/status", json={"status": "active"})
    slugs: list[str] = []
    after: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"after": after} if after else {})
        page = (await api.get("/internal/shops", params=params)).json()
        slugs += [shop["slug"] for shop in page["items"]]
        pages += 1
        after = page["next_after"]
        if after is None:
            break
    assert slugs == ["alpha", "bravo", "charlie", "default", "delta"]
    assert pages == 3
    active = (await api.get("/internal/shops", params={"status": "active"})).json()
    assert [shop["slug"] for shop in active["items"]] == ["bravo", "default"]
    both = (await api.get("/internal/shops", params=[("status", "active"), ("status", "pending")])).json()
    assert len(both["items"]) == 5


async def test_changes_to_one_shop_at_once_each_build_on_the_other(
    api: httpx.AsyncClient, service: Service
) -> None:
    shop = await open_shop(api)
    path = f"/internal/shops/{shop['shop_id']}"
    answers = await asyncio.gather(
        api.patch(path, json={"name": "Renamed"}),
        api.patch(path, json={"contact": "tg: @renamed"}),
        api.patch(path, json={"domains": ["cards.example.com"]}),
    )
    assert [a.status_code for a in answers] == [200] * 3
    final = (await api.get(path)).json()
    assert (final["name"], final["contact"], final["domains"]) == (
        "Renamed",
        "tg: @renamed",
        ["cards.example.com"],
    )
    events = await events_of(service, shop["shop_id"])
    assert len(events) == 4 and events[-1] == announced(final)
    changed = [sum(event[f] != shop[f] for f in ("name", "contact", "domains")) for event in events]
    assert changed == [0, 1, 2, 3], "a change was written over another instead of after it"


async def test_the_platforms_fee_rate_is_set_per_shop_back_to_the_default_and_checked(
    api: httpx.AsyncClient, service: Service
) -> None:
    shop = await open_shop(api)
    assert shop["fee_rate_bps"] is None  # the platform's default
    path = f"/internal/shops/{shop['shop_id']}/fee-rate"
    set_ = await api.put(path, json={"fee_rate_bps": 250})
    assert set_.status_code == 200 and set_.json()["fee_rate_bps"] == 250, set_.text
    assert (await api.get(f"/internal/shops/{shop['shop_id']}")).json()["fee_rate_bps"] == 250
    for wrong in (-1, 10_001, "2.5%"):
        refused = await api.put(path, json={"fee_rate_bps": wrong})
        assert refused.status_code == 422 and "fee_rate_bps" in refused.text, refused.text
    assert (await api.get(f"/internal/shops/{shop['shop_id']}")).json()["fee_rate_bps"] == 250
    back = await api.put(path, json={"fee_rate_bps": None})
    assert back.status_code == 200 and back.json()["fee_rate_bps"] is None
    unknown = await api.put(f"/internal/shops/{uuid.uuid4()}/fee-rate", json={"fee_rate_bps": 1})
    assert unknown.status_code == 404, unknown.text


async def test_fee_rates_of_many_shops_come_in_one_call_named_or_every_set_one(
    api: httpx.AsyncClient,
) -> None:
    at_250, at_default, at_0 = [await open_shop(api, f"rates-{n}") for n in (1, 2, 3)]
    for shop, rate in ((at_250, 250), (at_0, 0)):
        path = f"/internal/shops/{shop['shop_id']}/fee-rate"
        assert (await api.put(path, json={"fee_rate_bps": rate})).is_success
    unknown = str(uuid.uuid4())
    named = [at_250["shop_id"], at_default["shop_id"], at_0["shop_id"], unknown]
    answer = await api.get("/internal/shops/fee-rates", params={"shop_id": named})
    assert answer.status_code == 200, answer.text
    rates = {item["shop_id"]: item["fee_rate_bps"] for item in answer.json()["items"]}
    assert rates == {at_250["shop_id"]: 250, at_default["shop_id"]: None, at_0["shop_id"]: 0}
    every = (await api.get("/internal/shops/fee-rates")).json()["items"]
    every_set = {item["shop_id"]: item["fee_rate_bps"] for item in every}
    assert every_set[at_250["shop_id"]] == 250 and every_set[at_0["shop_id"]] == 0
    assert at_default["shop_id"] not in every_set and None not in every_set.values()
    too_many = await api.get("/internal/shops/fee-rates", params={"shop_id": [unknown] * 201})
    assert too_many.status_code == 422 and "shop_id" in too_many.text, too_many.text
    malformed = await api.get("/internal/shops/fee-rates", params={"shop_id": "nope"})
    assert malformed.status_code == 422 and "shop_id" in malformed.text, malformed.text
