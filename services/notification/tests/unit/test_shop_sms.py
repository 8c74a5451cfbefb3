"""A shop's own SMS accounts and alert chat, in memory: which secrets a new setting keeps, which account a
buyer's SMS goes through (the shop's, the platform's, the platform's as a fallback), which breaker guards it,
and where a shop's alerts go on Telegram."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, cast
from uuid import UUID, uuid4

import pytest
from faka_common.contracts.inventory import LowStock
from notification.adapters.channels.resilience import GuardedChannel, breakers
from notification.adapters.shop_sms import ShopSmsChannel
from notification.domain.channels import (
    Channel,
    OutgoingMessage,
    PermanentChannelError,
    TransientChannelError,
)
from notification.domain.model import RenderedNotice
from notification.domain.shop_channels import (
    AliyunAccount,
    MissingSecret,
    ShopChannels,
    ShopSms,
    TwilioAccount,
    keep_secrets,
)
from notification.service_layer import handlers
from notification.service_layer.handlers import Seller, Sellers
from notification.service_layer.unit_of_work import NotificationUnitOfWork

from .test_handlers import FakeChannel, FakeUow, _channels, _deliver, _notifier, _with_contact

SHOP = uuid4()
ALIYUN = AliyunAccount("LTAIshop0001", "shop-secret", "游戏卡店", {"order_delivered": "SMS_1"})
TWILIO = TwilioAccount("AC" + "ab" * 16, "shop-token", "+15005550007")


def stored(**values: Any) -> ShopChannels:
    return ShopChannels(SHOP, **values)


def test_an_sms_secret_left_out_is_kept_while_the_account_stays_the_same() -> None:
    old = stored(aliyun_sms=ALIYUN, twilio_sms=TWILIO)
    new = stored(
        aliyun_sms=replace(
            ALIYUN, access_key_secret=None, sign_name="新店名", templates={"order_paid": "SMS_2"}
        ),
        twilio_sms=replace(TWILIO, auth_token=None, from_number="Cards"),
    )
    kept = keep_secrets(new, old)
    assert kept.aliyun_sms == replace(ALIYUN, sign_name="新店名", templates={"order_paid": "SMS_2"})
    assert kept.aliyun_sms is not None and kept.aliyun_sms.access_key_secret == "shop-secret"
    assert kept.twilio_sms is not None and kept.twilio_sms.auth_token == "shop-token"
    # a secret given replaces the stored one
    given = keep_secrets(stored(twilio_sms=replace(TWILIO, auth_token="new-token")), old)
    assert given.twilio_sms is not None and given.twilio_sms.auth_token == "new-token"


@pytest.mark.parametrize(
    ("new", "old", "needed"),
    [
        (
            stored(aliyun_sms=replace(ALIYUN, access_key_id="LTAIother0001", access_key_secret=None)),
            stored(aliyun_sms=ALIYUN),
            "aliyun_sms.access_key_secret",
        ),
        (
            stored(twilio_sms=replace(TWILIO, account_sid="AC" + "cd" * 16, auth_token=None)),
            stored(twilio_sms=TWILIO),
            "twilio_sms.auth_token",
        ),
        (stored(aliyun_sms=replace(ALIYUN, access_key_secret=None)), None, "aliyun_sms.access_key_secret"),
        (stored(twilio_sms=replace(TWILIO, auth_token=None)), stored(), "twilio_sms.auth_token"),
    ],
)
def test_an_sms_secret_never_follows_another_account_nor_comes_from_nowhere(
    new: ShopChannels, old: ShopChannels | None, needed: str
) -> None:
    with pytest.raises(MissingSecret, match=needed):
        keep_secrets(new, old)


def test_keeping_sms_secrets_leaves_the_smtp_and_webhook_rules_as_they_were() -> None:
    old = stored(webhook_url="https://hooks.example/a", webhook_secret="whsec", aliyun_sms=ALIYUN)
    kept = keep_secrets(stored(webhook_url="https://hooks.example/b", aliyun_sms=ALIYUN), old)
    assert kept.webhook_secret == "whsec"
    assert keep_secrets(stored(aliyun_sms=ALIYUN), old).webhook_secret is None
    with pytest.raises(MissingSecret, match="webhook_secret"):
        keep_secrets(stored(webhook_url="https://hooks.example/a"), None)


def message(template: str = "order_delivered", sms: ShopSms | None = None) -> OutgoingMessage:
    return OutgoingMessage(
        template,
        uuid4(),
        "13800000001",
        "zh-CN",
        RenderedNotice("s", "t", "h", sms="text"),
        f"{template}.x",
        shop_id=SHOP,
        sms=sms,
    )


def aliyun_of(platform: FakeChannel | None, own: dict[str, FakeChannel]) -> ShopSmsChannel:
    """The Aliyun channel for every shop; `own` maps an access key id to the shop account's channel."""

    def own_account(sms: ShopSms) -> Channel | None:
        return own.get(sms.aliyun.access_key_id) if sms.aliyun is not None else None

    return ShopSmsChannel("aliyun_sms", platform, own_account)


def accounts(templates: set[str] | None = None) -> tuple[FakeChannel, FakeChannel]:
    shop = FakeChannel("aliyun_sms", templates=templates if templates is not None else {"order_delivered"})
    return FakeChannel("aliyun_sms", templates={"order_delivered", "order_delayed"}), shop


async def test_a_shop_with_its_own_account_sends_through_it_and_a_shop_without_through_the_platforms() -> (
    None
):
    platform, shop = accounts()
    channel = aliyun_of(platform, {ALIYUN.access_key_id: shop})
    own = message(sms=ShopSms(aliyun=ALIYUN))
    await channel.send(own)
    await channel.send(message())
    await channel.send(message(sms=ShopSms(twilio=TWILIO)))  # its own Twilio says nothing of Aliyun
    assert shop.sent == [own] and len(platform.sent) == 2


async def test_a_notice_the_shops_account_has_no_template_for_goes_through_the_platforms() -> None:
    platform, shop = accounts()
    channel = aliyun_of(platform, {ALIYUN.access_key_id: shop})
    await channel.send(message("order_delayed", ShopSms(aliyun=ALIYUN)))
    assert shop.sent == [] and len(platform.sent) == 1


async def test_the_shops_provider_down_falls_back_to_the_platforms_account() -> None:
    platform, shop = accounts()
    shop.fail = TransientChannelError("Aliyun SMS answered HTTP 503")
    channel = aliyun_of(platform, {ALIYUN.access_key_id: shop})
    result = await channel.send(message(sms=ShopSms(aliyun=ALIYUN)))
    assert shop.tries == 1 and len(platform.sent) == 1 and result.channel == "aliyun_sms"


async def test_the_shops_account_refusing_for_good_is_not_sent_through_the_platforms() -> None:
    platform, shop = accounts()
    shop.fail = PermanentChannelError("Aliyun SMS refused the message: isv.AMOUNT_NOT_ENOUGH")
    channel = aliyun_of(platform, {ALIYUN.access_key_id: shop})
    with pytest.raises(PermanentChannelError, match="AMOUNT_NOT_ENOUGH"):
        await channel.send(message(sms=ShopSms(aliyun=ALIYUN)))
    assert platform.tries == 0


async def test_without_a_platform_account_the_shops_failure_is_the_channels_and_others_are_not_sent() -> None:
    _, shop = accounts()
    channel = aliyun_of(None, {ALIYUN.access_key_id: shop})
    assert not channel.accepts("order_delivered")
    shop.fail = TransientChannelError("Aliyun SMS timed out")
    with pytest.raises(TransientChannelError):
        await channel.send(message(sms=ShopSms(aliyun=ALIYUN)))
    with pytest.raises(PermanentChannelError, match="no account"):
        await channel.send(message())


async def test_the_notifier_sends_through_a_shops_own_account_the_platform_has_no_template_for() -> None:
    uow, order_id = FakeUow(), uuid4()
    _, own = accounts()
    aliyun = aliyun_of(None, {ALIYUN.access_key_id: own})
    channels: dict[str, Any] = {**_channels(email=FakeChannel("email", TransientChannelError("down")))}
    channels["aliyun_sms"] = aliyun
    await _with_contact(uow, order_id, phone="13800000001")
    uow.shop_channels.rows[uow.contacts.rows[order_id].shop_id] = stored(aliyun_sms=ALIYUN)

    await _deliver(uow, _notifier(channels), order_id)

    [sms] = own.sent
    assert sms.sms == ShopSms(aliyun=ALIYUN) and channels["twilio_sms"].sent == []


async def test_a_shops_own_sms_account_has_a_breaker_of_its_own() -> None:
    guarded = GuardedChannel(aliyun_of(None, {}), breakers(threshold=1, reset_seconds=30))
    own = message(sms=ShopSms(aliyun=ALIYUN))
    assert guarded.breaker_name(own) == f"aliyun_sms:{SHOP}"
    assert guarded.breaker_name(message()) == "aliyun_sms"
    # a notice its account has no template for goes through the platform's: the shared breaker
    assert guarded.breaker_name(message("order_delayed", ShopSms(aliyun=ALIYUN))) == "aliyun_sms"


def low_stock(shop: UUID) -> LowStock:
    return LowStock(shop_id=shop, product_id=uuid4(), title="Licence", available=1, threshold=5)


async def test_a_shops_alerts_reach_its_own_telegram_chat_through_the_platforms_bot_and_no_other() -> None:
    uow, channels = FakeUow(), _channels()
    other = uuid4()
    uow.shop_channels.rows[SHOP] = stored(alert_telegram_chat="-1001234567890")
    uow.shop_channels.rows[other] = ShopChannels(other, alert_telegram_chat="@other_alerts")
    sellers = Sellers(Seller(telegram_chat="-100999", email="platform@example.com"))

    seller = await sellers.of(SHOP, cast(NotificationUnitOfWork, uow))
    assert seller is not None and (seller.telegram_chat, seller.email) == ("-1001234567890", None)
    await handlers.notify_low_stock(
        low_stock(SHOP), cast(NotificationUnitOfWork, uow), _notifier(channels), sellers
    )

    [alert] = channels["telegram"].sent
    assert alert.recipient == "-1001234567890" and channels["email"].sent == []
