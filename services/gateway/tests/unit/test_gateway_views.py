from gateway.domain.views import (
    buyer_order_view,
    format_amount,
    in_stock,
    placed_order_view,
    storefront_catalog,
)


def test_amounts_are_formatted_as_major_units() -> None:
    assert format_amount(1234, "CNY") == "12.34 CNY"
    assert format_amount(5, "USD") == "0.05 USD"
    assert format_amount(0, "CNY") == "0.00 CNY"
    assert format_amount(500, "JPY") == "500 JPY"
    assert format_amount(1234, "KWD") == "1.234 KWD"
    assert format_amount(-250, "EUR") == "-2.50 EUR"


def product(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "product_id": "p1",
        "title": "Steam 50",
        "description": "d",
        "price": 4800,
        "currency": "CNY",
        "delivery_type": "card_key",
        "usage_instructions": "",
        "active": True,
        "stock": {"available": 3, "reserved": 0, "sold": 1},
    }
    return {**base, **overrides}


def test_catalog_lists_only_active_visible_products_in_storefront_shape() -> None:
    items = storefront_catalog(
        [
            product(),
            product(product_id="p2", active=False),
            product(product_id="p3", stock={"available": 0, "reserved": 1, "sold": 9}),
            product(product_id="p4", visible=False),
        ]
    )
    shape = {
        "title": "Steam 50",
        "description": "d",
        "price": 4800,
        "currency": "CNY",
        "delivery_type": "card_key",
        "category_id": None,
        "sort_order": 0,
        "max_per_order": None,
        "max_per_buyer": None,
        "usage_instructions": "",
        "variant_of": None,
        "variant_label": None,
        "variants": [],
    }
    assert items == [
        {"id": "p1", **shape, "in_stock": True, "available": 3},
        {"id": "p3", **shape, "in_stock": False, "available": 0},
    ]


def test_a_sold_out_product_is_marked_unless_it_asks_to_be_hidden() -> None:
    sold_out = {"available": 0, "reserved": 0, "sold": 5}
    items = storefront_catalog(
        [
            product(product_id="marked", stock=sold_out),
            product(product_id="hidden", stock=sold_out, hide_when_sold_out=True),
            product(product_id="stocked", hide_when_sold_out=True),
            product(product_id="loop", delivery_type="loop_key", hide_when_sold_out=True,
                    stock={"available": None, "reserved": 0, "sold": 2}),
        ]
    )  # fmt: skip
    assert [(p["id"], p["in_stock"]) for p in items] == [("marked", False), ("stocked", True), ("loop", True)]


def test_variants_are_listed_under_their_main_product_with_their_own_price_and_stock() -> None:
    items = storefront_catalog(
        [
            product(product_id="main", variant_label="¥50"),
            product(product_id="other"),
            product(product_id="v100", price=9500, variant_of="main", variant_label="¥100"),
            product(product_id="v200", price=19000, variant_of="main", variant_label="¥200",
                    stock={"available": 0, "reserved": 0, "sold": 4}),
            product(product_id="orphan", variant_of="off-sale-main", variant_label="x"),
        ]
    )  # fmt: skip
    assert [p["id"] for p in items] == ["main", "other", "orphan"]
    main = items[0]
    assert [(v["id"], v["label"], v["price"], v["in_stock"]) for v in main["variants"]] == [
        ("main", "¥50", 4800, True),
        ("v100", "¥100", 9500, True),
        ("v200", "¥200", 19000, False),
    ]
    assert items[1]["variants"] == [] and items[2]["variants"] == []


def test_loop_key_products_are_always_in_stock() -> None:
    assert in_stock(product(delivery_type="loop_key", stock={"available": None, "reserved": 0, "sold": 7}))


ORDER = {"order_id": "o1", "order_no": "N1", "status": "awaiting_payment", "amount": 4800, "currency": "CNY"}
KEYS = {"order_id": "o1", "keys": [{"key_id": "k1", "content": "AAAA-BBBB"}], "usage_instructions": "Redeem"}


def test_keys_are_shown_once_delivered() -> None:
    for status in ("delivered", "completed"):
        view = buyer_order_view({**ORDER, "status": status}, KEYS)
        assert view["items"] == [{"content": "AAAA-BBBB"}]
        assert view["usage_instructions"] == "Redeem"
        assert "key_id" not in view["items"][0]


def test_keys_are_never_shown_before_delivery() -> None:
    for status in ("pending_risk", "awaiting_payment", "paid", "cancelled", "expired"):
        view = buyer_order_view({**ORDER, "status": status}, KEYS)
        assert "items" not in view
        assert "usage_instructions" not in view


def test_the_buyer_never_sees_how_the_secret_opened_the_order_or_the_link_kept_for_later() -> None:
    """`access` and `once_awaiting_payment` are for the gateway's order-page stream, not the page."""
    once = {"pay_url": "https://pay.example/N1?token=t", "payment_methods": ["sandbox"]}
    view = buyer_order_view({**ORDER, "access": {"by": "token"}, "once_awaiting_payment": once}, None)
    assert "access" not in view and "once_awaiting_payment" not in view


def test_delivered_order_without_keys_shows_an_empty_list() -> None:
    assert buyer_order_view({**ORDER, "status": "delivered"}, None)["items"] == []


def test_placed_order_links_carry_the_token_url_encoded() -> None:
    placed = {**ORDER, "status": "pending_risk", "token": "a+b/c", "expires_at": "2026-01-01T00:00:00Z"}
    view = placed_order_view(placed, "http://shop.test")
    assert view["order_url"] == "http://shop.test/api/v1/orders/N1?token=a%2Bb%2Fc"
    assert view["page_url"] == "http://shop.test/orders/N1?token=a%2Bb%2Fc"
    assert {"order_no", "token", "status", "amount", "currency", "expires_at"} <= view.keys()
    assert "order_id" not in view
