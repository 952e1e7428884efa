"""Settlement: exactly-once under kill and retry, determinism of reruns, funds shortfall (H_FUNDS).

Expected outcomes are computed by hand in the comments; the ledger is read back with plain SQL.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy
from tests.settlement_seed import (
    DAY,
    assert_balanced,
    execute,
    ledger_digest,
    pay,
    post,
    query,
    seed_file,
    write_profile,
)

from daybook import aml, settlement

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _reset(url: str) -> None:
    """Back to 'approved, nothing posted' (test set-up, plain SQL)."""
    for sql in (
        "DELETE FROM ledger_transfers",
        "DELETE FROM alert_events",
        "UPDATE records SET state = 'APPROVED', final_code = NULL, final_date = NULL",
    ):
        execute(url, sql)


def _states(url: str) -> list[tuple]:
    return query(url, "SELECT business_no, state, final_code, final_date FROM records ORDER BY business_no")


def _settle_in_subprocess(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", f"from daybook import settlement; settlement.post_ledger({DAY!r})"],
        env={**os.environ, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _row_ranges(rows: list[tuple[str, str]], count: int) -> list[set[str]]:
    """Business numbers of records by ``count`` equal ranges of row position (page * 292 + offset)
    between the first record row and the last."""
    pos = {}
    for number, tid in rows:
        page, offset = tid.strip("()").split(",")
        pos[number] = int(page) * 292 + int(offset)
    lo, hi = min(pos.values()), max(pos.values())
    width = (hi - lo + 1) / count
    return [{n for n, p in pos.items() if i * width <= p - lo < (i + 1) * width} for i in range(count)]


@pytest.mark.parametrize("workers", [1, 2])
def test_killed_settlement_retried_posts_the_same_ledger(
    business_db, backend, workers, tmp_path, monkeypatch
):
    # 10 payments of 100.00, limit 750.00: the first 7 in plan order settle, the last 3 return H_FUNDS.
    write_profile(tmp_path / "profiles", monkeypatch, "KILLC", "750.00")
    # Value dates run backwards against line order, so the plan order is line 10, 9, ..., 1.
    rows = [pay(10000, value_date=f"2026-12-{11 - i:02d}") for i in range(1, 11)]
    numbers = seed_file(business_db, "KILLC", rows)
    env = {
        "DAYBOOK_DB_URL": business_db,
        "DAYBOOK_PROFILES": str(tmp_path / "profiles"),
        "DAYBOOK_SETTLEMENT_CHUNK": "3",
        # PostgreSQL applies up to this many chunks at once (SQLite: one at a time).
        "DAYBOOK_SETTLEMENT_WORKERS": str(workers),
    }

    reference = _settle_in_subprocess(env)
    assert reference.returncode == 0, reference.stderr
    want_hash, want_states = ledger_digest(business_db), _states(business_db)
    settled = {n for n, s, *_ in want_states if s == "SETTLED"}
    assert settled == set(numbers[3:]), "lines 4..10 (earliest value dates) settle"
    assert {n for n, s, c, _ in want_states if (s, c) == ("RETURNED", "H_FUNDS")} == set(numbers[:3])
    _reset(business_db)

    rows_before = (
        query(business_db, "SELECT business_no, CAST(ctid AS text) FROM records")
        if backend == "postgres"
        else []
    )
    crashed = _settle_in_subprocess({**env, "DAYBOOK_CRASH_AFTER_CHUNK": "2"})
    assert crashed.returncode == 137, crashed.stderr
    # Exactly two chunks committed: their payments final with their reference outcome, the others
    # still APPROVED, and two legs for each settled one (a chunk being applied by another
    # connection when the process died left nothing).
    done = {n: s for n, s, *_ in _states(business_db) if s != "APPROVED"}
    assert all(want == done[n] for n, want, *_ in want_states if n in done)
    settled_now = sum(1 for s in done.values() if s == "SETTLED")
    assert query(business_db, "SELECT COUNT(*) FROM ledger_entries") == [(2 * settled_now,)]
    if backend == "sqlite":
        # SQLite applies chunks of 3 in settlement order: lines 10..8, then 7..5 (all settle).
        assert set(done) == set(numbers[4:10])
    else:
        # PostgreSQL cuts the span of record rows (page * 292 + offset, from the first planned
        # record to the last) into four equal ranges (ceil(10 / 3) chunks); two committed, whole.
        ranges = _row_ranges(rows_before, 4)
        unions = [a | b for i, a in enumerate(ranges) for b in ranges[i + 1 :]]
        assert set(done) in unions
        if workers == 1:
            assert set(done) == ranges[0] | ranges[1], "one at a time: the first two ranges"

    retried = _settle_in_subprocess(env)
    assert retried.returncode == 0, retried.stderr
    assert ledger_digest(business_db) == want_hash
    assert _states(business_db) == want_states
    assert_balanced(business_db)
    # A second retry of a finished day changes nothing.
    assert _settle_in_subprocess(env).returncode == 0
    assert ledger_digest(business_db) == want_hash


def test_crash_inside_the_funds_boundary_chunk_keeps_outcomes(business_db, tmp_path, monkeypatch):
    # 60.00, 50.00, 30.00 with limit 100.00 and chunks of 1: 60 settles, 50 does not fit (110),
    # 30 is after the first shortfall and returns too (no skipping ahead), even though a crash
    # after the second chunk leaves 40.00 of the limit unused when the run restarts.
    write_profile(tmp_path / "profiles", monkeypatch, "EDGEC", "100.00")
    numbers = seed_file(business_db, "EDGEC", [pay(6000), pay(5000), pay(3000)])
    env = {
        "DAYBOOK_DB_URL": business_db,
        "DAYBOOK_PROFILES": str(tmp_path / "profiles"),
        "DAYBOOK_SETTLEMENT_CHUNK": "1",
    }
    assert _settle_in_subprocess({**env, "DAYBOOK_CRASH_AFTER_CHUNK": "2"}).returncode == 137
    assert _settle_in_subprocess(env).returncode == 0
    assert [(n, s, c) for n, s, c, _ in _states(business_db)] == [
        (numbers[0], "SETTLED", None),
        (numbers[1], "RETURNED", "H_FUNDS"),
        (numbers[2], "RETURNED", "H_FUNDS"),
    ]
    assert query(business_db, "SELECT SUM(amount_cents) FROM ledger_entries WHERE leg = 'D'") == [(6000,)]


def test_three_reruns_give_the_same_ledger_and_result_files(business_db, zones, tmp_path, monkeypatch):
    write_profile(tmp_path / "profiles", monkeypatch, "DETC", "1000.00")
    seed_file(business_db, "DETC", [pay(40000), pay(30000, "2026-11-30"), pay(45000)])
    seed_file(business_db, "DETC", [pay(100)], seq="002")
    seen = set()
    for _ in range(3):
        _reset(business_db)
        settlement.post_ledger(DAY)
        keys = settlement.write_results(DAY)
        files = tuple((k, (zones["landing"] / k).read_bytes()) for k in sorted(keys))
        seen.add((ledger_digest(business_db), files))
        assert_balanced(business_db)
    assert len(seen) == 1
    ((_, files),) = seen
    ret = dict(files)["DETC/outbox/DETC_PAY_20261127_001.ret.csv"].decode()
    # Order: 400.00 (27th, line 1), 450.00 (27th, line 3), 300.00 (30th): 400 + 450 = 850 fits,
    # file 002's 1.00 is the 27th too but file 002 comes after file 001 -> 851; 300 -> 1151 > 1000.
    assert ret == (
        "client_ref,business_no,status,reason_code,amount,final_date\n"
        "R20261127001000001,DETC-PAY-20261127-001-000001,SETTLED,,400.00,2026-11-27\n"
        "R20261127001000002,DETC-PAY-20261127-001-000002,RETURNED,H_FUNDS,300.00,2026-11-27\n"
        "R20261127001000003,DETC-PAY-20261127-001-000003,SETTLED,,450.00,2026-11-27\n"
    )


def test_funds_shortfall_order_and_alert(business_db, tmp_path, monkeypatch):
    write_profile(tmp_path / "profiles", monkeypatch, "FUNDC", "1000.00")
    a = seed_file(
        business_db,
        "FUNDC",
        [pay(40000, "2026-11-28"), pay(30000), pay(50000)],
    )
    b = seed_file(business_db, "FUNDC", [pay(10000), pay(5000, "2026-11-28")], seq="002")
    counts = settlement.post_ledger(DAY)
    # Plan order: a2 300 (27th), a3 500 (27th), b1 100 (27th, file 002), a1 400 (28th), b2 50 (28th).
    # Running totals 300, 800, 900, 1300, 1350 against 1000.00: the first three settle; a1 is
    # the first shortfall and b2 returns as well although 50.00 alone would fit the 100.00 left.
    assert counts == {"SETTLED": 3, "DISBURSED": 0, "RETURNED_FUNDS": 2}
    got = {n: (s, c) for n, s, c, _ in _states(business_db)}
    assert got == {
        a[0]: ("RETURNED", "H_FUNDS"),
        a[1]: ("SETTLED", None),
        a[2]: ("SETTLED", None),
        b[0]: ("SETTLED", None),
        b[1]: ("RETURNED", "H_FUNDS"),
    }
    assert query(
        business_db, "SELECT account, SUM(amount_cents) FROM ledger_entries GROUP BY account ORDER BY account"
    ) == [("FUNDC:CLEARING", 90000), ("FUNDC:PREFUND", 90000)]
    alerts = query(business_db, "SELECT kind, severity, client_id, business_date, message FROM alert_events")
    assert len(alerts) == 1
    kind, severity, client, day, message = alerts[0]
    assert (kind, severity, client, day) == ("PREFUND_SHORT", "critical", "FUNDC", DAY)
    assert "2 payments" in message and "450.00" in message
    # Rerun: no second alert, no new posting.
    settlement.post_ledger(DAY)
    assert query(business_db, "SELECT COUNT(*) FROM alert_events") == [(1,)]
    assert query(business_db, "SELECT COUNT(*) FROM ledger_entries") == [(6,)]
    assert_balanced(business_db)


def test_killed_after_the_plan_posts_only_records_still_there_and_approved(
    business_db, tmp_path, monkeypatch
):
    # Four payments planned, then the process dies before any chunk is applied. Before the retry,
    # one record leaves APPROVED and one disappears: the retry plans the records as it finds them
    # and the postings are made from the records the applying statement moves, so neither gets one.
    write_profile(tmp_path / "profiles", monkeypatch, "GONEC", "1000.00")
    numbers = seed_file(business_db, "GONEC", [pay(10000), pay(20000), pay(30000), pay(40000)])
    env = {"DAYBOOK_DB_URL": business_db, "DAYBOOK_PROFILES": str(tmp_path / "profiles")}
    assert _settle_in_subprocess({**env, "DAYBOOK_CRASH_AFTER_CHUNK": "0"}).returncode == 137
    assert query(business_db, "SELECT COUNT(*) FROM records WHERE state = 'APPROVED'") == [(4,)]
    assert query(business_db, "SELECT COUNT(*) FROM ledger_entries") == [(0,)]
    execute(business_db, "UPDATE records SET state = 'AML_HOLD' WHERE business_no = :n", n=numbers[1])
    execute(business_db, "DELETE FROM records WHERE business_no = :n", n=numbers[2])

    retried = _settle_in_subprocess(env)
    assert retried.returncode == 0, retried.stderr
    assert query(business_db, "SELECT DISTINCT business_no FROM ledger_entries ORDER BY business_no") == [
        (numbers[0],),
        (numbers[3],),
    ]
    assert query(
        business_db,
        "SELECT COUNT(*) FROM ledger_entries AS l LEFT JOIN records AS r ON l.business_no = r.business_no"
        " WHERE r.business_no IS NULL",
    ) == [(0,)]
    assert [(n, s) for n, s, *_ in _states(business_db)] == [
        (numbers[0], "SETTLED"),
        (numbers[1], "AML_HOLD"),
        (numbers[3], "SETTLED"),
    ]
    assert_balanced(business_db)


def test_a_posting_already_there_rolls_the_whole_chunk_back(business_db, tmp_path, monkeypatch):
    # A stray posting for an APPROVED payment: the business number is the ledger's key, so the
    # chunk that would post it again fails and none of its records changes state; without the
    # stray row the same plan then settles everything.
    write_profile(tmp_path / "profiles", monkeypatch, "DUPC", "1000.00")
    numbers = seed_file(business_db, "DUPC", [pay(10000), pay(20000), pay(30000)])
    post(business_db, numbers[1], "DUPC", 20000)
    with pytest.raises(sqlalchemy.exc.IntegrityError):
        settlement.post_ledger(DAY)
    assert query(business_db, "SELECT COUNT(*) FROM records WHERE state = 'APPROVED'") == [(3,)]
    assert query(business_db, "SELECT COUNT(*) FROM ledger_transfers") == [(1,)]
    execute(business_db, "DELETE FROM ledger_transfers")
    assert settlement.post_ledger(DAY) == {"SETTLED": 3, "DISBURSED": 0, "RETURNED_FUNDS": 0}
    assert_balanced(business_db)


def _after_first_plan(monkeypatch, action) -> list[int]:
    """Run ``action`` (on a connection of its own) right after the first plan is made, before any
    chunk is applied; returns the number of payments each plan moved."""
    real, planned = settlement._plan, []

    def plan_then_act(conn, key, limit_cents):
        plan = real(conn, key, limit_cents)
        planned.append(plan.planned)
        if len(planned) == 1:
            action()
        return plan

    monkeypatch.setattr(settlement, "_plan", plan_then_act)
    return planned


def test_a_record_changed_after_the_plan_fails_its_chunk_and_the_day_is_planned_again(
    business_db, backend, tmp_path, monkeypatch
):
    if backend != "postgres":
        pytest.skip("SQLite plans and applies each chunk under the write lock: nothing changes in between")
    # Chunks run in the plan's snapshot: a record another connection changed after it (here an
    # update that leaves it as it was) fails its chunk with a serialization error instead of being
    # applied from a stale reading; the day is planned again and the outcome is a clean run's.
    write_profile(tmp_path / "profiles", monkeypatch, "MOVEC", "700.00")
    numbers = seed_file(business_db, "MOVEC", [pay(10000 * (i + 1)) for i in range(4)])
    assert settlement.post_ledger(DAY) == {"SETTLED": 3, "DISBURSED": 0, "RETURNED_FUNDS": 1}
    want_hash, want_states = ledger_digest(business_db), _states(business_db)
    # 100 + 200 + 300 = 600 fits 700.00; 400 does not.
    assert [s for _, s, *_ in want_states] == ["SETTLED", "SETTLED", "SETTLED", "RETURNED"]
    _reset(business_db)

    aml.screen(DAY)  # screened as the DAG does before settlement: the first plan stands
    planned = _after_first_plan(
        monkeypatch,
        lambda: execute(
            business_db, "UPDATE records SET payload = payload WHERE business_no = :n", n=numbers[1]
        ),
    )
    assert settlement.post_ledger(DAY) == {"SETTLED": 3, "DISBURSED": 0, "RETURNED_FUNDS": 1}
    assert planned == [4, 4], "the first plan's chunk rolled back whole, the second plan moved all four"
    assert ledger_digest(business_db) == want_hash
    assert _states(business_db) == want_states
    assert_balanced(business_db)


def test_a_payment_approved_after_the_plan_waits_for_the_next_run(
    business_db, backend, tmp_path, monkeypatch
):
    if backend != "postgres":
        pytest.skip("SQLite plans and applies each chunk under the write lock: nothing changes in between")
    # A payment approved (here inserted) after the plan's snapshot is not seen by its chunks: it
    # is not settled on a balance the plan did not count it against, and stays APPROVED for the
    # next run. 100 + 200 settle against 450.00; the late 100.00 then fits the 150.00 left.
    write_profile(tmp_path / "profiles", monkeypatch, "LATEC", "450.00")
    seed_file(business_db, "LATEC", [pay(10000), pay(20000)])

    def approve_late():
        seed_file(business_db, "LATEC", [pay(10000)], seq="002")

    aml.screen(DAY)
    planned = _after_first_plan(monkeypatch, approve_late)
    assert settlement.post_ledger(DAY) == {"SETTLED": 2, "DISBURSED": 0, "RETURNED_FUNDS": 0}
    assert planned == [2]
    assert query(business_db, "SELECT COUNT(*) FROM records WHERE state = 'APPROVED'") == [(1,)]
    assert settlement.post_ledger(DAY) == {"SETTLED": 1, "DISBURSED": 0, "RETURNED_FUNDS": 0}
    assert query(business_db, "SELECT SUM(amount_cents) FROM ledger_transfers") == [(40000,)]
    assert_balanced(business_db)


def test_chunks_applied_at_once_cover_the_day_once_and_post_the_same_ledger(
    business_db, backend, tmp_path, monkeypatch
):
    if backend != "postgres":
        pytest.skip("SQLite has one writer: its chunks are applied one after the other")
    # 60 payments in two files, 100.00 .. 159.00 (total 7,770.00), limit 5,000.00: some return.
    write_profile(tmp_path / "profiles", monkeypatch, "PARC", "5000.00")
    seed_file(business_db, "PARC", [pay(10000 + 100 * i, f"2026-11-{27 + i % 3}") for i in range(30)])
    seed_file(business_db, "PARC", [pay(13000 + 100 * i) for i in range(30)], seq="002")
    monkeypatch.setenv("DAYBOOK_SETTLEMENT_WORKERS", "1")
    reference = settlement.post_ledger(DAY)
    want_hash, want_states = ledger_digest(business_db), _states(business_db)
    assert reference["RETURNED_FUNDS"] > 0 and reference["SETTLED"] > 0
    _reset(business_db)

    # Two connections, chunks of at least 10 payments: 4 chunks of records rows.
    monkeypatch.setenv("DAYBOOK_SETTLEMENT_WORKERS", "2")
    monkeypatch.setattr(settlement, "PARALLEL_MIN_ROWS", 10)
    seen: list[tuple[dict, tuple[int, int, int]]] = []
    real = settlement._apply

    def spy(conn, bounds):
        moved = real(conn, bounds)
        seen.append((dict(bounds), moved))
        return moved

    monkeypatch.setattr(settlement, "_apply", spy)
    assert settlement.post_ledger(DAY) == reference
    assert ledger_digest(business_db) == want_hash
    assert _states(business_db) == want_states
    assert_balanced(business_db)

    def tid(text: str) -> tuple[int, int]:
        block, line = text.strip("()").split(",")
        return int(block), int(line)

    chunks = sorted(seen, key=lambda c: tid(c[0]["tid_lo"]))
    assert len(chunks) == 4
    # The row ranges follow one another from the first row to the last possible one, and each
    # moved some of the 60 payments, every one exactly once.
    assert chunks[0][0]["tid_lo"] == "(0,0)" and chunks[-1][0]["tid_hi"] == "(4294967295,65535)"
    for (a, _), (b, _) in zip(chunks, chunks[1:], strict=False):
        assert a["tid_hi"] == b["tid_lo"]
    assert all(s + r > 0 for _, (s, r, _) in chunks)
    assert sum(s + r for _, (s, r, _) in chunks) == 60


def test_loans_are_disbursed_once_and_a_stray_posting_stops_the_day(business_db, tmp_path, monkeypatch):
    # Approved loans post debit LOANS / credit DISBURSEMENT and become DISBURSED; a rerun posts
    # nothing more. A posting already there for an approved loan is not skipped: the client's
    # day rolls back (no loan disbursed, nothing posted) until it is explained and removed.
    write_profile(tmp_path / "profiles", monkeypatch, "LOANC", "1000.00")
    loans = seed_file(business_db, "LOANC", [pay(50000), pay(70000)], file_type="LOAN")
    post(business_db, loans[1], "LOANC", 70000, debit="LOANS", credit="DISBURSEMENT")
    with pytest.raises(sqlalchemy.exc.IntegrityError):
        settlement.post_ledger(DAY)
    assert query(business_db, "SELECT COUNT(*) FROM records WHERE state = 'APPROVED'") == [(2,)]
    assert query(business_db, "SELECT COUNT(*) FROM ledger_transfers") == [(1,)]
    execute(business_db, "DELETE FROM ledger_transfers")
    assert settlement.post_ledger(DAY) == {"SETTLED": 0, "DISBURSED": 2, "RETURNED_FUNDS": 0}
    assert settlement.post_ledger(DAY) == {"SETTLED": 0, "DISBURSED": 0, "RETURNED_FUNDS": 0}
    assert query(
        business_db,
        "SELECT business_no, leg, account, amount_cents FROM ledger_entries ORDER BY business_no, leg DESC",
    ) == [
        (loans[0], "D", "LOANC:LOANS", 50000),
        (loans[0], "C", "LOANC:DISBURSEMENT", 50000),
        (loans[1], "D", "LOANC:LOANS", 70000),
        (loans[1], "C", "LOANC:DISBURSEMENT", 70000),
    ]
    assert {s for _, s, *_ in _states(business_db)} == {"DISBURSED"}
    assert_balanced(business_db)


def test_payments_and_loans_each_post_once_when_the_other_half_fails(business_db, tmp_path, monkeypatch):
    # On PostgreSQL the loans are disbursed on a connection of their own while the payments are
    # planned and applied: payments failing leaves the loans disbursed (committed on their own),
    # and a rerun settles the payments without posting a loan twice. On SQLite the loans come
    # after the payments, so a failure in the payments leaves both undone. Prefunding 1000.00:
    # 300.00 and 400.00 settle.
    write_profile(tmp_path / "profiles", monkeypatch, "MIXC", "1000.00")
    pays = seed_file(business_db, "MIXC", [pay(30000), pay(40000)])
    loans = seed_file(business_db, "MIXC", [pay(50000)], seq="002", file_type="LOAN")

    def broken(*args, **kwargs):
        raise RuntimeError("planning failed")

    with monkeypatch.context() as patch:
        patch.setattr(settlement, "_plan", broken)
        with pytest.raises(RuntimeError, match="planning failed"):
            settlement.post_ledger(DAY)
    states = {no: state for no, state, *_ in _states(business_db)}
    assert [states[n] for n in pays] == ["APPROVED", "APPROVED"]
    on_pg = business_db.startswith("postgresql")
    assert states[loans[0]] == ("DISBURSED" if on_pg else "APPROVED")
    assert_balanced(business_db)

    assert settlement.post_ledger(DAY) == {
        "SETTLED": 2,
        "DISBURSED": 0 if on_pg else 1,
        "RETURNED_FUNDS": 0,
    }
    assert settlement.post_ledger(DAY) == {"SETTLED": 0, "DISBURSED": 0, "RETURNED_FUNDS": 0}
    assert query(
        business_db,
        "SELECT business_no, debit_account, credit_account, amount_cents FROM ledger_transfers ORDER BY business_no",
    ) == sorted(
        [
            (pays[0], "MIXC:PREFUND", "MIXC:CLEARING", 30000),
            (pays[1], "MIXC:PREFUND", "MIXC:CLEARING", 40000),
            (loans[0], "MIXC:LOANS", "MIXC:DISBURSEMENT", 50000),
        ]
    )
    assert {s for _, s, *_ in _states(business_db)} == {"SETTLED", "DISBURSED"}
    assert_balanced(business_db)


def test_a_payment_approved_after_the_day_ran_short_meets_the_same_prefix_rule(
    business_db, tmp_path, monkeypatch
):
    # Limit 1000.00. Lines 2 (600.00) and 3 (500.00) are approved, lines 1 (50.00) and 4 (100.00)
    # held (say by AML). The first run settles 600 and returns 500 H_FUNDS (1100 > 1000). Both
    # held ones are then released: line 1 comes before the return in settlement order and fits
    # the 400.00 left, so it settles; line 4 comes after a payment the day returned H_FUNDS, so it
    # returns too although 100.00 would fit (no skipping ahead, whichever run it comes in).
    write_profile(tmp_path / "profiles", monkeypatch, "LATEF", "1000.00")
    numbers = seed_file(business_db, "LATEF", [pay(5000), pay(60000), pay(50000), pay(10000)])
    held = (numbers[0], numbers[3])
    for n in held:
        execute(business_db, "UPDATE records SET state = 'AML_HOLD' WHERE business_no = :n", n=n)
    assert settlement.post_ledger(DAY) == {"SETTLED": 1, "DISBURSED": 0, "RETURNED_FUNDS": 1}
    for n in held:
        execute(business_db, "UPDATE records SET state = 'APPROVED' WHERE business_no = :n", n=n)
    assert settlement.post_ledger(DAY) == {"SETTLED": 1, "DISBURSED": 0, "RETURNED_FUNDS": 1}
    assert [(n, s, c) for n, s, c, _ in _states(business_db)] == [
        (numbers[0], "SETTLED", None),
        (numbers[1], "SETTLED", None),
        (numbers[2], "RETURNED", "H_FUNDS"),
        (numbers[3], "RETURNED", "H_FUNDS"),
    ]
    assert query(business_db, "SELECT SUM(amount_cents) FROM ledger_transfers") == [(65000,)]
    assert_balanced(business_db)


def test_two_runs_at_once_settle_the_day_once(business_db, backend, tmp_path, monkeypatch):
    # Two workers settle the same day at the same moment (a retry started while the first run is
    # still going). PostgreSQL: one holds the client's day lock while it plans and applies, the
    # other waits and then finds nothing left to plan; SQLite: one writer at a time. Either way
    # the ledger is the one a single run posts. 40 payments of 100.00 .. 139.00, limit 3,000.00.
    write_profile(tmp_path / "profiles", monkeypatch, "TWOC", "3000.00")
    seed_file(business_db, "TWOC", [pay(10000 + 100 * i) for i in range(40)])
    env = {"DAYBOOK_DB_URL": business_db, "DAYBOOK_PROFILES": str(tmp_path / "profiles")}
    single = _settle_in_subprocess(env)
    assert single.returncode == 0, single.stderr
    want_hash, want_states = ledger_digest(business_db), _states(business_db)
    # 100 + 101 + ... : 25 payments make 2,800.00, the 26th would make 2,925.00, the 27th 3,051.00.
    assert sum(1 for _, s, *_ in want_states if s == "SETTLED") == 26
    _reset(business_db)

    code = f"import json; from daybook import settlement; print(json.dumps(settlement.post_ledger({DAY!r})))"
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", code],
            env={**os.environ, **env},
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [r.communicate(timeout=120) for r in runs]
    assert [r.returncode for r in runs] == [0, 0], [err for _, err in outputs]
    settled = sorted(json.loads(out.strip().splitlines()[-1])["SETTLED"] for out, _ in outputs)
    assert settled == [0, 26], "one run settled the day, the other found nothing left"
    assert ledger_digest(business_db) == want_hash
    assert _states(business_db) == want_states
    assert_balanced(business_db)
