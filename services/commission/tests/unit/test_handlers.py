import logging
from typing import cast
from uuid import uuid4

import pytest
from commission.service_layer.handlers import on_delivery_succeeded
from commission.service_layer.unit_of_work import CommissionUnitOfWork
from faka_common.contracts import DeliverySucceeded


async def test_delivery_succeeded_is_logged_and_publishes_nothing(caplog: pytest.LogCaptureFixture) -> None:
    staged: list[object] = []

    class FakeUow:
        def publish(self, message: object) -> None:
            staged.append(message)

    event = DeliverySucceeded(
        order_id=uuid4(), shop_id=uuid4(), delivery_id=uuid4(), mode="card_key", item_count=2
    )
    with caplog.at_level(logging.INFO):
        await on_delivery_succeeded(event, cast(CommissionUnitOfWork, FakeUow()))
    assert str(event.order_id) in caplog.text and str(event.shop_id) in caplog.text
    assert staged == []
