"""Which products hold keys here, and which paid orders inventory announces as KeysAllocated."""

import pytest
from inventory.domain.reservations import DELIVERY_TYPES, announces_keys, keyless


@pytest.mark.parametrize("delivery_type", ["loop_key", "manual", "recharge"])
def test_keyless_products_never_run_out_of_stock(delivery_type: str) -> None:
    assert keyless(delivery_type)


def test_card_key_products_hold_their_keys_here() -> None:
    assert not keyless("card_key")


@pytest.mark.parametrize(("delivery_type", "announced"), [("card_key", True), ("loop_key", True),
                                                         ("manual", False), ("recharge", False)])  # fmt: skip
def test_only_keyed_products_announce_an_allocation(delivery_type: str, announced: bool) -> None:
    assert delivery_type in DELIVERY_TYPES
    assert announces_keys(delivery_type) is announced
