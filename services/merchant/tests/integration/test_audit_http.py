"""The audit log on the real PostgreSQL: the gateway records an entry once per request id (the first write
wins, also when ten arrive at once), the service's own database role can neither change nor remove one, and
a search filters by shop, actor, action, target and time, newest first, a page at a time; bad input is a 422
with a message and stores nothing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from faka_common.testing import as_caller
from merchant.bootstrap import Service
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from .conftest import query

ENTRIES = "/internal/audit-entries"
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def entry(**fields: Any) -> dict[str, Any]:
    return {
        "request_id": uuid4().hex,
        "occurred_at": T0.isoformat(),
        "actor_kind": "person",
        "actor_id": str(uuid4()),
        "actor_label": "owner@example.com",
        "shop_id": str(uuid4()),
        "action": "products.create",
        "target": "product_id=42",
        "client_ip": "203.0.113.7",
        "user_agent": "Mozilla/5.0 (test)",
        "summary": "name: 'Game card'",
        "outcome": 201,
        **fields,
    }


async def record(api: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    response = await api.post(ENTRIES, json=entry(**fields))
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def rows(service: Service) -> list[Any]:
    return await query(service, "SELECT * FROM audit_entries ORDER BY occurred_at, id")


async def search(api: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    response = await api.get(ENTRIES, params=params)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def test_an_entry_is_recorded_once_per_request_id_and_the_first_write_wins(
    api: httpx.AsyncClient, service: Service
) -> None:
    sent = entry(client_ip="2001:db8::1")
    first = await api.post(ENTRIES, json=sent)
    assert first.status_code == 201, first.text
    stored = first.json()
    assert {k: v for k, v in stored.items() if k not in ("entry_id", "occurred_at")} == {
        k: v for k, v in sent.items() if k != "occurred_at"
    }
    assert datetime.fromisoformat(stored["occurred_at"]) == T0

    again = await api.post(ENTRIES, json=sent)
    assert (again.status_code, again.json()) == (200, stored)
    other_body = await api.post(ENTRIES, json={**sent, "summary": "something else", "outcome": 500})
    assert (other_body.status_code, other_body.json()) == (200, stored)
    (row,) = await rows(service)
    assert (str(row.id), row.summary, row.outcome) == (stored["entry_id"], sent["summary"], 201)


async def test_ten_posts_of_one_request_id_at_once_store_one_entry(
    api: httpx.AsyncClient, service: Service
) -> None:
    request_id = uuid4().hex
    bodies = [entry(request_id=request_id, summary=f"attempt {n}") for n in range(10)]
    answers = await asyncio.gather(*(api.post(ENTRIES, json=body) for body in bodies))
    assert sorted(a.status_code for a in answers) == [200] * 9 + [201], [a.text for a in answers]
    assert len({a.json()["entry_id"] for a in answers}) == 1
    (row,) = await rows(service)
    assert str(row.id) == answers[0].json()["entry_id"]


async def test_the_services_own_role_can_neither_change_nor_remove_an_entry(
    api: httpx.AsyncClient, service: Service
) -> None:
    stored = await record(api)
    before = await rows(service)
    for statement in (
        "UPDATE audit_entries SET summary = 'nothing happened'",
        "DELETE FROM audit_entries",
        "TRUNCATE audit_entries",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            async with service.runtime.engine.begin() as connection:
                await connection.execute(text(statement))
    assert await rows(service) == before
    assert str(before[0].id) == stored["entry_id"]


async def test_a_shops_search_answers_that_shops_entries_only(api: httpx.AsyncClient) -> None:
    shop_a, shop_b = uuid4(), uuid4()
    mine = [await record(api, shop_id=str(shop_a)) for _ in range(3)]
    await record(api, shop_id=str(shop_b))
    platform = await record(api, shop_id=None, action="shops.create")

    found = await search(api, shop_id=str(shop_a))
    assert sorted(e["entry_id"] for e in found["items"]) == sorted(e["entry_id"] for e in mine)
    assert found["next"] is None
    everything = await search(api)
    assert len(everything["items"]) == 5
    assert platform["entry_id"] in {e["entry_id"] for e in everything["items"]}
    assert (await search(api, shop_id=str(uuid4())))["items"] == []


async def test_a_search_filters_by_actor_action_target_and_time(api: httpx.AsyncClient) -> None:
    shop, actor = uuid4(), uuid4()
    at = [T0 + timedelta(minutes=n) for n in range(4)]
    kept = await record(
        api, shop_id=str(shop), actor_id=str(actor), action="keys.export", target="product_id=7",
        occurred_at=at[1].isoformat(),
    )  # fmt: skip
    await record(api, shop_id=str(shop), actor_id=str(actor), action="keys.export", target="product_id=8")
    await record(api, shop_id=str(shop), actor_id=str(actor), action="keys.import", target="product_id=7")
    await record(api, shop_id=str(shop), action="keys.export", target="product_id=7")
    late = await record(
        api, shop_id=str(shop), actor_id=str(actor), action="keys.export", target="product_id=7",
        occurred_at=at[3].isoformat(),
    )  # fmt: skip

    def ids(page: dict[str, Any]) -> list[str]:
        return [e["entry_id"] for e in page["items"]]

    filters = {"shop_id": shop, "actor_id": actor, "action": "keys.export", "target": "product_id=7"}
    assert ids(await search(api, **filters)) == [late["entry_id"], kept["entry_id"]]
    assert ids(await search(api, **filters, since=at[1].isoformat(), until=at[3].isoformat())) == [
        kept["entry_id"]
    ]
    assert ids(await search(api, **filters, since=at[2].isoformat())) == [late["entry_id"]]
    assert ids(await search(api, **filters, until=at[1].isoformat())) == []


async def test_pages_run_newest_first_and_each_entry_comes_once(api: httpx.AsyncClient) -> None:
    shop = str(uuid4())
    # Two entries share each time: the cursor breaks ties by id, so no page repeats or skips one.
    made = [
        await record(api, shop_id=shop, occurred_at=(T0 + timedelta(seconds=n // 2)).isoformat())
        for n in range(7)
    ]
    seen: list[dict[str, Any]] = []
    pages = 0
    params: dict[str, Any] = {"shop_id": shop, "limit": 2}
    while True:
        page = await search(api, **params)
        pages += 1
        seen += page["items"]
        if page["next"] is None:
            break
        params["before"] = page["next"]
    assert pages == 4
    assert sorted(e["entry_id"] for e in seen) == sorted(e["entry_id"] for e in made)
    order = [(datetime.fromisoformat(e["occurred_at"]), UUID(e["entry_id"])) for e in seen]
    assert order == sorted(order, reverse=True)
    exactly = await search(api, shop_id=shop, limit=7)
    assert len(exactly["items"]) == 7 and exactly["next"] is None


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"summary": "a\x00b"}, "summary"),
        ({"actor_label": "\u202eevil"}, "actor_label"),
        ({"summary": "two\nlines"}, "summary"),
        ({"summary": " "}, "summary"),
        ({"summary": "x" * 1001}, "summary"),
        ({"request_id": ""}, "request_id"),
        ({"request_id": "r" * 65}, "request_id"),
        ({"occurred_at": "2026-12-01T12:00:00"}, "occurred_at"),
        ({"occurred_at": "0001-01-01T00:00:00+14:00"}, "occurred_at"),  # before year 1 in UTC
        ({"client_ip": "203.0.113.999"}, "client_ip"),
        ({"actor_kind": "robot"}, "actor_kind"),
        ({"actor_id": "not-a-uuid"}, "actor_id"),
        ({"action": "a" * 65}, "action"),
        ({"target": "t" * 257}, "target"),
        ({"user_agent": "u" * 513}, "user_agent"),
        ({"outcome": 42}, "outcome"),
        ({"id": str(uuid4())}, "id"),
    ],
)
async def test_a_bad_entry_is_a_422_naming_the_field_and_nothing_is_stored(
    shared_api: httpx.AsyncClient, shared_service: Service, fields: dict[str, Any], named: str
) -> None:
    response = await shared_api.post(ENTRIES, json=entry(**fields))
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_request"
    assert named in response.json()["message"]
    assert await rows(shared_service) == []


async def test_an_entry_must_state_its_shop_even_when_it_has_none(
    shared_api: httpx.AsyncClient, shared_service: Service
) -> None:
    body = entry()
    del body["shop_id"]
    response = await shared_api.post(ENTRIES, json=body)
    assert response.status_code == 422 and "shop_id" in response.json()["message"], response.text
    assert await rows(shared_service) == []


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"before": "not a cursor"}, "invalid_cursor"),
        ({"before": "MjAyNi0xMi0wMVQxMjowMDowMHxub3QtYS11dWlk"}, "invalid_cursor"),  # a time and no id
        ({"limit": 0}, "invalid_request"),
        ({"limit": 201}, "invalid_request"),
        ({"since": "2026-12-01T12:00:00"}, "invalid_request"),
        ({"until": "9999-12-31T23:59:59-14:00"}, "invalid_request"),
        ({"since": "2026-12-02T00:00:00Z", "until": "2026-12-01T00:00:00Z"}, "invalid_period"),
        ({"action": "a\x00b"}, "invalid_request"),
        ({"target": "t" * 257}, "invalid_request"),
        ({"shop_id": "shop-a"}, "invalid_request"),
    ],
)
async def test_a_bad_search_is_a_422_with_a_message(
    shared_api: httpx.AsyncClient, params: dict[str, Any], error: str
) -> None:
    response = await shared_api.get(ENTRIES, params=params)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == error and response.json()["message"]


@pytest.mark.parametrize("caller", ["order", "notification"])
async def test_only_the_gateway_records_and_searches(
    shared_api: httpx.AsyncClient, shared_service: Service, caller: str
) -> None:
    other = as_caller(caller)
    assert (await shared_api.post(ENTRIES, json=entry(), headers=other)).status_code == 403
    assert (await shared_api.get(ENTRIES, headers=other)).status_code == 403
    assert await rows(shared_service) == []
