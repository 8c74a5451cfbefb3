"""A started process freezes what start-up built, once, and collects its young objects less often than
CPython's default."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from faka_common import collector


@pytest.fixture
def collector_as_before() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.set_threshold(*thresholds)


def test_settle_freezes_start_up_once_and_spaces_young_collections(collector_as_before: None) -> None:
    collector.settle()
    frozen = gc.get_freeze_count()
    assert frozen > 0  # the modules, the app: never walked by a collection again
    assert gc.get_threshold() == (collector.YOUNG, collector.MIDDLE, collector.OLD)
    assert collector.YOUNG > 700  # CPython's default, which made one home page in twenty four times slower

    built_after_start = [[n] for n in range(1_000)]
    collector.settle()  # a second service started in the same process freezes nothing more
    assert gc.get_freeze_count() == frozen
    assert built_after_start[-1] == [999]
