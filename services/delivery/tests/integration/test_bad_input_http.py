"""Odd values sent to delivery's operator routes are a clear 4xx naming the field, never a 500."""

from __future__ import annotations

import json
from typing import Any
from uuid import uuid4

import httpx
import pytest

from .conftest import SECRET
from .test_recharge import unique

pytestmark = pytest.mark.integration
ROUTE = "/internal/products/{order}/routes/{supplier}"


async def send(api: httpx.AsyncClient, method: str, path: str, body: Any) -> httpx.Response:
    return await api.request(
        method, path, content=json.dumps(body), headers={"content-type": "application/json"}
    )


def supplier(**extra: Any) -> dict[str, Any]:
    return {
        "name": unique("s"),
        "kind": "http_json",
        "base_url": "http://127.0.0.1:9",
        "secret": SECRET,
        **extra,
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (supplier(config={"merchant_id": "m\x00"}), "config"),
        (supplier(config={"status_map": {"ok\x00": "succeeded"}}), "config"),
        (supplier(config={"submit_path": "/orders\u202e"}), "config"),
        (supplier(config={"permanent_codes": ["\ud800"]}), "config"),
        (supplier(config={"submit_path": "http://169.254.169.254/latest"}), "submit_path"),
        (supplier(config={"balance_path": "//10.0.0.1/balance"}), "balance_path"),
        (supplier(base_url="http://127.0.0.1:9/\x00"), "base_url"),
    ],
)
async def test_odd_supplier_settings_are_refused(
    api: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    refused = await send(api, "POST", "/internal/suppliers", body)
    assert refused.status_code in (400, 422), refused.text
    assert field in refused.json()["message"]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/internal/manual-tasks/{order}/claim", {"operator": "al\x00ice"}, "operator"),
        ("/internal/manual-tasks/{order}/reject", {"operator": "alice", "reason": "no\x00pe"}, "reason"),
        ("/internal/manual-tasks/{order}/deliver", {"operator": "alice", "content": "key\x00"}, "content"),
        ("/internal/suppliers/{supplier}/claims", {"order_id": "{order}", "amount": 1, "reason": "x\x00",
                                                   "recorded_by": "alice"}, "reason"),
        ("/internal/suppliers/{supplier}/claims", {"order_id": "{order}", "amount": 10**19, "reason": "x",
                                                   "recorded_by": "alice"}, "amount"),
        (ROUTE, {"supplier_sku": "sku\x00", "cost": 1}, "supplier_sku"),
        (ROUTE, {"supplier_sku": "sku", "cost": 10**19}, "cost"),
    ],
)  # fmt: skip
async def test_odd_operator_input_is_refused(
    api: httpx.AsyncClient, path: str, body: dict[str, Any], field: str
) -> None:
    created = await api.post("/internal/suppliers", json=supplier())
    ids = {"order": str(uuid4()), "supplier": created.json()["supplier_id"]}
    body = {k: v.format(**ids) if isinstance(v, str) and "{" in v else v for k, v in body.items()}
    method = "PUT" if "/routes/" in path else "POST"
    refused = await send(api, method, path.format(**ids), body)
    assert refused.status_code == 422, refused.text
    assert field in refused.json()["message"]
