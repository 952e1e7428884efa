"""A client's files validated at once (PostgreSQL) get the answers they get one after the other.

Contract section 6: of two rows with the same client_ref, the later one (earlier files first) is
R_DUPLICATE_REF. Files validated at once on two connections do not see each other's uncommitted
rows, so they run at once only while no ref of one is in another; otherwise the files not yet
final are validated again, in order. Expected acks are written here by hand (csv module); the
SQLite runs are the sequential reference for the same drops.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import threading
from datetime import date

import pytest
import sqlalchemy
from test_validation_ack import ACK_HEADER, drop_and_intake, pay_row

from daybook import validation
from daybook.storage import LocalStore

pytestmark = pytest.mark.integration
DAY = date(2026, 11, 27)
CLIENT = "PARA"


def pay(ref: str, amount: str = "100.00") -> list[str]:
    return pay_row(ref, amount=amount)


@pytest.fixture
def env(business_db, zones, tmp_path, monkeypatch):
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / f"{CLIENT}.yaml").write_text(f'client_id: {CLIENT}\nerror_rate_threshold: "0.5"\n')
    monkeypatch.setenv("DAYBOOK_PROFILES", str(folder))
    monkeypatch.setenv("DAYBOOK_VALIDATION_WORKERS", "2")
    return business_db


def drop(seq: str, rows: list[list[str]]) -> None:
    drop_and_intake(CLIENT, seq, rows)


def ack(seq: str) -> bytes:
    return LocalStore(os.environ["DAYBOOK_LANDING"]).get(
        f"{CLIENT}/outbox/{CLIENT}_PAY_{DAY:%Y%m%d}_{seq}.ack.csv"
    )


def expected_ack(seq: str, refs: list[str], codes: list[str]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(ACK_HEADER)
    for i, (ref, code) in enumerate(zip(refs, codes, strict=True), start=1):
        w.writerow(
            [i, ref, f"{CLIENT}-PAY-{DAY:%Y%m%d}-{seq}-{i:06d}", "REJECTED" if code else "ACCEPTED", code]
        )
    return buf.getvalue().encode("utf-8")


def records_of_day(url: str) -> list[tuple]:
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as conn:
            return [
                tuple(r)
                for r in conn.execute(
                    sqlalchemy.text(
                        "SELECT business_no, client_ref, ack_status, reason_codes FROM records ORDER BY business_no"
                    )
                )
            ]
    finally:
        engine.dispose()


def meet_at_once(monkeypatch, parties: int) -> list[int]:
    """Make every file validated beside others wait for ``parties`` of them to be in flight at
    once before it starts (a barrier: it times out, failing the run, if they never overlap).
    Returns the list the file ids are appended to as they start."""
    barrier = threading.Barrier(parties, timeout=60)
    started: list[int] = []
    real = validation.validate_file

    def validate_file(file_id, claims=None, index=0):
        if claims is not None:
            started.append(file_id)
            barrier.wait()
        return real(file_id, claims, index)

    monkeypatch.setattr(validation, "validate_file", validate_file)
    return started


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_files_without_a_shared_ref_are_validated_at_once_with_their_own_answers(env, monkeypatch, caplog):
    drop("001", [pay("A1"), pay("A2", amount="0"), pay("A3"), pay("A3"), pay("A5")])
    drop("002", [pay("B1"), pay("B2"), pay("B2", amount="0"), pay("B3")])
    started = meet_at_once(monkeypatch, 2)
    with caplog.at_level(logging.INFO, logger="daybook.validation"):
        results = validation.validate_client(CLIENT, DAY.isoformat())
    assert len(started) == 2, "both files ran at once"
    assert [r["status"] for r in results] == ["VALIDATED", "VALIDATED"]
    assert [(r["rows"], r["rejected"]) for r in results] == [(5, 2), (4, 1)]
    assert "validated again in order" not in caplog.text
    assert ack("001") == expected_ack(
        "001", ["A1", "A2", "A3", "A3", "A5"], ["", "R_AMOUNT", "", "R_DUPLICATE_REF", ""]
    )
    assert ack("002") == expected_ack(
        "002", ["B1", "B2", "B2", "B3"], ["", "", "R_AMOUNT;R_DUPLICATE_REF", ""]
    )


def test_a_ref_shared_by_files_is_the_later_files_duplicate_whether_or_not_they_ran_at_once(env, caplog):
    """On PostgreSQL the two files start at once, meet on A1 and are validated again in order;
    on SQLite they are validated in order from the start: the same answers either way."""
    drop("001", [pay("A1"), pay("A2"), pay("A4")])
    drop("002", [pay("B1"), pay("A1"), pay("B2")])
    drop("003", [pay("C1"), pay("A4")])
    with caplog.at_level(logging.INFO, logger="daybook.validation"):
        results = validation.validate_client(CLIENT, DAY.isoformat())
    assert [r["status"] for r in results] == ["VALIDATED"] * 3
    assert [(r["rows"], r["rejected"]) for r in results] == [(3, 0), (3, 1), (2, 1)]
    assert ack("001") == expected_ack("001", ["A1", "A2", "A4"], ["", "", ""])
    assert ack("002") == expected_ack("002", ["B1", "A1", "B2"], ["", "R_DUPLICATE_REF", ""])
    assert ack("003") == expected_ack("003", ["C1", "A4"], ["", "R_DUPLICATE_REF"])
    if env.startswith("postgresql"):
        assert "validated again in order" in caplog.text
    refs = [(r[1], r[2]) for r in records_of_day(env)]
    assert sorted(refs) == sorted(
        [("A1", "ACCEPTED"), ("A2", "ACCEPTED"), ("A4", "ACCEPTED"), ("B1", "ACCEPTED"), ("A1", "REJECTED")]
        + [("B2", "ACCEPTED"), ("C1", "ACCEPTED"), ("A4", "REJECTED")]
    )


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_a_file_refused_for_its_error_rate_beside_another_leaves_the_other_published(env, monkeypatch):
    drop("001", [pay("A1", amount="0"), pay("A2", amount="0"), pay("A3")])  # 2 of 3 rejected: above 50%
    drop("002", [pay("B1"), pay("B2")])
    started = meet_at_once(monkeypatch, 2)
    results = validation.validate_client(CLIENT, DAY.isoformat())
    assert len(started) == 2
    assert [r["status"] for r in results] == ["REJECTED", "VALIDATED"]
    assert results[0]["code"] == "F_ERROR_RATE"
    assert [r[0] for r in records_of_day(env)] == [
        f"{CLIENT}-PAY-{DAY:%Y%m%d}-002-000001",
        f"{CLIENT}-PAY-{DAY:%Y%m%d}-002-000002",
    ]
    assert ack("002") == expected_ack("002", ["B1", "B2"], ["", ""])


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_a_file_failing_beside_another_publishes_nothing_of_it_and_a_rerun_answers_every_row(
    env, monkeypatch
):
    drop("001", [pay("A1"), pay("A2")])
    drop("002", [pay("B1"), pay("B2"), pay("B3")])
    drop("003", [pay("C1")])
    real = validation._records
    calls = {"n": 0}

    def failing_records(table, first_line, codes, cents, receipt, btype):
        if receipt.seq == "002":
            calls["n"] += 1
            raise RuntimeError("disk full while building the rows of 002")
        return real(table, first_line, codes, cents, receipt, btype)

    monkeypatch.setattr(validation, "_records", failing_records)
    with pytest.raises(RuntimeError, match="disk full"):
        validation.validate_client(CLIENT, DAY.isoformat())
    assert calls["n"] == 1
    published = {r[0].rsplit("-", 2)[1] for r in records_of_day(env)}
    assert "002" not in published and "003" not in published  # 003 never becomes final before 002
    monkeypatch.setattr(validation, "_records", real)
    results = validation.validate_client(CLIENT, DAY.isoformat())
    assert [r["status"] for r in results] == ["VALIDATED"] * 3
    rows = records_of_day(env)
    assert [r[0] for r in rows] == [
        *(f"{CLIENT}-PAY-{DAY:%Y%m%d}-001-{i:06d}" for i in (1, 2)),
        *(f"{CLIENT}-PAY-{DAY:%Y%m%d}-002-{i:06d}" for i in (1, 2, 3)),
        f"{CLIENT}-PAY-{DAY:%Y%m%d}-003-000001",
    ], "every row once"
    assert ack("002") == expected_ack("002", ["B1", "B2", "B3"], ["", "", ""])


def test_claims_refuse_a_ref_another_file_claimed_and_stop_the_run():
    import pandas as pd

    claims = validation._Claims(3)
    claims.claim(0, pd.Series(["A1", "A2", ""]))
    claims.claim(1, pd.Series(["B1", ""]))  # "" is no ref: never shared
    claims.claim(0, pd.Series(["A3"]))
    with pytest.raises(validation._Overlap):
        claims.claim(2, pd.Series(["C1", "A3"]))
    assert claims.stopped
    with pytest.raises(validation._Overlap):
        claims.claim(1, pd.Series(["B2"]))  # the run is stopped: nobody writes more
    with pytest.raises(validation._Overlap):
        claims.wait_turn(1)


def test_a_file_becomes_final_only_after_every_earlier_file():
    claims = validation._Claims(3)
    order: list[str] = []

    def later() -> None:
        claims.wait_turn(2)
        order.append("2 final")

    t = threading.Thread(target=later)
    t.start()
    claims.final(1)
    t.join(0.3)
    assert t.is_alive(), "file 2 waits for file 0 too"
    order.append("0 final")
    claims.final(0)
    t.join(10)
    assert not t.is_alive()
    assert order == ["0 final", "2 final"]
    claims.wait_turn(0)  # the first file never waits
