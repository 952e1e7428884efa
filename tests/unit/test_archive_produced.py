"""The order and bounds in which a package's members are produced (archive._produced), with
producers standing in for the database and store reads (no database needed to show the order)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from daybook import archive


def _producer(path: str, started: list[str], from_database: bool = False, barrier=None, fail=False):
    def produce(target: Path) -> None:
        started.append(path)
        if barrier is not None:
            barrier.wait(timeout=10)  # both database members must be running at once to pass
        if fail:
            raise RuntimeError(f"{path} could not be read")
        target.write_text(f"plaintext of {path}")

    if from_database:
        produce.from_database = True
    return produce


def test_members_come_in_path_order_database_ones_at_once_and_copies_a_bounded_step_ahead(tmp_path):
    started: list[str] = []
    both = threading.Barrier(2)
    copies = [f"originals/file{i}.csv" for i in range(6)]
    sources = {path: _producer(path, started) for path in copies}
    sources["ledger.csv"] = _producer("ledger.csv", started, from_database=True, barrier=both)
    sources["records.parquet"] = _producer("records.parquet", started, from_database=True, barrier=both)
    order = sorted(sources)
    seen = []
    for path, plain in archive._produced(sources, tmp_path):
        assert plain.read_text() == f"plaintext of {path}"
        i = order.index(path)
        time.sleep(0.05)  # time for the copy producer to start whatever it is allowed to
        # Copies started so far are at most LOOKAHEAD members past the one handed over.
        assert all(order.index(p) <= i + archive.LOOKAHEAD for p in started if p in copies)
        # The member handed over before this one has been deleted.
        if seen:
            assert not (tmp_path / f"member-{order.index(seen[-1])}").exists()
        seen.append(path)
    assert seen == order
    assert list(tmp_path.iterdir()) == []


def test_a_member_that_cannot_be_produced_fails_at_its_turn_after_the_ones_before_it(tmp_path):
    started: list[str] = []
    sources = {
        "a.csv": _producer("a.csv", started),
        "b.csv": _producer("b.csv", started, fail=True),
        "c.csv": _producer("c.csv", started),
        "records.parquet": _producer("records.parquet", started, from_database=True),
    }
    seen = []
    with pytest.raises(RuntimeError, match="b.csv could not be read"):
        for path, _ in archive._produced(sources, tmp_path):
            seen.append(path)
    assert seen == ["a.csv"]
