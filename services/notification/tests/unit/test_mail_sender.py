"""Whom a shop's buyer e-mail is From (`mail_sender`), with the platform's MAIL_FROM parsed once."""

from __future__ import annotations

from faka_common.contracts.shops import DEFAULT_SHOP_ID
from notification.domain.shop_channels import ShopChannels, mail_sender


def test_a_shop_without_a_sender_of_its_own_sends_under_its_name_at_the_platforms_address() -> None:
    sender = mail_sender(None, "Moon Cards", "faka shop <no-reply@faka.local>")
    assert sender is not None
    assert sender.from_header == "Moon Cards <no-reply@faka.local>"


def test_each_mail_from_is_read_for_itself_whatever_was_read_before() -> None:
    """The parsed MAIL_FROM is kept by its value: another value (another installation's settings in the
    same process, a test's) is parsed on its own, never answered with the first one's address."""
    first = mail_sender(None, None, "faka shop <no-reply@faka.local>")
    second = mail_sender(None, None, "Other <mail@other.example>")
    again = mail_sender(None, None, "faka shop <no-reply@faka.local>")
    assert first is not None and second is not None and again is not None
    assert first.from_header == again.from_header == "faka shop <no-reply@faka.local>"
    assert second.from_header == "Other <mail@other.example>"


def test_a_shops_own_name_and_address_come_before_the_platforms() -> None:
    own = ShopChannels(DEFAULT_SHOP_ID, from_name="Sun Keys", from_address="sales@sun.example")
    sender = mail_sender(own, "Ignored Name", "faka shop <no-reply@faka.local>")
    assert sender is not None
    assert sender.from_header == "Sun Keys <sales@sun.example>"


def test_no_address_anywhere_leaves_the_mailers_own_from() -> None:
    assert mail_sender(None, "Moon Cards", "") is None
