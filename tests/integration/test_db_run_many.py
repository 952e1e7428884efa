"""db.run_many: a batch of rows through one statement (PostgreSQL: a JSON array read by
json_to_recordset) gives what one execution per row gives, on both databases."""

from __future__ import annotations

import pytest
import sqlalchemy
from tests.settlement_seed import pay, query, seed_file

from daybook import audit_chain, db

pytestmark = pytest.mark.integration

AWKWARD = "同意，无异议 'single' \"double\" back\\slash\nnew line\ttab %_ ;-- ✓"


def _states(url: str, nos: list[str]) -> list[tuple]:
    rows = query(url, "SELECT business_no, state, tier, rule_version FROM records")
    found = {r[0]: r[1:] for r in rows}
    return [found[n] for n in nos]


def test_updates_match_one_execution_per_row(business_db):
    nos = seed_file(business_db, "MANY", [pay(100 * i) for i in range(1, 9)], state="VALIDATED")
    engine = sqlalchemy.create_engine(business_db)
    by_row, batched = nos[:4], nos[4:]

    def rows(numbers: list[str]) -> list[dict]:
        # the last one is not VALIDATED any more: the statement must skip it and not count it
        return [
            {"business_no": n, "state": "PENDING_APPROVAL", "tier": f"L{i % 2 + 1}", "rule_version": AWKWARD}
            for i, n in enumerate(numbers)
        ]

    with engine.begin() as conn:
        conn.execute(
            sqlalchemy.text("UPDATE records SET state = 'APPROVED' WHERE business_no IN (:a, :b)"),
            {"a": by_row[-1], "b": batched[-1]},
        )
        one_each = sum(db.run(conn, "update_record_tier", [r]).rowcount for r in rows(by_row))
        many = db.run_many(conn, "update_record_tier", rows(batched)).rowcount
    engine.dispose()
    assert one_each == many == 3
    assert _states(business_db, by_row) == _states(business_db, batched)
    assert _states(business_db, batched)[0] == ("PENDING_APPROVAL", "L1", AWKWARD)
    assert _states(business_db, batched)[-1][0] == "APPROVED"


def test_state_moves_check_the_expected_state_per_row(business_db):
    nos = seed_file(business_db, "MOVE", [pay(100), pay(200), pay(300)], state="PENDING_APPROVAL")
    engine = sqlalchemy.create_engine(business_db)
    with engine.begin() as conn:
        result = db.run_many(
            conn,
            "update_record_final",
            [
                {
                    "business_no": nos[0],
                    "state": "DECLINED",
                    "final_code": "A_DECLINED",
                    "final_date": "2026-11-27",
                    "expected": "PENDING_APPROVAL",
                },
                {
                    "business_no": nos[1],
                    "state": "DECLINED",
                    "final_code": "A_DECLINED",
                    "final_date": "2026-11-27",
                    "expected": "APPROVED",
                },
            ],
        )
        assert result.rowcount == 1
        moved = db.run_many(
            conn,
            "update_record_state",
            [{"business_no": nos[2], "state": "APPROVED", "expected": "PENDING_APPROVAL"}],
        )
        assert moved.rowcount == 1
    engine.dispose()
    got = {
        r[0]: r[1:]
        for r in query(business_db, "SELECT business_no, state, final_code, final_date FROM records")
    }
    assert got[nos[0]] == ("DECLINED", "A_DECLINED", "2026-11-27")
    assert got[nos[1]] == ("PENDING_APPROVAL", None, None)
    assert got[nos[2]] == ("APPROVED", None, None)


def test_approvals_and_audit_events_keep_every_character_and_the_chain_verifies(business_db):
    nos = seed_file(business_db, "KEPT", [pay(100), pay(200)], state="PENDING_APPROVAL")
    engine = sqlalchemy.create_engine(business_db)
    with engine.begin() as conn:
        db.run_many(
            conn,
            "insert_approval",
            [
                {
                    "business_no": n,
                    "level": 1,
                    "decision": "APPROVE",
                    "decided_by": "审核员甲",
                    "opinion": AWKWARD,
                    "rule_version": None,
                }
                for n in nos
            ],
        )
        audit_chain.append(
            conn,
            [
                {"actor": "审核员甲", "action": "approval_approve", "subject": n, "detail": AWKWARD}
                for n in nos
            ],
        )
    with engine.connect() as conn:
        results = audit_chain.verify(conn, "KEPT")
    engine.dispose()
    approvals = query(
        business_db,
        "SELECT business_no, level, decided_by, opinion, rule_version FROM approvals ORDER BY approval_id",
    )
    assert approvals == [(n, 1, "审核员甲", AWKWARD, None) for n in nos]
    events = query(
        business_db, "SELECT subject, detail, seq FROM audit_events WHERE client_id = 'KEPT' ORDER BY seq"
    )
    assert [(s, d) for s, d, _ in events] == [(n, AWKWARD) for n in nos]
    assert [r.ok for r in results] == [True]
