"""A shop's wording of a buyer e-mail never reaches the keys or links the platform puts in it: they are not in
its context, and the sandbox refuses the ways around (attributes starting with `_`, the template's own
context, globals of the built-in helpers). The keys still arrive, once, where the marker stands."""

from __future__ import annotations

from typing import get_args

import pytest
from faka_common.contracts.notification_admin import WordableNotice, WordingLanguage
from jinja2.exceptions import SecurityError, UndefinedError
from notification.adapters.shop_templates import HTML, TEXT, CompiledShopTemplate, compile_template
from notification.adapters.templates import TemplateRenderer
from notification.domain.shop_templates import LANGUAGES, WORDABLE, TemplateRefused

KEY = "REAL-KEY-7F3A-99C1"
LINK = "https://shop.example/orders/F1?secret=s3cr3t-token"
CONTEXT = {
    "order_no": "F1",
    "product_title": "Game",
    "quantity": 1,
    "amount_text": "CNY 1.00",
    "time_text": "now",
    "shop_name": "A",
    "signature": "A",
    "support_contact": "a@a.example",
    "mode": "card_key",
    "item_count": 1,
    "keys": [KEY],
    "usage_instructions": "Use it.",
    "order_url": LINK,
}

#: Ways a template might try to read the context it was not given.
ATTEMPTS = [
    "{{ keys }}",
    "{{ usage_instructions }}",
    "{{ self._TemplateReference__context }}",
    "{{ self._TemplateReference__context['keys'] }}",
    "{{ lipsum.__globals__ }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ order_no.__class__.__mro__[1].__subclasses__() }}",
    "{{ product_title|attr('__class__') }}",
    "{% set x = order_no.format.__self__ %}{{ x }}",
    "{{ range.__self__ }}",
    "{{ joiner().__call__.__globals__ }}",
    "{% for name in self.__dict__ %}{{ name }}{% endfor %}",
    "{{ ''.__class__.__base__.__subclasses__() }}",
    "{% include 'order_delivered/en/block.txt' %}",
    "{% import 'order_delivered/en/block.txt' as b %}",
]


@pytest.mark.parametrize("attempt", ATTEMPTS)
def test_a_shop_template_cannot_reach_the_key_text_and_the_key_still_arrives_once(attempt: str) -> None:
    body = f"Order {{{{ order_no }}}}\n{attempt}\n[[goods]]\nBye\n"
    with pytest.raises(TemplateRefused):
        compile_template("order_delivered", "en", "{{ order_no }}", body)
    # and were it stored unchecked, rendering it would still not reach the key
    token = "PLATFORM-PART-test"
    source = body.replace("[[goods]]", token)
    unchecked = CompiledShopTemplate(
        WORDABLE["order_delivered"], TEXT.from_string("{{ order_no }}"), TEXT.from_string(source),
        HTML.from_string(source), token,
    )  # fmt: skip
    try:
        subject, own_text, own_html = unchecked.render(CONTEXT, "")
    except (SecurityError, UndefinedError, TypeError):
        subject = own_text = own_html = ""
    assert KEY not in subject + own_text + own_html and LINK not in own_text + own_html
    sent = TemplateRenderer().render_worded(unchecked, "order_delivered", "en", CONTEXT)
    assert sent.text.count(KEY) == 1 and sent.html.count(KEY) == 1


def test_the_link_of_an_order_link_email_is_the_platforms_and_no_placeholder() -> None:
    with pytest.raises(TemplateRefused, match="unknown placeholder order_url"):
        compile_template("order_link", "en", "x", "{{ order_url }}")
    worded = compile_template("order_link", "en", "Your link {{ order_no }}", "Here:\n[[link]]\nThanks")
    sent = TemplateRenderer().render_worded(worded, "order_link", "en", CONTEXT)
    assert sent.text.startswith("Here:\n" + LINK) and sent.subject == "Your link F1"


def test_without_the_marker_the_keys_go_after_the_shops_text_and_html_is_escaped() -> None:
    worded = compile_template("order_delivered", "en", "{{ product_title }}", "Hi {{ product_title }}")
    sent = TemplateRenderer().render_worded(
        worded, "order_delivered", "en", {**CONTEXT, "product_title": "<b>Game</b>"}
    )
    assert sent.text.startswith("Hi <b>Game</b>\n\n") and sent.text.rstrip().endswith("Use it.")
    assert "&lt;b&gt;Game&lt;/b&gt;" in sent.html and "<b>Game" not in sent.html


def test_a_ticket_reply_keeps_the_platforms_reply_line_above_the_shops_text() -> None:
    worded = compile_template("ticket_reply", "en", "Re {{ order_no }}", "Dear buyer,\n[[answer]]\n")
    context = {
        **CONTEXT,
        "ticket_id": "t",
        "status": "open",
        "author_name": "A",
        "reply": "Fixed.",
        "help_url": LINK,
    }
    sent = TemplateRenderer().render_worded(worded, "ticket_reply", "en", context)
    assert sent.text.startswith("##- Reply above this line") and "Dear buyer,\nFixed." in sent.text


def test_the_gateway_offers_exactly_the_e_mails_and_languages_notification_lets_a_shop_word() -> None:
    # the admin API's path parameters are these enums: a name notification does not know is refused there
    assert set(get_args(WordableNotice)) == set(WORDABLE)
    assert set(get_args(WordingLanguage)) == set(LANGUAGES)
