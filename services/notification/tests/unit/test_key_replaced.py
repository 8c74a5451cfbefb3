"""The buyer's e-mail after an automatic replacement: the new key only (not the order's other keys), once
per replacement, in the buyer's language, and never in a published message."""

from typing import cast
from uuid import UUID, uuid4

from faka_common.contracts.aftersales import KeyReplaced
from notification.domain.model import OrderKeys
from notification.service_layer import handlers
from notification.service_layer.unit_of_work import NotificationUnitOfWork

from .test_handlers import PLATFORM, FakeUow, _channels, _notifier, _with_contact

OLD, NEW, OTHER = uuid4(), uuid4(), uuid4()


class TwoKeys:
    """The order's keys after the replacement: the new key and another key of the order."""

    async def order_keys(self, shop_id: UUID, order_id: UUID) -> OrderKeys:
        return OrderKeys(order_id, ["OTHER-KEY-1", "NEW-KEY-2"], "Redeem in the app.", [OTHER, NEW])


def replaced(order_id: UUID, claim_id: UUID) -> KeyReplaced:
    return KeyReplaced(
        order_id=order_id, product_id=uuid4(), claim_id=claim_id, ticket_id=uuid4(), voided_key_id=OLD,
        key_id=NEW, batch_id=uuid4(),
    )  # fmt: skip


async def test_the_buyer_is_emailed_the_new_key_once_per_replacement() -> None:
    uow, channels, order_id, claim = FakeUow(), _channels(), uuid4(), uuid4()
    notifier = _notifier(channels)
    await _with_contact(uow, order_id, "zh-CN")
    for event in (replaced(order_id, claim), replaced(order_id, claim), replaced(order_id, uuid4())):
        await handlers.notify_key_replaced(
            event, cast(NotificationUnitOfWork, uow), notifier, TwoKeys(), PLATFORM
        )

    first, second = channels["email"].sent
    assert first.notice == f"key_replaced:{claim}"
    assert "NEW-KEY-2" in first.content.text and "OTHER-KEY-1" not in first.content.text
    assert "补发" in first.content.subject and "NEW-KEY-2" in first.content.html
    assert second.notice != first.notice
    assert all("NEW-KEY-2" not in m.model_dump_json() for m in uow.published)
