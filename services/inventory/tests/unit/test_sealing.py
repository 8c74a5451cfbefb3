import base64
import os
import uuid

import pytest
from cryptography.exceptions import InvalidTag
from faka_common.crypto import DEV_FINGERPRINT_SECRET, DEV_KEYRING, KeyRing
from inventory.domain.keys import loop_key_context, seal_context

KEYRING = KeyRing.parse(DEV_KEYRING, DEV_FINGERPRINT_SECRET)


def test_a_sealed_key_opens_in_its_own_row() -> None:
    product_id, key_id = uuid.uuid4(), uuid.uuid4()
    sealed = KEYRING.seal("STEAM-ABCD-1234", seal_context(product_id, key_id))
    assert b"STEAM" not in sealed.blob
    assert KEYRING.open(sealed, seal_context(product_id, key_id)) == "STEAM-ABCD-1234"


def test_a_sealed_key_moved_to_another_row_does_not_open() -> None:
    product_id, key_id = uuid.uuid4(), uuid.uuid4()
    sealed = KEYRING.seal("STEAM-ABCD-1234", seal_context(product_id, key_id))
    with pytest.raises(InvalidTag):
        KEYRING.open(sealed, seal_context(product_id, uuid.uuid4()))
    with pytest.raises(InvalidTag):
        KEYRING.open(sealed, seal_context(uuid.uuid4(), key_id))


def test_the_same_key_seals_differently_each_time() -> None:
    context = seal_context(uuid.uuid4(), uuid.uuid4())
    assert KEYRING.seal("same", context).blob != KEYRING.seal("same", context).blob


def test_loop_key_context_is_bound_to_the_product() -> None:
    product_id = uuid.uuid4()
    sealed = KEYRING.seal("https://example.com/redeem pwd 1234", loop_key_context(product_id))
    assert KEYRING.open(sealed, loop_key_context(product_id)) == "https://example.com/redeem pwd 1234"
    with pytest.raises(InvalidTag):
        KEYRING.open(sealed, loop_key_context(uuid.uuid4()))


def test_keys_sealed_before_a_rotation_still_open_after_it() -> None:
    context = seal_context(uuid.uuid4(), uuid.uuid4())
    old = KEYRING.seal("before rotation", context)
    rotated = KeyRing.parse(
        DEV_KEYRING + ",k2:" + base64.b64encode(os.urandom(32)).decode(), DEV_FINGERPRINT_SECRET
    )
    assert rotated.active == "k2"
    assert rotated.open(old, context) == "before rotation"
    assert rotated.seal("after", context).key_id == "k2"


def test_fingerprint_dedupes_within_a_product_only() -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    assert KEYRING.fingerprint("K", scope=a.bytes) == KEYRING.fingerprint("K", scope=a.bytes)
    assert KEYRING.fingerprint("K", scope=a.bytes) != KEYRING.fingerprint("K", scope=b.bytes)
    assert KEYRING.fingerprint("K", scope=a.bytes) != KEYRING.fingerprint("K2", scope=a.bytes)
