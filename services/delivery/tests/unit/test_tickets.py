"""A ticket's level and status as the system, the shop and the buyer act on it."""

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from delivery.domain.tickets import DEFAULT_PLATFORM_SLA as PLATFORM
from delivery.domain.tickets import DEFAULT_SHOP_SLA as SHOP
from delivery.domain.tickets import AlreadyWithThePlatform, ThePlatformDecides, Ticket

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


def waiting() -> Ticket:
    t = ticket()
    t.escalate(None, NOW, SHOP)
    return t


def test_a_ticket_reaching_the_shop_is_due_an_answer_and_a_solution_on_the_shops_timers() -> None:
    t = waiting()
    assert (t.response_due, t.resolution_due) == (NOW + SHOP.first_response, NOW + SHOP.resolution)
    assert t.escalation_due == NOW + SHOP.resolution + (SHOP.escalation or timedelta())
    assert t.next_due_at == t.response_due


def test_past_the_first_deadline_it_is_overdue_once_then_past_the_escalation_deadline_the_platforms() -> None:
    t = waiting()
    assert t.sweep(NOW + timedelta(hours=1), PLATFORM) is None
    assert t.sweep(NOW + timedelta(hours=5), PLATFORM) == "overdue"
    assert t.sweep(NOW + timedelta(hours=5), PLATFORM) is None
    late = NOW + timedelta(hours=73)
    assert t.sweep(late, PLATFORM) == "escalated"
    assert (t.level, t.escalated_by, t.reason, t.overdue) == ("L3", "system", "sla_breached", False)
    assert t.response_due == late + PLATFORM.first_response and t.escalation_due is None


def test_an_answer_ends_the_overdue_state_and_the_buyers_word_starts_a_response_deadline_again() -> None:
    t = waiting()
    t.sweep(NOW + timedelta(hours=5), PLATFORM)
    t.shop_replied(NOW + timedelta(hours=6), resolve=False)
    assert (t.overdue, t.next_due_at) == (False, None)
    t.buyer_wrote(NOW + timedelta(hours=7), SHOP)
    assert t.response_due == NOW + timedelta(hours=7) + SHOP.first_response
    assert t.resolution_due == NOW + SHOP.resolution  # the solution was due from when it reached the shop


def test_only_the_platform_closes_a_ticket_with_it_and_it_cannot_be_escalated_twice() -> None:
    t = waiting()
    t.to_platform("buyer", "escalation_requested", NOW, PLATFORM)
    with pytest.raises(ThePlatformDecides):
        t.shop_replied(NOW, resolve=True)
    with pytest.raises(AlreadyWithThePlatform):
        t.to_platform("shop", "escalation_requested", NOW, PLATFORM)
    t.platform_replied(NOW, resolve=True)
    assert (t.level, t.status) == ("L3", "resolved")
