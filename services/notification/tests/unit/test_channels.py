"""Channel protocol details that need no network: signatures, breakers, formatting, routes."""

import asyncio
import time
from datetime import UTC, datetime
from uuid import uuid4

import pytest
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from notification.adapters.channels import aliyun_sms, webhook
from notification.adapters.channels.resilience import GuardedChannel, breakers
from notification.adapters.metrics import NOTIFICATIONS
from notification.domain.channels import (
    ChannelResult,
    ChannelUnavailable,
    OutgoingMessage,
    PermanentChannelError,
    TransientChannelError,
)
from notification.domain.model import (
    DEFAULT_ROUTES,
    RenderedNotice,
    check_routes,
    format_money,
    format_time,
    mask_recipient,
)

# Alibaba Cloud's published SendSms signature example (AccessKeySecret "testSecret").
ALIYUN_DOC_PARAMS = {
    "AccessKeyId": "testId",
    "Action": "SendSms",
    "Format": "XML",
    "OutId": "123",
    "PhoneNumbers": "15300000001",
    "RegionId": "cn-hangzhou",
    "SignName": "阿里云短信测试专用",
    "SignatureMethod": "HMAC-SHA1",
    "SignatureNonce": "45e25e9b-0a6f-4070-8c85-2956eda1b466",
    "SignatureVersion": "1.0",
    "TemplateCode": "SMS_71390007",
    "TemplateParam": '{"customer":"test"}',
    "Timestamp": "2017-07-12T02:42:19Z",
    "Version": "2017-05-25",
}


def test_aliyun_signature_matches_the_published_sendsms_example() -> None:
    expected_string = (
        "GET&%2F&AccessKeyId%3DtestId%26Action%3DSendSms%26Format%3DXML%26OutId%3D123%26PhoneNumbers"
        "%3D15300000001%26RegionId%3Dcn-hangzhou%26SignName%3D%25E9%2598%25BF%25E9%2587%258C%25E4%25BA"
        "%2591%25E7%259F%25AD%25E4%25BF%25A1%25E6%25B5%258B%25E8%25AF%2595%25E4%25B8%2593%25E7%2594%25A8"
        "%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D45e25e9b-0a6f-4070-8c85-2956eda1b466"
        "%26SignatureVersion%3D1.0%26TemplateCode%3DSMS_71390007%26TemplateParam%3D%257B%2522customer"
        "%2522%253A%2522test%2522%257D%26Timestamp%3D2017-07-12T02%253A42%253A19Z%26Version%3D2017-05-25"
    )
    assert aliyun_sms.string_to_sign(ALIYUN_DOC_PARAMS) == expected_string
    assert aliyun_sms.sign(ALIYUN_DOC_PARAMS, "testSecret") == "zJDF+Lrzhj/ThnlvIToysFRq6t4="


def test_aliyun_signature_matches_the_published_rpc_example() -> None:
    params = {
        "AccessKeyId": "testid",
        "Action": "DescribeRegions",
        "Format": "XML",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
        "SignatureVersion": "1.0",
        "Timestamp": "2016-02-23T12:46:24Z",
        "Version": "2014-05-26",
    }
    assert aliyun_sms.sign(params, "testsecret") == "OLeaidS1JvxuMvnyHOwuJ+uX5qY="


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [("a b", "a%20b"), ("*", "%2A"), ("~-_.", "~-_."), ("/=&+", "%2F%3D%26%2B"), ("派", "%E6%B4%BE")],
)
def test_aliyun_percent_encoding(raw: str, encoded: str) -> None:
    assert aliyun_sms.percent_encode(raw) == encoded


def test_aliyun_signature_ignores_a_signature_parameter() -> None:
    signed = {"Signature": "x", **ALIYUN_DOC_PARAMS}
    assert aliyun_sms.sign(signed, "testSecret") == aliyun_sms.sign(ALIYUN_DOC_PARAMS, "testSecret")


def test_webhook_signature_verifies_and_refuses_tampering_staleness_and_wrong_secret() -> None:
    body = b'{"id":"order_delivered.1","type":"order_delivered"}'
    now = 1_800_000_000
    header = webhook.signature_header("s3cret", now, body)
    assert header.startswith(f"t={now},v1=") and len(header.split("v1=")[1]) == 64
    assert webhook.verify("s3cret", header, body, now=now + 10)
    assert not webhook.verify("s3cret", header, body + b" ", now=now)
    assert not webhook.verify("other", header, body, now=now)
    assert not webhook.verify("s3cret", header, body, now=now + 301)
    assert not webhook.verify("s3cret", "v1=abc", body, now=now)
    # a receiver may list several v1 signatures during a secret rotation
    rotated = f"t={now},v1={webhook.signature('old', now, body)},v1={webhook.signature('s3cret', now, body)}"
    assert webhook.verify("s3cret", rotated, body, now=now)


class Flaky:
    name = "email"
    carries_secrets = True
    idempotent = False

    def __init__(self) -> None:
        self.error: Exception | None = TransientChannelError("down")
        self.calls = 0

    def accepts(self, template: str) -> bool:
        return True

    async def send(self, message: OutgoingMessage) -> ChannelResult:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return ChannelResult(self.name, "ok")


def _message() -> OutgoingMessage:
    return OutgoingMessage(
        "order_delivered",
        uuid4(),
        "b@example.com",
        "en",
        RenderedNotice("s", "t", "h"),
        "order_delivered.x",
        shop_id=DEFAULT_SHOP_ID,
    )


async def test_breaker_opens_after_the_threshold_and_closes_after_the_reset_time() -> None:
    channel = Flaky()
    guarded = GuardedChannel(channel, breakers(threshold=3, reset_seconds=0.3))
    for _ in range(3):
        with pytest.raises(TransientChannelError):
            await guarded.send(_message())
    assert await guarded.state() == "opened"
    with pytest.raises(ChannelUnavailable):
        await guarded.send(_message())
    assert channel.calls == 3  # not even tried while open

    channel.error = None
    deadline = time.monotonic() + 5
    while True:  # half-open after the reset time: the next send goes through and closes the breaker
        try:
            assert (await guarded.send(_message())).provider_message_id == "ok"
            break
        except ChannelUnavailable:
            assert time.monotonic() < deadline, "breaker never half-opened"
            await asyncio.sleep(0.05)
    assert await guarded.state() == "closed"


async def test_permanent_refusals_do_not_open_the_breaker_and_are_not_retried() -> None:
    channel = Flaky()
    channel.error = PermanentChannelError("invalid number")
    guarded = GuardedChannel(channel, breakers(threshold=2, reset_seconds=30), attempts=3, backoff=0)
    for _ in range(4):
        with pytest.raises(PermanentChannelError):
            await guarded.send(_message())
    assert channel.calls == 4 and await guarded.state() == "closed"


async def test_transient_failures_are_retried_inside_one_breaker_failure() -> None:
    channel = Flaky()
    guarded = GuardedChannel(channel, breakers(threshold=2, reset_seconds=30), attempts=3, backoff=0)
    with pytest.raises(TransientChannelError):
        await guarded.send(_message())
    assert channel.calls == 3 and await guarded.state() == "closed"


async def test_a_channel_without_a_breaker_is_never_stopped_and_its_sends_are_counted() -> None:
    channel = Flaky()
    guarded = GuardedChannel(channel, None, attempts=1, backoff=0)
    sent = NOTIFICATIONS.labels("email", "sent")
    failed = NOTIFICATIONS.labels("email", "failed")
    before_sent, before_failed = sent._value.get(), failed._value.get()
    for _ in range(5):  # more failures than any breaker's threshold
        with pytest.raises(TransientChannelError):
            await guarded.send(_message())
    channel.error = None
    assert (await guarded.send(_message())).provider_message_id == "ok"
    assert channel.calls == 6 and await guarded.state() == "closed"
    assert (sent._value.get() - before_sent, failed._value.get() - before_failed) == (1, 5)


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [(4800, "CNY", "¥48.00"), (5, "USD", "$0.05"), (123456, "EUR", "€1,234.56"), (500, "JPY", "¥500"),
     (1999, "HKD", "19.99 HKD"), (None, "CNY", ""), (-100, "CNY", "-¥1.00")],
)  # fmt: skip
def test_format_money(amount: int | None, currency: str, text: str) -> None:
    assert format_money(amount, currency) == text


def test_format_time_uses_beijing_time_for_chinese_and_utc_otherwise() -> None:
    moment = datetime(2026, 1, 1, 20, 30, tzinfo=UTC)
    assert format_time(moment, "zh-CN") == "2026-01-02 04:30:00（北京时间）"
    assert format_time(moment, "en-US") == "2026-01-01 20:30:00 UTC"


def test_routes_refuse_unknown_channels_and_notices() -> None:
    check_routes(DEFAULT_ROUTES)
    with pytest.raises(ValueError, match="smtp"):
        check_routes({"order_delivered": [["smtp"]]})
    with pytest.raises(ValueError, match="order_shipped"):
        check_routes({"order_shipped": [["email"]]})


def test_mask_recipient_hides_most_of_the_address() -> None:
    assert mask_recipient("buyer@example.com") == "b***@example.com"
    assert mask_recipient("+8613800001234") == "***1234"
