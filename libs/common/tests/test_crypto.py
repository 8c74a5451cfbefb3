import base64
import os

import pytest
from cryptography.exceptions import InvalidTag
from faka_common.crypto import KeyRing, KeyRingError


def spec(*ids: str) -> tuple[str, dict[str, bytes]]:
    keys = {i: os.urandom(32) for i in ids}
    return ",".join(f"{i}:{base64.b64encode(k).decode()}" for i, k in keys.items()), keys


def test_sealed_key_opens_only_with_its_context() -> None:
    ring = KeyRing.parse(spec("k1")[0], "fp")
    sealed = ring.seal("STEAM-1234-ABCD", b"product-1")
    assert b"STEAM" not in sealed.blob
    assert ring.open(sealed, b"product-1") == "STEAM-1234-ABCD"
    with pytest.raises(InvalidTag):
        ring.open(sealed, b"product-2")


def test_rotation_keeps_old_ciphertexts_readable_and_seals_with_the_new_key() -> None:
    text, keys = spec("k1", "k2")
    old = KeyRing({"k1": keys["k1"]}, "k1", b"fp")
    sealed_old = old.seal("secret", b"c")
    rotated = KeyRing.parse(text, "fp")
    assert rotated.active == "k2"
    assert rotated.open(sealed_old, b"c") == "secret"
    assert rotated.seal("secret", b"c").key_id == "k2"


def test_fingerprint_is_stable_across_rotation_and_scoped() -> None:
    text, keys = spec("k1", "k2")
    a = KeyRing({"k1": keys["k1"]}, "k1", b"fp")
    b = KeyRing.parse(text, "fp")
    assert a.fingerprint("X", b"p1") == b.fingerprint("X", b"p1")
    assert a.fingerprint("X", b"p1") != a.fingerprint("X", b"p2")
    assert KeyRing({"k1": keys["k1"]}, "k1", b"other").fingerprint("X", b"p1") != a.fingerprint("X", b"p1")


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("", "empty"),
        ("nocolon", "id:base64key"),
        ("k1:!!!", "base64"),
        ("k1:" + base64.b64encode(b"short").decode(), "32 bytes"),
    ],
)
def test_malformed_keyring_is_refused_with_a_reason(bad: str, message: str) -> None:
    with pytest.raises(KeyRingError, match=message):
        KeyRing.parse(bad, "fp")


def test_unknown_active_key_is_refused() -> None:
    with pytest.raises(KeyRingError, match="active"):
        KeyRing.parse(spec("k1")[0], "fp", active="k9")
