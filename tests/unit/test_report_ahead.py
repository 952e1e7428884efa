"""The reports' read and parse stages run on threads (clearing.ahead): items in order, a
bounded number ahead, an error of the producer raised to the consumer, the thread stopped when
the consumer leaves early."""

from __future__ import annotations

import threading

import pytest

from daybook import clearing


def test_ahead_gives_every_item_in_order():
    with clearing.ahead(iter(range(100)), "lvr-test-order") as ahead:
        assert list(ahead) == list(range(100))


def test_ahead_hands_the_producers_error_to_the_consumer_after_its_items():
    def items():
        yield 1
        yield 2
        raise RuntimeError("read failed midway")

    got = []
    with pytest.raises(RuntimeError, match="read failed midway"), clearing.ahead(items(), "t") as ahead:
        for item in ahead:
            got.append(item)
    assert got == [1, 2]


def test_ahead_stops_its_thread_when_the_consumer_leaves_early():
    produced = []

    def items():
        for i in range(1000):
            produced.append(i)
            yield i

    with clearing.ahead(items(), "lvr-test-early", depth=2) as ahead:
        assert next(ahead) == 0
    assert not [th for th in threading.enumerate() if th.name == "lvr-test-early"]
    assert len(produced) < 10  # at most a few items ahead, never the whole stream


def test_ahead_closes_a_generator_left_early_on_its_own_thread():
    closed = []

    def items():
        try:
            yield from range(1000)
        finally:
            closed.append(threading.current_thread().name)  # what it opened is released

    reader = items()
    with clearing.ahead(reader, "lvr-test-close", depth=2) as ahead:
        assert next(ahead) == 0
    assert closed == ["lvr-test-close"], "closed on the reading thread, before the block ends"
    del reader
