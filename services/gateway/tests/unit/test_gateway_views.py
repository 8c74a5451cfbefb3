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


def test_catalog_lists_only_active_products_in_storefront_shape() -> None:
    items = storefront_catalog(
        [
            product(),
            product(product_id="p2", active=False),
            product(product_id="p3", stock={"available": 0, "reserved": 1, "sold": 9}),
        ]
    )
    assert items == [
        {
            "id": "p1",
            "title": "Steam 50",
            "description": "d",
            "price": 4800,
            "currency": "CNY",
            "in_stock": True,
        },
        {
            "id": "p3",
            "title": "Steam 50",
            "description": "d",
            "price": 4800,
            "currency": "CNY",
            "in_stock": False,
        },
    ]


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


def test_delivered_order_without_keys_shows_an_empty_list() -> None:
    assert buyer_order_view({**ORDER, "status": "delivered"}, None)["items"] == []


def test_placed_order_links_carry_the_token_url_encoded() -> None:
    placed = {**ORDER, "status": "pending_risk", "token": "a+b/c", "expires_at": "2026-01-01T00:00:00Z"}
    view = placed_order_view(placed, "http://shop.test")
    assert view["order_url"] == "http://shop.test/api/v1/orders/N1?token=a%2Bb%2Fc"
    assert view["page_url"] == "http://shop.test/orders/N1?token=a%2Bb%2Fc"
    assert {"order_no", "token", "status", "amount", "currency", "expires_at"} <= view.keys()
    assert "order_id" not in view
