import uuid

from faka_common.contracts.shops import DEFAULT_SHOP_ID
from gateway.domain.shops import Shop
from gateway.entrypoints import pages

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
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
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


def test_shop_page_offers_the_in_stock_variants_of_a_product_as_options() -> None:
    html = pages.shop_page(
        DEFAULT_SHOP,
        [
            {"id": "main", "title": "Steam", "price": 4800, "currency": "CNY", "in_stock": True,
             "variants": [
                 {"id": "main", "label": "¥50", "price": 4800, "currency": "CNY", "in_stock": True},
                 {"id": "v100", "label": "<¥100>", "price": 9500, "currency": "CNY", "in_stock": True},
                 {"id": "v200", "label": "¥200", "price": 19000, "currency": "CNY", "in_stock": False},
             ]},
        ]
    )  # fmt: skip
    assert '<select name="product_id">' in html
    assert 'value="v100">&lt;¥100&gt; · 95.00 CNY' in html
    assert "v200" not in html and "Sold out" not in html


STEAM = {"id": "p1", "title": "Steam", "description": "", "price": 100, "currency": "CNY", "in_stock": True}


def test_a_shops_pages_link_within_its_storefront_path() -> None:
    shop = Shop(uuid.uuid4(), "game-cards", "Game <Cards>", "active")
    html = pages.shop_page(shop, [STEAM], "/s/game-cards")
    assert '<base href="/s/game-cards/">' in html
    assert 'action="shop/orders"' in html and "<h1>Game &lt;Cards&gt;</h1>" in html


def test_a_suspended_shop_shows_it_is_closed_and_offers_nothing_to_buy() -> None:
    shop = Shop(uuid.uuid4(), "game-cards", "Game Cards", "suspended")
    html = pages.shop_page(shop, [STEAM], "/s/game-cards")
    assert "suspended and takes no orders" in html
    assert "<form" not in html and "Steam" not in html
