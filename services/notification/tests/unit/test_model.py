from uuid import uuid4

import pytest
from notification.domain.model import OrderKeys, message_id, pick_locale


@pytest.mark.parametrize(
    ("requested", "chosen"),
    [
        ("zh-CN", "zh-CN"),
        ("en", "en"),
        ("EN", "en"),
        ("en-US", "en"),
        ("en_GB", "en"),
        ("zh_cn", "zh-CN"),
        ("zh-TW", "zh-CN"),
        ("zh", "zh-CN"),
        ("fr", "zh-CN"),
        ("", "zh-CN"),
        (None, "zh-CN"),
    ],
)
def test_pick_locale(requested: str | None, chosen: str) -> None:
    assert pick_locale(requested) == chosen


def test_order_keys_repr_never_shows_plaintext() -> None:
    keys = OrderKeys(order_id=uuid4(), keys=["SECRET-KEY-1"], usage_instructions="x")
    assert "SECRET-KEY-1" not in repr(keys)


def test_message_id_is_stable_per_order_and_template() -> None:
    order_id = uuid4()
    assert message_id(order_id, "order_delivered") == message_id(order_id, "order_delivered")
    assert message_id(order_id, "order_delivered") != message_id(uuid4(), "order_delivered")
    assert message_id(order_id, "order_delivered").startswith("<") and str(order_id) in message_id(
        order_id, "order_delivered"
    )


@pytest.mark.parametrize(
    ("requested", "chosen"), [(None, "en"), ("", "en"), ("fr", "en"), ("zh-TW", "zh-CN")]
)
def test_pick_locale_falls_back_to_the_default_it_is_given(requested: str | None, chosen: str) -> None:
    assert pick_locale(requested, default="en") == chosen
