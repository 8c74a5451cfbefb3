"""What inventory tells of a product on every change: every selling term a placement needs, so the order
service's catalog read model can price and check an order without asking inventory."""

from datetime import UTC, datetime
from uuid import uuid4

from inventory.domain.model import Product
from inventory.service_layer.catalog import product_changed

NOW = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


def product(**values: object) -> Product:
    terms: dict[str, object] = {
        "id": uuid4(), "title": "Top-up", "description": "", "price": 9_800, "currency": "CNY",
        "delivery_type": "recharge", "usage_instructions": "", "active": True, "created_at": NOW,
    }  # fmt: skip
    return Product(**(terms | values))  # type: ignore[arg-type]


def test_a_change_tells_the_face_value_and_that_the_product_is_on_sale() -> None:
    event = product_changed(product(face_value=10_000, max_per_order=2, max_per_buyer=5))
    assert (event.face_value, event.paused, event.max_per_order, event.max_per_buyer) == (10_000, False, 2, 5)
    assert {"face_value", "paused"} <= set(event.model_dump(mode="json"))


def test_a_change_of_a_paused_product_tells_it_is_paused() -> None:
    event = product_changed(product(paused_at=NOW, paused_reason="after-sales rate 0.5 > 0.4"))
    assert event.paused is True and event.face_value is None
