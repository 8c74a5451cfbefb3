from email import message_from_bytes, message_from_string
from email.policy import default

import pytest
from aiosmtplib.email import flatten_message
from notification.adapters import mailer
from notification.adapters.mailer import compose
from notification.adapters.templates import TemplateRenderer
from notification.domain.model import (
    ACCOUNT_NOTICES,
    ACCOUNT_SETUP,
    BUYER_NOTICES,
    ORDER_DELIVERED,
    ORDER_REFUNDED,
    SELLER_ALERTS,
    RenderedEmail,
)

CONTEXT = {
    "order_no": "F20261122081500AB12CD",
    "product_title": "Steam 充值卡 100",
    "keys": ["AAAA-BBBB-CCCC", "DDDD-EEEE-FFFF"],
    "usage_instructions": "Redeem at https://store.example/redeem",
    "support_contact": "support@faka.local",
    "time_text": "2026-01-01 08:00:00 UTC",
    "shop_name": "",
    "signature": "faka shop",
}


@pytest.fixture(scope="module")
def renderer() -> TemplateRenderer:
    return TemplateRenderer()


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_every_part_carries_order_no_and_keys(renderer: TemplateRenderer, locale: str) -> None:
    email = renderer.render(ORDER_DELIVERED, locale, CONTEXT)
    assert CONTEXT["order_no"] in email.subject
    for body in (email.text, email.html):
        assert CONTEXT["order_no"] in body
        assert CONTEXT["product_title"] in body
        assert "AAAA-BBBB-CCCC" in body and "DDDD-EEEE-FFFF" in body
        assert CONTEXT["usage_instructions"] in body
        assert "support@faka.local" in body


def test_chinese_and_english_differ(renderer: TemplateRenderer) -> None:
    zh = renderer.render(ORDER_DELIVERED, "zh-CN", CONTEXT)
    en = renderer.render(ORDER_DELIVERED, "en", CONTEXT)
    assert "订单" in zh.subject and "卡密" in zh.text
    assert "Your order" in en.subject and "Order number" in en.text


@pytest.mark.parametrize("locale", [None, "", "fr", "de-DE", "xx"])
def test_unknown_locale_falls_back_to_chinese(renderer: TemplateRenderer, locale: str | None) -> None:
    email = renderer.render(ORDER_DELIVERED, locale, CONTEXT)
    assert email == renderer.render(ORDER_DELIVERED, "zh-CN", CONTEXT)


def test_html_escapes_keys_and_title_text_does_not(renderer: TemplateRenderer) -> None:
    context = {**CONTEXT, "keys": ["<b>x</b>&1"], "product_title": "A & B"}
    email = renderer.render(ORDER_DELIVERED, "en", context)
    assert "&lt;b&gt;x&lt;/b&gt;&amp;1" in email.html and "<b>x</b>" not in email.html
    assert "<b>x</b>&1" in email.text
    assert "A & B" in email.subject


def test_usage_instructions_are_optional(renderer: TemplateRenderer) -> None:
    email = renderer.render(ORDER_DELIVERED, "en", {**CONTEXT, "usage_instructions": ""})
    assert "How to use" not in email.text and "How to use" not in email.html


def test_subject_is_one_line_even_with_a_newline_in_the_title(renderer: TemplateRenderer) -> None:
    email = renderer.render(ORDER_DELIVERED, "en", {**CONTEXT, "product_title": "Evil\r\nBcc: x@y"})
    assert "\n" not in email.subject and "\r" not in email.subject


def test_composed_message_is_multipart_text_and_html() -> None:
    email = RenderedEmail(subject="订单 F1 已发货", text="key: K-1\n", html="<p>key: K-1</p>\n")
    raw = compose("faka shop <no-reply@faka.local>", "buyer@example.com", email, "<x@faka.local>").as_bytes()
    parsed = message_from_bytes(raw, policy=default)
    assert parsed.get_content_type() == "multipart/alternative"
    assert parsed["Subject"] == "订单 F1 已发货"
    assert parsed["To"] == "buyer@example.com"
    assert parsed["Message-ID"] == "<x@faka.local>"
    text = parsed.get_body(("plain",))
    html = parsed.get_body(("html",))
    assert text is not None and "K-1" in text.get_content()
    assert html is not None and "<p>key: K-1</p>" in html.get_content()


def test_the_parts_boundary_is_never_a_line_of_either_body(monkeypatch: pytest.MonkeyPatch) -> None:
    """A body that holds the first boundary drawn (a seller's text can hold anything) makes compose draw
    again: the message flattened for SMTP still parses into the two bodies as written."""
    drawn = iter(["ab" * 16, "cd" * 16])
    monkeypatch.setattr(mailer.secrets, "token_hex", lambda _: next(drawn))
    taken = "=_faka_" + "ab" * 16
    email = RenderedEmail(subject="s", text=f"--{taken}\nkey: K-1\n", html="<p>key: K-1</p>\n")
    message = compose("shop@faka.local", "buyer@example.com", email, "<b@faka.local>")
    assert message.get_boundary() == "=_faka_" + "cd" * 16
    parsed = message_from_bytes(flatten_message(message), policy=default)
    bodies = [part.get_content() for part in parsed.iter_parts()]
    assert bodies == [email.text, email.html]


def test_each_message_gets_a_boundary_of_its_own() -> None:
    email = RenderedEmail(subject="s", text="t\n", html="<p>h</p>\n")
    boundaries = {
        compose("s@faka.local", "b@example.com", email, "<c@faka.local>").get_boundary() for _ in range(50)
    }
    assert len(boundaries) == 50


def test_a_shops_name_and_a_subject_outside_ascii_arrive_as_written() -> None:
    email = RenderedEmail(
        subject="订单 F1 已发货：Steam 充值卡", text="卡密：K-1\n", html="<p>卡密：K-1</p>\n"
    )
    message = compose(
        '"游戏卡, 商店" <shop@faka.local>', "a@example.com, b@example.com", email, "<y@faka.local>"
    )
    assert flatten_message(message, cte_type="7bit").isascii()  # as a server without 8BITMIME gets it
    parsed = message_from_bytes(flatten_message(message), policy=default)
    assert parsed["Subject"] == "订单 F1 已发货：Steam 充值卡"
    assert parsed["From"].addresses[0].display_name == "游戏卡, 商店"
    assert [a.addr_spec for a in parsed["To"].addresses] == ["a@example.com", "b@example.com"]
    text, html = parsed.get_body(("plain",)), parsed.get_body(("html",))
    assert text is not None and text.get_content() == "卡密：K-1\n"
    assert html is not None and html.get_content() == "<p>卡密：K-1</p>\n"


def test_headers_given_replace_the_composed_ones_whatever_their_case() -> None:
    email = RenderedEmail(subject="Re: ticket", text="hi\n", html="<p>hi</p>\n")
    message = compose(
        "shop <shop@faka.local>",
        "buyer@example.com",
        email,
        "<z@faka.local>",
        reply_to="shop@faka.local",
        headers={"reply-to": "ticket+1@faka.local", "In-Reply-To": "<t1@faka.local>"},
    )
    parsed = message_from_bytes(flatten_message(message), policy=default)
    assert parsed.get_all("Reply-To") == ["ticket+1@faka.local"]
    assert parsed["In-Reply-To"] == "<t1@faka.local>"


@pytest.mark.parametrize("field", ["subject", "header", "reply_to"])
def test_a_header_with_a_line_break_is_refused(field: str) -> None:
    email = RenderedEmail(subject="Evil\r\nBcc: x@y" if field == "subject" else "ok", text="t", html="h")
    headers = {"X-Thread": "a\nBcc: x@y"} if field == "header" else None
    reply_to = "a@b.c\r\nBcc: x@y" if field == "reply_to" else None
    with pytest.raises(ValueError, match="linefeed or carriage return"):
        compose("s@faka.local", "buyer@example.com", email, "<w@faka.local>", reply_to, headers)


def test_a_mailbox_outside_ascii_gets_an_internationalised_message() -> None:
    email = RenderedEmail(subject="订单", text="K-1\n", html="<p>K-1</p>\n")
    message = compose("shop@faka.local", "用户@例子.中国", email, "<v@faka.local>")
    parsed = message_from_string(flatten_message(message, utf8=True).decode(), policy=default)
    assert parsed["To"].addresses[0].addr_spec == "用户@例子.中国"
    assert parsed.get_body(("plain",)).get_content().strip() == "K-1"  # type: ignore[union-attr]


def test_rendered_email_repr_hides_bodies(renderer: TemplateRenderer) -> None:
    assert "AAAA-BBBB-CCCC" not in repr(renderer.render(ORDER_DELIVERED, "en", CONTEXT))


BUYER_CONTEXT = {
    "order_no": "F20261122081500AB12CD",
    "product_title": "Steam 充值卡 100",
    "quantity": 2,
    "amount_text": "¥96.00",
    "time_text": "2026-11-22 16:15:00（北京时间）",
    "support_contact": "support@faka.local",
    "keys": [],
    "usage_instructions": "",
    "refund_text": "¥96.00",
    "reason": "out of stock",
    "shop_name": "",
    "signature": "faka shop",
}


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
@pytest.mark.parametrize("notice", BUYER_NOTICES)
def test_every_buyer_notice_names_order_time_goods_and_support_in_every_form(
    renderer: TemplateRenderer, notice: str, locale: str
) -> None:
    rendered = renderer.render(notice, locale, BUYER_CONTEXT)
    assert BUYER_CONTEXT["order_no"] in rendered.subject
    for body in (rendered.text, rendered.html):
        assert BUYER_CONTEXT["order_no"] in body
        assert BUYER_CONTEXT["product_title"] in body
        assert BUYER_CONTEXT["time_text"] in body
        assert "support@faka.local" in body
    assert BUYER_CONTEXT["order_no"] in rendered.sms and "\n" not in rendered.sms
    assert rendered.site is not None and rendered.site.strip()


def test_refund_notice_states_amount_and_reason(renderer: TemplateRenderer) -> None:
    rendered = renderer.render(ORDER_REFUNDED, "en", BUYER_CONTEXT)
    assert "¥96.00" in rendered.text and "out of stock" in rendered.text and "out of stock" in rendered.html


def test_delivered_sms_carries_the_keys_and_the_order_page_text_never_does(
    renderer: TemplateRenderer,
) -> None:
    rendered = renderer.render(ORDER_DELIVERED, "zh-CN", {**BUYER_CONTEXT, "keys": ["K-1", "K-2"]})
    assert "K-1" in rendered.sms and "K-2" in rendered.sms
    assert rendered.site is not None and "K-1" not in rendered.site


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
@pytest.mark.parametrize("alert", SELLER_ALERTS)
def test_seller_alerts_render_whatever_facts_the_event_carries(
    renderer: TemplateRenderer, alert: str, locale: str
) -> None:
    facts = {"order_id": "0190-x", "reason": "<upstream> & down", "available": 3}
    context = {"order_no": "", "product_title": "", "amount_text": "", "time_text": "now", "facts": facts}
    rendered = renderer.render(alert, locale, context)
    assert rendered.subject and "<upstream> & down" in rendered.text
    assert "&lt;upstream&gt; &amp; down" in rendered.html
    assert rendered.sms == rendered.subject and rendered.site is None


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
@pytest.mark.parametrize("notice", BUYER_NOTICES)
def test_a_known_shop_names_itself_in_the_subject_the_sms_and_the_signature(
    renderer: TemplateRenderer, notice: str, locale: str
) -> None:
    context = {**BUYER_CONTEXT, "shop_name": "Game <Cards>", "signature": "Game <Cards>"}
    rendered = renderer.render(notice, locale, context)
    assert "Game <Cards>" in rendered.subject and "Game <Cards>" in rendered.sms
    assert rendered.text.rstrip().endswith("Game <Cards>")
    # escaped in the HTML: the title (as the subject) and the signature
    assert rendered.html.count("Game &lt;Cards&gt;") == 2 and "Game <Cards>" not in rendered.html
    assert "faka shop" not in rendered.text + rendered.html


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
@pytest.mark.parametrize("notice", BUYER_NOTICES)
def test_a_shop_not_known_yet_leaves_the_subject_as_it_was_and_the_platform_signs(
    renderer: TemplateRenderer, notice: str, locale: str
) -> None:
    rendered = renderer.render(notice, locale, BUYER_CONTEXT)
    assert rendered.subject.startswith(("Your", "Order", "Payment", "The", "订单", "您的"))
    assert rendered.text.rstrip().endswith("faka shop") and "faka shop" in rendered.html


ACCOUNT_CONTEXT = {
    "time_text": "2026-11-22 08:15:00 UTC",
    "valid_minutes": 30,
    "expires_text": "2026-11-22 08:45:00 UTC",
    "support_contact": "support@faka.local",
    "shop_name": "",
    "signature": "faka shop",
}
LINK = "https://console.test/console/reset?token=T0K3N-secret"


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
@pytest.mark.parametrize("notice", ACCOUNT_NOTICES)
def test_a_persons_link_notice_holds_the_link_only_with_its_secret_and_says_30_minutes(
    renderer: TemplateRenderer, notice: str, locale: str
) -> None:
    rendered = renderer.render(notice, locale, {**ACCOUNT_CONTEXT, "link_url": LINK})
    assert rendered.subject and "\n" not in rendered.subject
    assert rendered.text.count(LINK) == 1 and rendered.html.count(f'href="{LINK}"') == 1
    minutes = "30 minutes" if locale == "en" else "30 分钟"
    for body in (rendered.text, rendered.html):
        assert minutes in body and ("once" in body or "一次" in body)
        assert "2026-11-22 08:45:00 UTC" in body and "support@faka.local" in body and "faka shop" in body
    assert LINK not in rendered.subject and LINK not in rendered.sms
    # without its secret (a channel that may not carry it): no link at all
    public = renderer.render(notice, locale, ACCOUNT_CONTEXT)
    assert "token=" not in public.text + public.html + public.sms and "href=" not in public.html


def test_the_purposes_read_differently_in_each_language(renderer: TemplateRenderer) -> None:
    subjects = {
        (notice, locale): renderer.render(notice, locale, ACCOUNT_CONTEXT).subject
        for notice in ACCOUNT_NOTICES
        for locale in ("zh-CN", "en")
    }
    assert len(set(subjects.values())) == len(subjects)
    assert subjects[("account_password_reset", "en")] == "Reset your password"
    assert subjects[("account_password_reset", "zh-CN")] == "重置您的密码"


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_an_invitation_names_the_inviting_shop(renderer: TemplateRenderer, locale: str) -> None:
    context = {**ACCOUNT_CONTEXT, "shop_name": "Game <Cards>", "signature": "Game <Cards>"}
    rendered = renderer.render(ACCOUNT_SETUP, locale, context)
    assert "Game <Cards>" in rendered.subject
    assert rendered.text.count("Game <Cards>") == 2  # the invitation and the signature
    assert "Game <Cards>" not in rendered.html and rendered.html.count("Game &lt;Cards&gt;") == 3
