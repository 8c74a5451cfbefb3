"""An API token used outside its scopes is refused with the scope it would need named (a person's refusal
names the permission): a script's author learns which token to make."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from gateway.domain.access import NotAllowed, Principal

SHOP = uuid.uuid4()


def token(*scopes: str) -> Principal:
    return Principal(
        kind="api_token", id=uuid.uuid4(), label="api token t", token_shop=SHOP, scopes=frozenset(scopes)
    )


@pytest.mark.parametrize(
    ("scopes", "permission", "named"),
    [
        (("orders:read",), "orders:refund", "needs the API token scope orders:write (this token's scopes: "
                                             "orders:read)"),
        (("catalog:read", "orders:read"), "catalog:write", "needs the API token scope catalog:write (this "
                                                           "token's scopes: catalog:read, orders:read)"),
        (("keys:export",), "keys:manage", "needs the API token scope keys:import"),
        ((), "orders:read", "needs the API token scope orders:read (this token's scopes: none)"),
        (("orders:write",), "risk:write", "risk:write is for people only: no API token scope grants it"),
    ],
)  # fmt: skip
def test_a_token_outside_its_scopes_is_403_naming_the_scope_it_needs(
    scopes: tuple[str, ...], permission: str, named: str
) -> None:
    with pytest.raises(NotAllowed) as refused:
        token(*scopes).check(permission, SHOP, datetime.now(UTC))  # type: ignore[arg-type]
    assert refused.value.status_code == 403 and named in refused.value.message


def test_a_token_within_its_scopes_is_let_through() -> None:
    token("orders:write").check("orders:refund", SHOP, datetime.now(UTC))
    token("orders:read", "catalog:read").check("catalog:read", SHOP, datetime.now(UTC))
