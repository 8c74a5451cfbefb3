import uuid

from faka_common.contracts.shops import DEFAULT_SHOP_ID
from gateway.domain.shops import Shop
from gateway.entrypoints import pages
from gateway.service_layer.buyer_secrets import OrderSecret

DEFAULT_SHOP = Shop(DEFAULT_SHOP_ID, "default", "Default shop", "active")

EVIL = '<script>alert("x")</script>'
ORDER = {
    "order_id": "o1",
    "order_no": "N1",
    "status": "delivered",
    "product_title": EVIL,
    "quantity": 1,
    "amount": 4800,
    "currency": "CNY",
    "created_at": "2026-01-01T00:00:00+00:00",
    "items": [{"content": "<b>KEY</b>"}],
    "usage_instructions": "<img src=x onerror=alert(1)>",
}


def test_product_title_and_keys_are_escaped_on_the_order_page() -> None:
    html = pages.order_page(ORDER)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(" in html
    assert "&lt;b&gt;KEY&lt;/b&gt;" in html
    assert "<img" not in html
    assert "48.00 CNY" in html


def test_sandbox_checkout_escapes_and_posts_to_complete_with_the_token() -> None:
    html = pages.sandbox_checkout_page({**ORDER, "status": "awaiting_payment"}, 'to"ken&x')
    assert "<script>" not in html
    # relative to the page's base, the shop's storefront
    assert '<base href="/">' in html
    assert 'action="pay/sandbox/N1/complete?token=to%22ken%26x"' in html
    assert "48.00 CNY" in html


def test_sandbox_checkout_offers_no_button_once_paid() -> None:
    assert "<form" not in pages.sandbox_checkout_page({**ORDER, "status": "paid"}, "t")


def test_shop_page_escapes_titles() -> None:
    html = pages.shop_page(
        DEFAULT_SHOP,
        [{"id": "p1", "title": EVIL, "description": "", "price": 100, "currency": "CNY", "in_stock": True}],
    )
    assert "<script>" not in html
    assert "1.00 CNY" in html


def test_pay_link_only_for_http_urls() -> None:
    awaiting = {**ORDER, "status": "awaiting_payment"}
    assert 'href="javascript' not in pages.order_page({**awaiting, "pay_url": "javascript:alert(1)"})
    assert 'href="http://g/pay/sandbox/N1?token=t"' in pages.order_page(
        {**awaiting, "pay_url": "http://g/pay/sandbox/N1?token=t"}
    )


def test_the_product_page_offers_the_variants_as_options_with_sold_out_ones_disabled() -> None:
    steam = {"id": "main", "title": "Steam", "price": 4800, "currency": "CNY", "in_stock": True,
             "variants": [
                 {"id": "main", "label": "¥50", "price": 4800, "currency": "CNY", "in_stock": True},
                 {"id": "v100", "label": "<¥100>", "price": 9500, "currency": "CNY", "in_stock": True},
                 {"id": "v200", "label": "¥200", "price": 19000, "currency": "CNY", "in_stock": False},
             ]}  # fmt: skip
    html = pages.product_page(DEFAULT_SHOP, steam, pages.for_shop(DEFAULT_SHOP, "en"), chosen="v100")
    assert '<input type="radio" name="product_id" value="v100" checked>' in html
    assert "&lt;¥100&gt;" in html and "95.00 CNY" in html
    assert '<input type="radio" name="product_id" value="v200" disabled>' in html
    home = pages.shop_page(DEFAULT_SHOP, [steam], ctx=pages.for_shop(DEFAULT_SHOP, "en"))
    assert "from 48.00 CNY" in home and 'href="products/main"' in home


STEAM = {"id": "p1", "title": "Steam", "description": "", "price": 100, "currency": "CNY", "in_stock": True}


def test_a_shops_pages_link_within_its_storefront_path() -> None:
    shop = Shop(uuid.uuid4(), "game-cards", "Game <Cards>", "active")
    html = pages.shop_page(shop, [STEAM], "/s/game-cards")
    assert '<base href="/s/game-cards/">' in html
    assert 'href="products/p1"' in html and "<h1>Game &lt;Cards&gt;</h1>" in html
    checkout = pages.product_page(shop, STEAM, pages.for_shop(shop, "en", "/s/game-cards"))
    assert '<base href="/s/game-cards/">' in checkout and 'action="shop/orders"' in checkout


def test_a_suspended_shop_shows_it_is_closed_and_offers_nothing_to_buy() -> None:
    shop = Shop(uuid.uuid4(), "game-cards", "Game Cards", "suspended")
    html = pages.shop_page(shop, [STEAM], "/s/game-cards")
    assert "suspended and takes no orders" in html
    assert "<form" not in html and "Steam" not in html


ENGLISH = pages.PageContext("en", "", "Shop", "/orders/N1?token=tok")
CHINESE = pages.PageContext("zh-CN", "", "Shop", "/orders/N1?token=tok")
AWAITING = {**ORDER, "status": "awaiting_payment", "expires_at": "2026-01-01T00:15:00+00:00",
            "pay_url": "http://g/pay/sandbox/N1?token=tok", "payment_methods": ["sandbox"]}  # fmt: skip


def test_home_lists_products_by_category_in_category_order_with_their_stock_state() -> None:
    games, cards = str(uuid.uuid4()), str(uuid.uuid4())
    categories = [
        {"category_id": cards, "name": "Gift cards", "sort_order": 2, "visible": True},
        {"category_id": games, "name": "Games", "sort_order": 1, "visible": True},
    ]
    products = [
        {**STEAM, "id": "a", "title": "Apple 100", "category_id": cards, "available": 40},
        {**STEAM, "id": "b", "title": "Elden Ring", "category_id": games, "available": 2},
        {**STEAM, "id": "c", "title": "Old game", "category_id": games, "in_stock": False, "available": 0},
        {**STEAM, "id": "d", "title": "Loose", "category_id": None, "available": None},
    ]
    html = pages.shop_page(DEFAULT_SHOP, products, ctx=ENGLISH, categories=categories)
    titles = ("Games", "Elden Ring", "Old game", "Gift cards", "Apple 100", "Loose")
    order = [html.index(text) for text in titles]
    assert order == sorted(order)
    elden = html[html.index("Elden Ring") : html.index("Old game")]
    assert '<span class="price">1.00 CNY</span>' in elden and "stock-low" in elden
    assert '<span class="stock stock-sold_out">Sold out</span>' in html
    assert html.count('<span class="stock stock-available">In stock</span>') == 2


def test_the_unpaid_order_page_shows_its_deadline_pay_and_cancel_and_follows_its_event_stream() -> None:
    html = pages.order_page(AWAITING, secret=OrderSecret(token="tok"), ctx=ENGLISH)
    assert '<time datetime="2026-01-01T00:15:00+00:00" data-countdown>' in html
    assert 'href="http://g/pay/sandbox/N1?token=tok">Pay now</a>' in html
    assert 'action="orders/N1/cancel"' in html and 'name="token" value="tok"' in html
    assert 'data-events="api/v1/orders/N1/events?token=tok"' in html
    assert 'data-status="awaiting_payment"' in html
    # without a script the page still refreshes itself
    assert '<noscript><meta http-equiv="refresh" content="5"></noscript>' in html


def test_delivered_keys_each_have_a_copy_button_and_select_whole() -> None:
    html = pages.order_page({**ORDER, "items": [{"content": "AAAA-1111-BBBB"}]}, ctx=ENGLISH)
    assert '<code class="key">AAAA-1111-BBBB</code>' in html
    assert 'data-copy="AAAA-1111-BBBB"' in html and ">Copy</button>" in html
    assert "data-events" not in html and "http-equiv" not in html  # settled: nothing to follow


def test_a_rejected_order_says_why_and_leads_back_to_the_shop() -> None:
    html = pages.order_page({**ORDER, "status": "rejected"}, secret=OrderSecret(token="t"), ctx=ENGLISH)
    assert "The shop's checks declined this order. Nothing was charged." in html
    assert '<a class="button" href="./">Back to the shop</a>' in html
    assert "Pay now" not in html and "cancel" not in html


def test_times_are_machine_readable_for_the_script_that_shows_them_in_local_time() -> None:
    html = pages.order_page(ORDER, ctx=ENGLISH)
    assert '<time datetime="2026-01-01T00:00:00+00:00">' in html
    assert '<script src="static/storefront.js" defer>' in html


def test_the_order_page_in_chinese_says_so_and_links_to_itself_in_english() -> None:
    html = pages.order_page(AWAITING, secret=OrderSecret(token="tok"), ctx=CHINESE)
    assert '<html lang="zh-CN">' in html
    assert "待付款" in html and "立即付款" in html and "取消此订单" in html
    assert 'href="orders/N1?token=tok&amp;lang=en" lang="en"' in html


def test_checkout_inputs_say_what_they_are_for_and_errors_sit_next_to_their_field() -> None:
    html = pages.product_page(
        DEFAULT_SHOP, STEAM, ENGLISH, errors={"email": "Enter a valid e-mail"}, form={"email": "nope"}
    )
    assert 'name="email" type="email" autocomplete="email"' in html
    assert 'name="query_password" type="password" autocomplete="new-password"' in html
    assert 'aria-invalid="true" value="nope">' in html
    assert '<p class="field-error" id="e-f-email">Enter a valid e-mail</p>' in html


def test_the_lookup_page_shows_nothing_found_the_same_way_and_offers_both_lookups() -> None:
    html = pages.lookup_page(ENGLISH, not_found=True, form={"order_no": "N1"})
    assert "No order matches what you entered." in html
    assert 'name="order_no"' in html and 'name="email"' in html
    assert html.count('autocomplete="current-password"') == 2
    assert "data-recent" in html  # the orders opened in this browser (filled by the script)


def test_a_qr_payment_shows_a_code_drawn_here_and_the_payload_as_text() -> None:
    payload = 'weixin://wxpay/bizpayurl?pr=<x>"'
    html = pages.qr_payment_page("N1", {"provider": "wechatpay", "qr_payload": payload}, ctx=ENGLISH)
    assert '<figure class="qr-code" role="img" aria-label="QR code to pay order N1"><svg' in html
    assert "weixin://wxpay/bizpayurl?pr=&lt;x&gt;&#34;" in html  # the text, escaped
    assert html.count("weixin://") == 1  # the SVG draws modules, never the payload's text
    assert "Scan or open this with WeChat Pay:" in html
    assert "<svg" not in pages.qr_payment_page("N1", {"provider": "usdt", "qr_payload": "x" * 5000})
