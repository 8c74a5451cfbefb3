"""A shop's people end to end over the gateway, every service a real process: the platform's admin opens a
shop and invites its owner, who gets the set-up link by e-mail, sets a password and TOTP, makes an API
token; a script with the token works in its own shop only and as far as its scopes go; every change is in
the shop's audit trail under the right actor (and no other shop's is); a revoked token and a signed-out
session stop working."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from faka_common.testing import eventually

from .e2e_platform import ConsolePerson, Platform, body_text, running_platform

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def platform(infrastructure: dict[str, str]) -> AsyncIterator[Platform]:
    async with running_platform(infrastructure) as running:
        yield running


async def setup_link_mailed_to(platform: Platform, email: str) -> str:
    async def arrived() -> list[Any] | None:
        return platform.mailbox.to(email) or None

    [mail] = await eventually(arrived, timeout=30)
    links = re.findall(rf"{re.escape(platform.gateway)}/console/setup\?token=[A-Za-z0-9_-]+", body_text(mail))
    assert links, body_text(mail)
    return parse_qs(urlsplit(links[0]).query)["token"][0]


async def test_an_invited_owner_makes_a_token_whose_script_acts_in_that_shop_only_and_is_audited(
    platform: Platform,
) -> None:
    slug = f"people-{uuid.uuid4().hex[:6]}"
    owner_email = f"owner-{slug}@example.com"
    async with platform.admin() as admin:
        opened = await admin.post(
            "/api/platform/shops", json={"slug": slug, "name": "People", "status": "active"}
        )
        assert opened.status_code == 201, opened.text
        shop_id = opened.json()["shop_id"]
        invited = await admin.post(
            "/api/admin/members", headers={"X-Shop-Id": shop_id}, json={"email": owner_email, "role": "owner"}
        )
        assert invited.status_code == 201, invited.text
        elsewhere = await admin.post(
            "/api/admin/products", json={"title": "default shop's", "price": 100, "currency": "CNY"}
        )
        assert elsewhere.status_code == 201, elsewhere.text

    owner = await ConsolePerson.set_up(
        platform.gateway, owner_email, await setup_link_mailed_to(platform, owner_email)
    )
    async with owner.client() as console:
        me = (await console.get("/api/console/me")).json()
        assert me["memberships"] == [{"shop_id": shop_id, "role": "owner"}]
        no_platform = await console.get("/api/platform/shops")
        assert no_platform.status_code == 403, no_platform.text
        not_theirs = await console.get("/api/admin/products", headers={"X-Shop-Id": str(DEFAULT_SHOP_ID)})
        assert not_theirs.status_code == 404, not_theirs.text
        made = await console.post(
            "/api/admin/api-tokens",
            headers={"X-Shop-Id": shop_id},
            json={"name": "stock sync", "scopes": ["catalog:read", "catalog:write", "keys:import"]},
        )
        assert made.status_code == 201, made.text
        secret, token_id = made.json()["token"], made.json()["token_id"]

    script = httpx.AsyncClient(
        base_url=platform.gateway, headers={"Authorization": f"Bearer {secret}"}, timeout=15
    )
    async with script:
        product = await script.post(
            "/api/admin/products", json={"title": "Sync'd", "price": 500, "currency": "CNY"}
        )
        assert product.status_code == 201, product.text
        product_id = product.json()["product_id"]
        imported = await script.post(
            f"/api/admin/products/{product_id}/keys",
            content=b"SYNC-1\nSYNC-2\n",
            headers={"Content-Type": "text/plain"},
        )
        assert imported.status_code == 200, imported.text
        export = await script.get(f"/api/admin/products/{product_id}/keys/unsold")
        assert export.status_code == 403 and export.json()["error"] == "not_allowed", export.text
        other_shop = await script.get("/api/admin/products", headers={"X-Shop-Id": str(DEFAULT_SHOP_ID)})
        assert other_shop.status_code == 404, other_shop.text
        listed = (await script.get("/api/admin/products")).json()["items"]
        assert [p["product_id"] for p in listed] == [product_id]

    async with owner.client() as console:
        exported = await console.get(
            f"/api/admin/products/{product_id}/keys/unsold", headers={"X-Shop-Id": shop_id}
        )
        assert exported.status_code == 200, exported.text
        assert sorted(exported.text.split()) == ["SYNC-1", "SYNC-2"]
        trail = await console.get("/api/admin/audit", headers={"X-Shop-Id": shop_id})
        assert trail.status_code == 200, trail.text
        entries = trail.json()["items"]
    seen = [(e["actor_label"], e["action"], e["outcome"]) for e in reversed(entries)]
    token_label = f"api token {token_id}"
    assert (platform.operator.email, "add_member", 201) in seen  # type: ignore[union-attr]
    assert (owner_email, "issue_api_token", 201) in seen
    assert (token_label, "create_product", 201) in seen
    assert (token_label, "import_batch", 200) in seen
    assert (token_label, "export_keys", 403) in seen
    assert (owner_email, "export_keys", 200) in seen
    assert all(e["shop_id"] == shop_id for e in entries)
    assert not any(e["summary"].find("SYNC-") >= 0 or secret in str(e) for e in entries)

    async with owner.client() as console:
        revoked = await console.delete(f"/api/admin/api-tokens/{token_id}", headers={"X-Shop-Id": shop_id})
        assert revoked.status_code == 204, revoked.text

    async def refused() -> bool | None:
        async with httpx.AsyncClient(base_url=platform.gateway, timeout=15) as again:
            answer = await again.get("/api/admin/products", headers={"Authorization": f"Bearer {secret}"})
        return True if answer.status_code == 401 else None

    assert await eventually(refused, timeout=15)  # within the gateway's principal cache (5 s)


async def test_a_signed_out_session_opens_nothing_and_a_foreign_page_cannot_write_with_it(
    platform: Platform,
) -> None:
    email = f"staff-{uuid.uuid4().hex[:6]}@example.com"
    person = await ConsolePerson.sign_up(platform, email)
    async with person.client() as console:
        cross_site = await console.post(
            "/api/admin/products",
            headers={"Origin": "https://evil.example"},
            json={"title": "x", "price": 1, "currency": "CNY"},
        )
        assert cross_site.status_code == 403 and cross_site.json()["error"] == "csrf_refused"
        no_token = await console.post(
            "/api/admin/products",
            headers={"X-CSRF-Token": ""},
            json={"title": "x", "price": 1, "currency": "CNY"},
        )
        assert no_token.status_code == 403 and no_token.json()["error"] == "csrf_refused"
        assert (await console.get("/api/admin/products")).status_code == 200
        out = await console.post("/api/console/sign-out")
        assert out.status_code == 204, out.text
    stale = httpx.AsyncClient(base_url=platform.gateway, cookies=person.cookies, timeout=15)
    async with stale:
        after = await stale.get("/api/admin/products")
    assert after.status_code == 401, after.text


async def test_a_platform_admins_re_seal_reaches_every_service_that_seals_and_an_anonymous_caller_cannot(
    platform: Platform,
) -> None:
    async with platform.admin() as admin:
        answer = await admin.post("/api/platform/keys/reencrypt")
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert set(report["services"]) == {"inventory", "order", "delivery", "notification", "merchant"}
    assert report["complete"] is True, report
    for service in report["services"].values():
        assert service["error"] is None and service["unreadable"] == 0
        assert service["active_key_id"] == "e2e"  # the keyring the test platform runs with
    async with httpx.AsyncClient(base_url=platform.gateway, timeout=15) as anonymous:
        refused = await anonymous.post("/api/platform/keys/reencrypt")
    assert refused.status_code == 401
