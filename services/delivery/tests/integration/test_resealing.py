"""A key rotation in delivery, on real Postgres: `POST /internal/keys/reencrypt` re-seals every supplier's
secret and every delivered content with the keyring's new active key, so each still opens, under its own
row's context, once the old key has left the keyring."""

from __future__ import annotations

import base64
import os
from uuid import uuid4

import httpx
import pytest
from delivery.adapters.suppliers.factory import secret_context
from delivery.bootstrap import Service
from delivery.service_layer.handlers import content_context
from faka_common.crypto import DEV_KEYRING, KeyRing, Sealed
from faka_common.testing import as_caller
from pydantic import SecretStr
from sqlalchemy import text

from .conftest import SECRET, api_of, built_service, settings_for
from .test_shops import acting_for, add_supplier, manual_order

pytestmark = pytest.mark.integration


async def test_a_rotation_re_seals_supplier_secrets_and_delivered_contents(
    service: Service, api: httpx.AsyncClient, database_url: str
) -> None:
    shop = uuid4()
    name = f"rotated-{uuid4().hex[:8]}"
    assert (await add_supplier(api, shop, name, "http://127.0.0.1:9")).status_code == 201
    order = await manual_order(service, api, shop)
    delivered = await api.post(
        f"/internal/manual-tasks/{order}/deliver",
        json={"operator": "ann", "content": "Gift code R-1"},
        headers=acting_for(shop),
    )
    assert delivered.status_code == 200, delivered.text  # both sealed with the development key

    new = f"new:{base64.b64encode(os.urandom(32)).decode()}"
    rotated = settings_for(database_url, key_encryption_keys=SecretStr(f"{DEV_KEYRING},{new}"))
    async with built_service(rotated) as rotating, api_of(rotating) as rotating_api:
        resealed = await rotating_api.post("/internal/keys/reencrypt", headers=as_caller("gateway"))
    assert resealed.status_code == 200, resealed.text
    assert resealed.json()["resealed"] >= 2 and resealed.json()["active_key_id"] == "new"

    only_new = KeyRing.parse(new, rotated.key_fingerprint_secret.get_secret_value())
    async with service.runtime.engine.connect() as connection:
        secret = (
            await connection.execute(
                text("SELECT secret_key_id, secret_blob FROM suppliers WHERE shop_id = :s"), {"s": shop}
            )
        ).one()
        content = (
            await connection.execute(
                text("SELECT key_id, blob FROM delivery_contents WHERE order_id = :o"), {"o": order}
            )
        ).one()
    assert only_new.open(Sealed(secret.secret_key_id, secret.secret_blob), secret_context(name)) == SECRET
    assert only_new.open(Sealed(content.key_id, content.blob), content_context(order)) == "Gift code R-1"
