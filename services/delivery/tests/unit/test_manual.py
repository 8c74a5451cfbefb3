from datetime import UTC, datetime
from uuid import uuid4

import pytest
from delivery.domain.manual import ManualTask
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from faka_common.errors import Conflict

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _task() -> ManualTask:
    return ManualTask(uuid4(), DEFAULT_SHOP_ID, uuid4(), uuid4(), "manual_product", "open", NOW)


def test_an_operator_claims_then_delivers() -> None:
    task = _task()
    task.claim("alice", NOW)
    task.claim("alice", NOW)
    task.deliver("alice", NOW)
    assert (task.status, task.resolved_by) == ("delivered", "alice")


def test_a_task_claimed_by_one_operator_cannot_be_taken_or_finished_by_another() -> None:
    task = _task()
    task.claim("alice", NOW)
    with pytest.raises(Conflict):
        task.claim("bob", NOW)
    with pytest.raises(Conflict):
        task.deliver("bob", NOW)
    with pytest.raises(Conflict):
        task.reject("bob", "no stock", NOW)


def test_an_unclaimed_task_cannot_be_delivered() -> None:
    with pytest.raises(Conflict):
        _task().deliver("alice", NOW)


def test_rejection_keeps_its_reason_and_closes_the_task() -> None:
    task = _task()
    task.claim("alice", NOW)
    task.reject("alice", "account does not exist", NOW)
    assert (task.status, task.reject_reason, task.open) == ("rejected", "account does not exist", False)
    with pytest.raises(Conflict):
        task.claim("alice", NOW)


def test_goods_that_arrive_by_themselves_resolve_the_task() -> None:
    task = _task()
    task.claim("alice", NOW)
    task.resolve_automatically(NOW)
    assert (task.status, task.resolved_by) == ("resolved", "system")


def test_a_new_reason_reopens_a_closed_task_and_keeps_an_open_claim() -> None:
    task = _task()
    task.claim("alice", NOW)
    task.reopen("sla_breach", "late")
    assert (task.status, task.claimed_by, task.reason) == ("claimed", "alice", "sla_breach")
    task.resolve_automatically(NOW)
    task.reopen("suppliers_exhausted", "")
    assert (task.status, task.claimed_by) == ("open", None)
