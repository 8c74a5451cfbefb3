"""The storefront's pages over ASGI with the in-memory owners of test_gateway_http: home, product and
checkout with field errors, lookup, cancel, the language switch and the pages' static files."""

import re

from .test_gateway_http import PRODUCT_ID, Edge, edge

__all__ = ["edge"]
ENGLISH = {"Accept-Language": "en"}
CHINESE = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}


async def test_home_links_each_product_to_its_page_which_has_the_checkout(edge: Edge) -> None:
    home = await edge.client.get("/", headers=ENGLISH)
    assert home.status_code == 200 and f'href="products/{PRODUCT_ID}"' in home.text
    assert "Steam &lt;50&gt;" in home.text and "Only a few left" in home.text  # 2 left
    product = await edge.client.get(f"/products/{PRODUCT_ID}", headers=ENGLISH)
    assert product.status_code == 200
    assert 'action="shop/orders"' in product.text and f'value="{PRODUCT_ID}"' in product.text
    assert "Delivered automatically, seconds after payment" in product.text and "Redeem" in product.text


async def test_an_unknown_product_is_a_404_page(edge: Edge) -> None:
    page = await edge.client.get("/products/nothing-here", headers=ENGLISH)
    assert page.status_code == 404 and "text/html" in page.headers["content-type"]
    assert "This product is not on sale." in page.text


async def test_a_checkout_with_a_bad_email_shows_the_error_next_to_the_field_in_the_buyers_language(
    edge: Edge,
) -> None:
    form = {"product_id": PRODUCT_ID, "email": "nope", "quantity": "1", "query_password": "abc"}
    page = await edge.client.post("/shop/orders", data=form, headers=CHINESE)
    assert page.status_code == 400
    assert '<html lang="zh-CN">' in page.text
    email_error = "请输入有效的邮箱地址，例如 name@example.com。"
    assert f'<p class="field-error" id="e-f-email">{email_error}</p>' in page.text
    assert '<p class="field-error" id="e-f-query_password">' in page.text
    assert 'value="nope"' in page.text and 'value="abc"' not in page.text  # a password is never echoed
    assert not any(call.url.path == "/internal/orders" for call in edge.orders.calls)


async def test_a_checkout_sends_the_pages_language_for_the_emails(edge: Edge) -> None:
    form = {"product_id": PRODUCT_ID, "email": "a@example.com", "quantity": "1", "locale": "en"}
    placed = await edge.client.post("/shop/orders", data=form, headers=CHINESE)
    assert placed.status_code == 303
    [call] = [c for c in edge.orders.calls if c.url.path == "/internal/orders"]
    assert b'"locale":"en"' in call.content.replace(b" ", b"")


async def test_lookup_with_a_wrong_password_answers_exactly_as_for_an_unknown_order(edge: Edge) -> None:
    wrong = await edge.client.post(
        "/lookup", data={"by": "order", "order_no": "F20260101ABC", "password": "guess-1"}, headers=ENGLISH
    )
    unknown = await edge.client.post(
        "/lookup", data={"by": "order", "order_no": "F20991231XYZ", "password": "guess-1"}, headers=ENGLISH
    )
    assert wrong.status_code == unknown.status_code == 404
    assert "No order matches what you entered." in wrong.text
    assert wrong.text.replace("F20260101ABC", "N") == unknown.text.replace("F20991231XYZ", "N")
    assert "Steam" not in wrong.text and "4800" not in wrong.text


async def test_lookup_with_the_right_password_opens_the_order_page(edge: Edge) -> None:
    found = await edge.client.post(
        "/lookup", data={"by": "order", "order_no": "F20260101ABC", "password": "secret-pw"}
    )
    assert found.status_code == 303 and found.headers["location"] == "/orders/F20260101ABC?password=secret-pw"


async def test_lookup_by_email_lists_the_orders_with_links_that_open_them(edge: Edge) -> None:
    listed = await edge.client.post(
        "/lookup",
        data={"by": "email", "email": "buyer@example.com", "password": "secret-pw"},
        headers=ENGLISH,
    )
    assert listed.status_code == 200
    assert 'href="orders/F20260101ABC?password=secret-pw"' in listed.text
    nothing = await edge.client.post(
        "/lookup", data={"by": "email", "email": "buyer@example.com", "password": "nope-nope"}
    )
    assert nothing.status_code == 404 and "F20260101ABC" not in nothing.text


async def test_the_cancel_button_gives_up_the_unpaid_order_and_returns_to_its_page(edge: Edge) -> None:
    cancelled = await edge.client.post("/orders/F20260101ABC/cancel", data={"token": "tok"})
    assert cancelled.status_code == 303
    assert cancelled.headers["location"] == "/orders/F20260101ABC?token=tok"
    assert any(c.url.path == "/internal/orders/F20260101ABC/cancel" for c in edge.orders.calls)


async def test_the_language_switch_is_remembered_over_accept_language(edge: Edge) -> None:
    switched = await edge.client.get("/lookup?lang=en", headers=CHINESE)
    assert '<html lang="en">' in switched.text
    assert switched.headers["set-cookie"].startswith("faka_lang=en;")
    later = await edge.client.get("/lookup", headers=CHINESE)  # the client keeps the cookie
    assert '<html lang="en">' in later.text
    edge.client.cookies.clear()
    assert '<html lang="zh-CN">' in (await edge.client.get("/lookup", headers=CHINESE)).text


async def test_without_a_preference_the_page_is_in_the_shops_default_language(edge: Edge) -> None:
    page = await edge.client.get("/lookup")
    assert '<html lang="zh-CN">' in page.text and "查询订单" in page.text


async def test_the_pages_script_and_style_are_served_and_nothing_else(edge: Edge) -> None:
    script = await edge.client.get("/static/storefront.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert "EventSource" in script.text
    style = await edge.client.get("/static/storefront.css")
    assert style.status_code == 200 and re.search(r"min-height:44px", style.text)
    assert (await edge.client.get("/static/..%2Fpages.py")).status_code == 404
    assert (await edge.client.get("/static/other.js")).status_code == 404
