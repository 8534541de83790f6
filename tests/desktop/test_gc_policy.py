"""Full garbage collections wait for the engine to be idle, and still find cyclic garbage."""

from __future__ import annotations

import gc

import pytest

from desktop.gc_policy import FULL_COLLECTION_THRESHOLD, IdleCollector, make_full_collections_rare


@pytest.fixture
def collector(qtbot):
    before = gc.get_threshold()
    frozen = gc.get_freeze_count()
    yield IdleCollector(delay_ms=20)
    gc.set_threshold(*before)
    if not frozen:
        gc.unfreeze()


def test_full_collections_are_made_rare_never_frequent(collector) -> None:
    assert gc.get_threshold()[2] >= FULL_COLLECTION_THRESHOLD
    gc.set_threshold(700, 10, 5_000)
    make_full_collections_rare()
    assert gc.get_threshold() == (700, 10, 5_000)  # never lowered


def test_idle_collects_after_the_delay_and_busy_cancels(qtbot, collector) -> None:
    collector.idle()
    assert collector.pending()
    collector.busy()
    assert not collector.pending() and collector.collections == 0
    collector.idle()
    qtbot.waitUntil(lambda: collector.collections == 1, timeout=5_000)
    assert not collector.pending()


def test_collect_finds_cyclic_garbage_and_freezes_survivors_once(collector) -> None:
    class Node:
        pass

    a, b = Node(), Node()
    a.other, b.other = b, a
    del a, b
    assert collector.collect() >= 2  # the two nodes (and their __dict__s)
    assert gc.get_freeze_count() > 0
