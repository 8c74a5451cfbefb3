"""Supplier URLs pass the outgoing-URL guard when registered and again on every call."""

from __future__ import annotations

import httpx
import pytest

from .conftest import SECRET, SupplierServer, api_of, built_service, settings_for
from .test_recharge import unique

pytestmark = pytest.mark.integration


def new_supplier(base_url: str, **extra: object) -> dict[str, object]:
    return {"name": unique("s"), "kind": "http_json", "base_url": base_url, "secret": SECRET, **extra}


@pytest.mark.parametrize(
    ("base_url", "reason"),
    [
        ("http://169.254.169.254/", "169.254.169.254 is a cloud metadata address"),
        ("http://10.0.0.1", "10.0.0.1 is a private address"),
        ("http://metadata.google.internal/computeMetadata/v1", "metadata host"),
        ("http://[::ffff:127.0.0.2]/", "loopback"),
        ("http://127.0.0.2:9/", "127.0.0.2 is a loopback address"),
    ],
)
async def test_a_supplier_at_an_internal_or_metadata_address_is_refused_naming_the_reason(
    api: httpx.AsyncClient, base_url: str, reason: str
) -> None:
    refused = await api.post("/internal/suppliers", json=new_supplier(base_url))
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"] == "unsafe_url"
    assert reason in refused.json()["message"]
    assert "base_url" in refused.json()["message"]


async def test_a_supplier_cannot_choose_the_headers_its_requests_carry(api: httpx.AsyncClient) -> None:
    config = {"merchant_id": "Google", "merchant_header": "Metadata-Flavor"}
    refused = await api.post("/internal/suppliers", json=new_supplier("http://127.0.0.1:9/", config=config))
    assert refused.status_code == 400, refused.text
    assert "invalid supplier config" in refused.json()["message"]


async def test_a_registered_supplier_is_checked_again_when_called(
    api: httpx.AsyncClient, suppliers: SupplierServer, database_url: str
) -> None:
    fake = suppliers.add(unique("lab"))
    created = await api.post("/internal/suppliers", json=new_supplier(suppliers.url(fake.name)))
    assert created.status_code == 201, created.text
    supplier_id = created.json()["supplier_id"]
    assert (await api.get(f"/internal/suppliers/{supplier_id}/balance")).status_code == 200

    # The same stored supplier, seen by a delivery whose allow-list no longer names 127.0.0.1.
    stricter = settings_for(database_url, outbound_allow_list=[])
    async with built_service(stricter) as service, api_of(service) as strict_api:
        answer = await strict_api.get(f"/internal/suppliers/{supplier_id}/balance")
    assert answer.status_code == 503, answer.text
    assert "127.0.0.1 is a loopback address" in answer.json()["message"]
