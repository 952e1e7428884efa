"""Settlement: exactly-once under kill and retry, determinism of reruns, funds shortfall (H_FUNDS).

Expected outcomes are computed by hand in the comments; the ledger is read back with plain SQL.
"""

from __future__ import annotations

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

from daybook import settlement

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _reset(url: str) -> None:
    """Back to 'approved, nothing posted' (test set-up, plain SQL)."""
    for sql in (
        "DELETE FROM ledger_transfers",
        "DELETE FROM settlement_plan",
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

    crashed = _settle_in_subprocess({**env, "DAYBOOK_CRASH_AFTER_CHUNK": "2"})
    assert crashed.returncode == 137, crashed.stderr
    # Exactly two chunks of 3 committed: 6 payments final with their reference outcome, 4 still
    # APPROVED, and two legs for each settled one (a chunk being applied by another connection
    # when the process died left nothing).
    done = {n: s for n, s, *_ in _states(business_db) if s != "APPROVED"}
    assert len(done) == 6
    assert all(want == done[n] for n, want, *_ in want_states if n in done)
    settled_now = sum(1 for s in done.values() if s == "SETTLED")
    assert query(business_db, "SELECT COUNT(*) FROM ledger_entries") == [(2 * settled_now,)]
    if workers == 1:
        # One chunk at a time, so the first two chunks. SQLite cuts chunks in plan order (lines
        # 10..8, then 7..5: all settle); PostgreSQL by records pages, i.e. line order here (lines
        # 1..3 return H_FUNDS, 4..6 settle).
        first_six = numbers[4:10] if backend == "sqlite" else numbers[:6]
        assert set(done) == set(first_six)

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
    # Four payments planned and committed, then the process dies before any posting. Before the
    # retry, one record leaves APPROVED and one disappears: the postings are made from the records
    # the applying statement moves, not from the plan, so neither gets one.
    write_profile(tmp_path / "profiles", monkeypatch, "GONEC", "1000.00")
    numbers = seed_file(business_db, "GONEC", [pay(10000), pay(20000), pay(30000), pay(40000)])
    env = {"DAYBOOK_DB_URL": business_db, "DAYBOOK_PROFILES": str(tmp_path / "profiles")}
    assert _settle_in_subprocess({**env, "DAYBOOK_CRASH_AFTER_CHUNK": "0"}).returncode == 137
    assert query(business_db, "SELECT COUNT(*) FROM settlement_plan WHERE outcome = 'SETTLE'") == [(4,)]
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


def test_a_record_updated_after_the_plan_is_applied_by_its_number(
    business_db, backend, tmp_path, monkeypatch
):
    # On PostgreSQL the plan keeps the row each record was read from (record_tid) and applying
    # goes there; a record updated after the plan was committed (still APPROVED, same amount) is
    # at another row by then and is applied by the second statement, which joins on the business
    # number. The outcome is the same as a run without the crash and the update.
    write_profile(tmp_path / "profiles", monkeypatch, "MOVEC", "700.00")
    numbers = seed_file(business_db, "MOVEC", [pay(10000 * (i + 1)) for i in range(4)])
    env = {"DAYBOOK_DB_URL": business_db, "DAYBOOK_PROFILES": str(tmp_path / "profiles")}
    reference = _settle_in_subprocess(env)
    assert reference.returncode == 0, reference.stderr
    want_hash, want_states = ledger_digest(business_db), _states(business_db)
    # 100 + 200 + 300 = 600 fits 700.00; 400 does not.
    assert [s for _, s, *_ in want_states] == ["SETTLED", "SETTLED", "SETTLED", "RETURNED"]
    _reset(business_db)

    assert _settle_in_subprocess({**env, "DAYBOOK_CRASH_AFTER_CHUNK": "0"}).returncode == 137
    execute(business_db, "UPDATE records SET payload = payload WHERE business_no = :n", n=numbers[1])
    if backend == "postgres":
        moved = query(
            business_db,
            "SELECT COUNT(*) FROM settlement_plan AS p INNER JOIN records AS r ON p.business_no = r.business_no"
            " WHERE p.record_tid <> r.ctid",
        )
        assert moved == [(1,)], "the updated record is no longer at the row the plan read"

    retried = _settle_in_subprocess(env)
    assert retried.returncode == 0, retried.stderr
    assert ledger_digest(business_db) == want_hash
    assert _states(business_db) == want_states
    assert_balanced(business_db)


def test_chunks_applied_at_once_cover_the_plan_once_and_post_the_same_ledger(
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

    # Two connections, chunks of at least 10 plan rows: 4 chunks of records pages.
    monkeypatch.setenv("DAYBOOK_SETTLEMENT_WORKERS", "2")
    monkeypatch.setattr(settlement, "PARALLEL_MIN_ROWS", 10)
    seen: list[dict] = []
    real = settlement._apply

    def spy(conn, bounds, statement=None):
        seen.append(dict(bounds))
        return real(conn, bounds, statement)

    monkeypatch.setattr(settlement, "_apply", spy)
    assert settlement.post_ledger(DAY) == reference
    assert ledger_digest(business_db) == want_hash
    assert _states(business_db) == want_states
    assert_balanced(business_db)

    def tid(text: str) -> tuple[int, int]:
        block, line = text.strip("()").split(",")
        return int(block), int(line)

    ranges = sorted(((b["tid_lo"], b["tid_hi"]) for b in seen), key=lambda r: tid(r[0]))
    assert len(ranges) == 4, "no plan row left for the statement by business number"
    # The page ranges follow one another from the first row to the last possible one.
    assert ranges[0][0] == "(0,0)" and ranges[-1][1] == "(4294967295,65535)"
    by_tid = query(
        business_db,
        "SELECT CAST(record_tid AS text) FROM settlement_plan ORDER BY record_tid",
    )
    edges = [lo for lo, _ in ranges[1:]]
    assert all(e in {t for (t,) in by_tid} for e in edges)
    for (_, hi), (lo, _) in zip(ranges, ranges[1:], strict=False):
        assert hi == lo


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
