"""A ticket's level and status as the system, the shop and the buyer act on it."""

from datetime import UTC, datetime
from uuid import uuid4

from delivery.domain.tickets import DEFAULT_SHOP_SLA as SHOP
from delivery.domain.tickets import Ticket

NOW = datetime(2026, 12, 2, tzinfo=UTC)


def ticket() -> Ticket:
    return Ticket(uuid4(), uuid4(), uuid4(), "F1", uuid4(), "key_invalid", "open", "L2", NOW, NOW)


def test_a_refused_replacement_sends_the_ticket_to_the_shop_with_the_reason() -> None:
    t = ticket()
    t.automate(NOW)
    t.escalate("out_of_stock", NOW, SHOP)
    assert (t.level, t.status, t.reason) == ("L2", "open", "out_of_stock")


def test_the_buyer_writing_on_an_answered_or_solved_ticket_reopens_it_for_the_shop() -> None:
    answered, solved = ticket(), ticket()
    answered.shop_replied(NOW, resolve=False)
    solved.automate(NOW)
    solved.resolve(NOW)
    for t in (answered, solved):
        t.buyer_wrote(NOW, SHOP)
        assert (t.level, t.status, t.resolved_at) == ("L2", "open", None)


def test_the_buyer_writing_while_the_system_works_leaves_it_to_the_system() -> None:
    t = ticket()
    t.automate(NOW)
    t.buyer_wrote(NOW, SHOP)
    assert (t.level, t.status) == ("L1", "open")


def test_the_shop_resolving_closes_it() -> None:
    t = ticket()
    t.shop_replied(NOW, resolve=True)
    assert (t.status, t.resolved_at) == ("resolved", NOW)


def test_the_shop_answering_a_resolved_ticket_without_closing_it_reopens_it() -> None:
    t = ticket()
    t.shop_replied(NOW, resolve=True)
    t.shop_replied(NOW, resolve=False)
    assert (t.status, t.resolved_at) == ("answered", None)
