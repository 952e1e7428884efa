"""The large-value report's read and parse stages run on threads (aml._ahead): items in order, a
bounded number ahead, an error of the producer raised to the consumer, the thread stopped when
the consumer leaves early."""

from __future__ import annotations

import threading

import pytest

from daybook import aml


def test_ahead_gives_every_item_in_order():
    with aml._ahead(iter(range(100)), "lvr-test-order") as ahead:
        assert list(ahead) == list(range(100))


def test_ahead_hands_the_producers_error_to_the_consumer_after_its_items():
    def items():
        yield 1
        yield 2
        raise RuntimeError("read failed midway")

    got = []
    with pytest.raises(RuntimeError, match="read failed midway"), aml._ahead(items(), "t") as ahead:
        for item in ahead:
            got.append(item)
    assert got == [1, 2]


def test_ahead_stops_its_thread_when_the_consumer_leaves_early():
    produced = []

    def items():
        for i in range(1000):
            produced.append(i)
            yield i

    with aml._ahead(items(), "lvr-test-early", depth=2) as ahead:
        assert next(ahead) == 0
    assert not [th for th in threading.enumerate() if th.name == "lvr-test-early"]
    assert len(produced) < 10  # at most a few items ahead, never the whole stream
