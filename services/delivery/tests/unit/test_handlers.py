from typing import cast
from uuid import UUID, uuid4

from delivery.domain.model import Delivery
from delivery.service_layer.handlers import deliver_allocated_keys
from delivery.service_layer.unit_of_work import DeliveryUnitOfWork
from faka_common.contracts import DeliveryFailed, DeliverySucceeded, KeysAllocated, Message


class FakeDeliveries:
    def __init__(self) -> None:
        self.rows: dict[UUID, Delivery] = {}

    async def add(self, delivery: Delivery) -> bool:
        if delivery.order_id in self.rows:
            return False
        self.rows[delivery.order_id] = delivery
        return True


class FakeUow:
    def __init__(self) -> None:
        self.deliveries = FakeDeliveries()
        self.published: list[Message] = []

    def publish(self, message: Message) -> None:
        self.published.append(message)


def _allocated(order_id: UUID, delivery_type: str = "card_key", keys: int = 2) -> KeysAllocated:
    return KeysAllocated(
        order_id=order_id,
        product_id=uuid4(),
        key_ids=[uuid4() for _ in range(keys)],
        delivery_type=delivery_type,
    )


async def test_allocated_keys_are_delivered_once_per_order() -> None:
    uow, order_id = FakeUow(), uuid4()
    await deliver_allocated_keys(_allocated(order_id), cast(DeliveryUnitOfWork, uow))
    await deliver_allocated_keys(_allocated(order_id, keys=5), cast(DeliveryUnitOfWork, uow))
    [event] = uow.published
    assert isinstance(event, DeliverySucceeded)
    assert (event.order_id, event.mode, event.item_count) == (order_id, "card_key", 2)
    record = uow.deliveries.rows[order_id]
    assert event.delivery_id == record.id
    assert record.status == "succeeded" and record.attempts == 1 and record.completed_at is not None


async def test_loop_key_is_one_item() -> None:
    uow = FakeUow()
    await deliver_allocated_keys(_allocated(uuid4(), "loop_key", keys=0), cast(DeliveryUnitOfWork, uow))
    [event] = uow.published
    assert isinstance(event, DeliverySucceeded) and event.item_count == 1 and event.mode == "loop_key"


async def test_card_key_allocation_without_keys_is_a_failed_delivery() -> None:
    uow, order_id = FakeUow(), uuid4()
    await deliver_allocated_keys(_allocated(order_id, keys=0), cast(DeliveryUnitOfWork, uow))
    [event] = uow.published
    assert isinstance(event, DeliveryFailed) and event.order_id == order_id and event.reason
    assert uow.deliveries.rows[order_id].status == "failed"
