"""What the gateway's OpenAPI document promises, checked against the bare app (no owners are reached: every
request here is answered at the edge)."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from gateway.adapters.principals import PLATFORM_ADMIN_SECRET, KnownPrincipals
from gateway.adapters.shops import KnownShops
from gateway.bootstrap import build_gateway
from gateway.config import Settings
from gateway.entrypoints.routers import edge_app

ADMIN = {"Authorization": f"Bearer {PLATFORM_ADMIN_SECRET}"}
PRODUCT_ID = "0190f3a2-7c1e-7d4b-9a8e-2f6c1b5d4e3a"
SUPPLIER_ID = "0190f3a2-0000-7d4b-9a8e-2f6c1b5d4e3a"
ERROR_BODY = "#/components/schemas/ErrorBody"


@pytest.fixture
async def app() -> AsyncIterator[Any]:
    gateway = build_gateway(
        principals=KnownPrincipals.platform_admin(),
        shops=KnownShops.default_only(),
        settings=Settings(lookup_limit_storage_url="memory://"),
    )
    yield edge_app(gateway)
    await gateway.aclose()


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw.test") as c:
        yield c


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def test_every_admin_route_documents_its_refusals_in_the_error_shape(app: Any) -> None:
    admin = [(m, p, op) for m, p, op in operations(app.openapi()) if p.startswith("/api/admin/")]
    assert len(admin) > 30
    for method, path, operation in admin:
        for status in ("401", "404", "409", "422", "503"):
            declared = operation["responses"].get(status)
            assert declared is not None, f"{method} {path} does not declare {status}"
            schema = declared["content"]["application/json"]["schema"]
            assert schema == {"$ref": ERROR_BODY}, f"{method} {path} {status}: {schema}"


def test_every_buyer_route_documents_not_found_conflict_and_the_rate_limit_with_retry_after(app: Any) -> None:
    buyer = [
        (m, p, op)
        for m, p, op in operations(app.openapi())
        if p.startswith("/api/v1/orders") or p == "/api/v1/products"
    ]
    assert len(buyer) >= 6
    for method, path, operation in buyer:
        for status in ("404", "409", "422", "429"):
            assert status in operation["responses"], f"{method} {path} does not declare {status}"
        assert "Retry-After" in operation["responses"]["429"]["headers"]


def test_the_key_export_is_documented_as_text(app: Any) -> None:
    export = app.openapi()["paths"]["/api/admin/products/{product_id}/keys/unsold"]["get"]
    assert list(export["responses"]["200"]["content"]) == ["text/plain"]


async def test_a_wrong_method_is_405_naming_every_method_the_path_takes(client: httpx.AsyncClient) -> None:
    for path, allowed in (
        ("/api/admin/products", "GET, POST"),
        (f"/api/admin/products/{PRODUCT_ID}", "GET, PATCH"),
        ("/api/admin/coupons", "GET, POST"),
    ):
        response = await client.request("OPTIONS", path, headers=ADMIN)
        assert response.status_code == 405
        assert response.headers["allow"] == allowed
        assert response.json()["error"] == "method_not_allowed"


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/api/admin/categories", {"name": "   "}, "name"),
        ("PATCH", f"/api/admin/products/{PRODUCT_ID}", {"title": None}, "title"),
        ("PATCH", f"/api/admin/products/{PRODUCT_ID}", {"bogus": 1}, "bogus"),
        ("POST", "/api/admin/suppliers", {}, "name"),
        ("PATCH", f"/api/admin/suppliers/{SUPPLIER_ID}", {}, "active"),
        ("POST", f"/api/admin/delivery/manual-tasks/{SUPPLIER_ID}/reject", {"reason": ""}, "reason"),
        (
            "PUT",
            f"/api/admin/products/{PRODUCT_ID}/supplier-routes/{SUPPLIER_ID}",
            {"cost": 1},
            "supplier_sku",
        ),
        ("POST", f"/api/admin/suppliers/{SUPPLIER_ID}/claims", {"amount": 10**19}, "amount"),
        ("POST", "/api/admin/coupons", {"code": "X", "kind": "fixed", "value": 5}, "currency"),
        ("POST", "/api/admin/coupons", {"code": "X", "kind": "percent", "value": 150}, "value"),
        (
            "POST",
            "/api/admin/coupons",
            {"code": "X", "kind": "percent", "value": 5, "product_id": PRODUCT_ID, "category_id": PRODUCT_ID},
            "one product or one category",
        ),
        (
            "POST",
            "/api/admin/products",
            {"title": "V", "price": 1, "variant_of": PRODUCT_ID},
            "variant_label",
        ),
        ("POST", "/api/admin/products", {"title": " ", "price": 1}, "title"),
        ("POST", "/api/admin/orders/F1/refunds", {"amount": 10**19}, "amount"),
        ("POST", "/api/v1/orders/F1/cancel", {"token": "t" * 129}, "token"),
    ],
)
async def test_a_body_the_owner_would_refuse_is_refused_at_the_edge_naming_the_field(
    client: httpx.AsyncClient, method: str, path: str, body: dict[str, Any], field: str
) -> None:
    response = await client.request(method, path, json=body, headers=ADMIN)
    assert response.status_code == 422, response.text
    assert field in response.json()["message"]


async def test_a_coupon_code_no_coupon_can_have_is_refused_before_the_order_service(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/api/admin/coupons/%C2%9F%20x/disable", headers=ADMIN)
    assert response.status_code == 422
    assert "code" in response.json()["message"]


async def test_an_upload_without_its_file_part_is_documented_as_refused(app: Any) -> None:
    upload = app.openapi()["paths"]["/api/admin/products/{product_id}/keys"]["post"]["requestBody"]
    assert upload["content"]["multipart/form-data"]["schema"]["required"] == ["file"]


def test_buyer_field_names_and_values_are_constrained_whatever_the_name(app: Any) -> None:
    order = app.openapi()["components"]["schemas"]["NewOrder"]["properties"]["buyer_fields"]["anyOf"][0]
    assert "patternProperties" not in order  # keys that missed the pattern were left unconstrained
    assert order["propertyNames"]["maxLength"] == 40 and "pattern" in order["propertyNames"]
    assert order["additionalProperties"]["maxLength"] == 200
