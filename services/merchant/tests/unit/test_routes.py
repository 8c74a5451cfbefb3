"""Which of the merchant service's routes are shop-owned. The shops themselves are the platform's: an
operator of the platform opens, lists, changes and suspends them, and the gateway resolves a storefront's
address to its shop before it knows which shop a request acts for. People are the platform's too: one person
signs in once and may work in several shops. A shop's members belong to the shop, but their routes name it
in the path and act as the person of the session, who sees only the shops they work in (another shop: 404,
tests/integration/test_memberships_http.py). So no route here is scoped by X-Shop-Id. A shop's API tokens
name the shop in the path the same way (tests/integration/test_api_tokens_http.py); resolving a token is the
gateway's, before it knows the shop (the token names it). The audit log is the gateway's record: an entry
names its shop in its body and a search in its query (the gateway always names the shop for a shop's people;
tests/integration/test_audit_http.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from faka_common.testing import OPERATIONAL_ROUTES, shop_scoping
from merchant.bootstrap import Service, bootstrap
from merchant.config import Settings
from merchant.entrypoints.http import build_app

#: The platform's own routes over its tenants (callers: the gateway, for platform operators and storefronts).
PLATFORM = {
    ("POST", "/internal/shops"),
    ("GET", "/internal/shops"),
    ("GET", "/internal/shops/resolve"),
    ("POST", "/internal/api-tokens/resolve"),
    ("GET", "/internal/shops/{shop_id}"),
    ("PATCH", "/internal/shops/{shop_id}"),
    ("POST", "/internal/shops/{shop_id}/status"),
    ("PUT", "/internal/shops/{shop_id}/fee-rate"),
    ("GET", "/internal/shops/fee-rates"),
}

#: People signing in and their sessions (callers: the gateway), and their one-time links (notification).
PEOPLE = {
    ("POST", "/internal/sign-in"),
    ("POST", "/internal/sign-in/second-factor"),
    ("GET", "/internal/sessions/current"),
    ("DELETE", "/internal/sessions/current"),
    ("POST", "/internal/sessions/current/step-up"),
    ("POST", "/internal/sessions/current/password"),
    ("POST", "/internal/sessions/current/totp"),
    ("POST", "/internal/sessions/current/totp/confirm"),
    ("POST", "/internal/sessions/current/email-verification"),
    ("POST", "/internal/sessions/current/recovery-codes"),
    ("POST", "/internal/password-resets"),
    ("POST", "/internal/links/redeem"),
    ("POST", "/internal/accounts/{account_id}/links"),
    ("GET", "/internal/platform/staff"),
    ("POST", "/internal/platform/staff"),
    ("DELETE", "/internal/platform/staff/{account_id}/roles/{role}"),
    ("POST", "/internal/keys/reencrypt"),  # the keyring is the platform's: every person's TOTP secret
}
#: A shop's members: the shop is the one the path names, seen only by the people who work in it.
SHOP_IN_PATH = {
    ("GET", "/internal/shops/{shop_id}/members"),
    ("POST", "/internal/shops/{shop_id}/members"),
    ("PATCH", "/internal/shops/{shop_id}/members/{account_id}"),
    ("DELETE", "/internal/shops/{shop_id}/members/{account_id}"),
    ("POST", "/internal/shops/{shop_id}/api-tokens"),
    ("GET", "/internal/shops/{shop_id}/api-tokens"),
    ("DELETE", "/internal/shops/{shop_id}/api-tokens/{token_id}"),
}


#: The audit log (callers: the gateway): the shop is a field of each entry and a filter of the search.
AUDIT = {
    ("POST", "/internal/audit-entries"),
    ("GET", "/internal/audit-entries"),
}


@pytest.fixture
async def service() -> AsyncIterator[Service]:
    built = bootstrap(Settings(run_migrations=False))
    try:
        yield built
    finally:
        await built.runtime.engine.dispose()


async def test_every_route_is_listed_as_the_platforms_a_shops_by_path_or_an_operational_one(
    service: Service,
) -> None:
    scoping = shop_scoping(build_app(service))
    assert scoping.scoped == set(), "a shop-owned route needs its isolation tests (shop B's X-Shop-Id: 404)"
    listed = OPERATIONAL_ROUTES | PLATFORM | PEOPLE | SHOP_IN_PATH | AUDIT
    assert scoping.unscoped == listed, "a new route must be classified here"
