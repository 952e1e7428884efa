"""Approval against a real business database (SQLite and PostgreSQL): routing by the profile's
rules, the cutoff (backlog alert, expiry) with an injected clock, and the audit trail."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from approval_seed import DAY, loan, pay, query, seed_file, write_profiles
from daybook import approval

pytestmark = pytest.mark.integration
SH = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def bank(business_db, tmp_path, monkeypatch):
    write_profiles(tmp_path / "profiles", monkeypatch, "BANKX")
    return business_db


def _states(url):
    return {
        no: (state, tier, final_code)
        for no, state, tier, final_code in query(
            url, "SELECT business_no, state, tier, final_code FROM records ORDER BY business_no"
        )
    }


def test_assess_routes_every_tier_and_policy_outcome_and_stores_the_rule_version(bank, monkeypatch):
    monkeypatch.setattr(approval, "ASSESS_PAGE", 2)  # the five loans are judged over three pages
    _, pays = seed_file(
        bank,
        "BANKX",
        "PAY",
        [pay(5_000_000), pay(5_000_001), pay(100_000_000), pay(100, "USD"), pay(100_000_000, "USD")],
    )
    _, loans = seed_file(
        bank,
        "BANKX",
        "LOAN",
        [
            loan("120000.00", 60, "120000.00", 750),  # DTI 0.20, score 750, small: AUTO
            loan("120000.00", 12, "240000.00", 720),  # DTI 0.50: L1
            loan("1000000.00", 250, "240000.00", 800, "MORTGAGE", "2000000.00"),  # L2
            loan("120000.00", 60, "120000.00", 599),  # score under 600: declined by policy
            loan("700000.00", 350, "240000.00", 800, "MORTGAGE", "999999.99"),  # LTV > 0.70: declined
        ],
    )
    counts = approval.assess(DAY)
    assert counts == {"AUTO": 2, "L1": 3, "L2": 3, "POLICY": 2}
    states = _states(bank)
    assert [states[n] for n in pays] == [
        ("APPROVED", "AUTO", None),
        ("PENDING_APPROVAL", "L1", None),
        ("PENDING_APPROVAL", "L2", None),
        ("PENDING_APPROVAL", "L1", None),
        ("PENDING_APPROVAL", "L2", None),  # a review currency and two reviewers' amount: L2
    ]
    assert [states[n] for n in loans] == [
        ("APPROVED", "AUTO", None),
        ("PENDING_APPROVAL", "L1", None),
        ("PENDING_APPROVAL", "L2", None),
        ("DECLINED", "POLICY", "A_POLICY"),
        ("DECLINED", "POLICY", "A_POLICY"),
    ]
    from daybook import profiles

    version = profiles.load("BANKX").version
    assert query(bank, "SELECT DISTINCT rule_version FROM records") == [(version,)]
    assert query(bank, "SELECT final_date FROM records WHERE final_code = 'A_POLICY'") == [(DAY,), (DAY,)]
    # Rerunning the rules changes nothing already routed.
    assert approval.assess(DAY) == {"AUTO": 0, "L1": 0, "L2": 0, "POLICY": 0}
    assert _states(bank) == states


def _routing_events(url):
    return [
        json.loads(detail)["loan_outcomes"]
        for (detail,) in query(
            url, "SELECT detail FROM audit_events WHERE action = 'rules_applied' ORDER BY event_id"
        )
    ]


@pytest.mark.parametrize("failing", ["loans", "payments"])
def test_routing_that_fails_halfway_is_completed_by_a_rerun_without_routing_anything_twice(
    bank, monkeypatch, failing
):
    """On PostgreSQL the day's payments are routed on a connection of their own while the loans
    are judged; a failure in either half leaves every record either routed or still VALIDATED
    (never half-applied), and a rerun routes exactly what is left."""
    _, pays = seed_file(bank, "BANKX", "PAY", [pay(5_000_000), pay(100_000_000), pay(6_000_000)])
    _, loans = seed_file(
        bank,
        "BANKX",
        "LOAN",
        [loan("120000.00", 60, "120000.00", 750), loan("120000.00", 60, "120000.00", 599)],
    )

    def broken(*args, **kwargs):
        raise RuntimeError(f"{failing} broke")

    with monkeypatch.context() as patch:
        if failing == "loans":
            patch.setattr(approval, "judge_loan", broken)
        elif bank.startswith("sqlite"):
            patch.setattr(approval.db, "run", _failing_on("update_pay_records_tier_auto", approval.db.run))
        else:
            patch.setattr(approval, "_route_payments", broken)
        with pytest.raises(RuntimeError, match=f"{failing} broke"):
            approval.assess(DAY)
    states = _states(bank)
    assert {states[n][0] for n in loans} == {"VALIDATED"}  # the loans' transaction rolled back
    assert _routing_events(bank) == []
    if failing == "loans" and not bank.startswith("sqlite"):
        # The payments' statement committed on its own connection.
        assert [states[n][:2] for n in pays] == [
            ("APPROVED", "AUTO"),
            ("PENDING_APPROVAL", "L2"),
            ("PENDING_APPROVAL", "L1"),
        ]
        rerun = {"AUTO": 1, "L1": 0, "L2": 0, "POLICY": 1}
    else:
        # SQLite routes both in one transaction; on PostgreSQL a failed payment statement
        # fails the run before the loans' transaction commits.
        assert {states[n][0] for n in pays} == {"VALIDATED"}
        rerun = {"AUTO": 2, "L1": 1, "L2": 1, "POLICY": 1}
    assert approval.assess(DAY) == rerun
    states = _states(bank)
    assert [states[n][:2] for n in pays] == [
        ("APPROVED", "AUTO"),
        ("PENDING_APPROVAL", "L2"),
        ("PENDING_APPROVAL", "L1"),
    ]
    assert [states[n] for n in loans] == [("APPROVED", "AUTO", None), ("DECLINED", "POLICY", "A_POLICY")]
    assert _routing_events(bank) == [{"AUTO": 1, "L1": 0, "L2": 0, "POLICY": 1}]
    assert approval.assess(DAY) == {"AUTO": 0, "L1": 0, "L2": 0, "POLICY": 0}


def _failing_on(name, run):
    def wrapped(conn, statement, *args, **kwargs):
        if statement == name:
            raise RuntimeError("payments broke")
        return run(conn, statement, *args, **kwargs)

    return wrapped


def test_backlog_alert_before_the_cutoff_then_expiry_at_it(bank):
    seed_file(bank, "BANKX", "PAY", [pay(6_000_000), pay(7_000_000), pay(200_000_000)])
    approval.assess(DAY)  # 60000 and 70000: L1; 2000000: L2. Cutoff 18:00, alert 30 min before.
    assert approval.backlog_alert(DAY, now=datetime(2026, 11, 27, 17, 29, tzinfo=SH)) == {}
    assert approval.backlog_alert(DAY, now=datetime(2026, 11, 27, 17, 30, tzinfo=SH)) == {
        "BANKX": {"L1": 2, "L2": 1}
    }
    approval.backlog_alert(DAY, now=datetime(2026, 11, 27, 17, 45, tzinfo=SH))  # same alert, not twice
    alerts = query(bank, "SELECT kind, client_id, business_date, message FROM alert_events")
    assert len(alerts) == 1
    kind, client, day, message = alerts[0]
    assert (kind, client, day) == ("APPROVAL_BACKLOG", "BANKX", DAY)
    assert "3 records" in message and "L1 2" in message and "L2 1" in message and "18:00" in message

    assert approval.decisions_complete(DAY, now=datetime(2026, 11, 27, 17, 59, tzinfo=SH)) is False
    assert approval.expire(DAY, now=datetime(2026, 11, 27, 17, 59, tzinfo=SH)) == 0
    assert approval.decisions_complete(DAY, now=datetime(2026, 11, 27, 18, 0, tzinfo=SH)) is True
    assert approval.expire(DAY, now=datetime(2026, 11, 27, 18, 0, tzinfo=SH)) == 3
    assert query(bank, "SELECT DISTINCT state, final_code, final_date FROM records") == [
        ("RETURNED", "A_EXPIRED", DAY)
    ]
    assert approval.backlog_alert(DAY, now=datetime(2026, 11, 27, 17, 50, tzinfo=SH)) == {}


def test_every_decision_leaves_a_complete_append_only_trail(bank):
    file_id, (l2_no, l1_no) = seed_file(bank, "BANKX", "PAY", [pay(150_000_000), pay(6_000_000)])
    approval.assess(DAY)
    approval.submit(file_id, "op.zhang")
    assert approval.decide(l2_no, "li.wei", "APPROVE", "payee checked") == "PENDING_APPROVAL"
    assert approval.decide(l2_no, "wang.fang", "APPROVE", "limits ok") == "APPROVED"
    assert approval.decide(l1_no, "li.wei", "DECLINE", "purpose missing") == "RETURNED"

    rows = query(
        bank,
        "SELECT business_no, level, decision, decided_by, opinion, rule_version, decided_at"
        " FROM approvals ORDER BY approval_id",
    )
    from daybook import profiles

    version = profiles.load("BANKX").version
    assert [r[:6] for r in rows] == [
        (l2_no, 1, "APPROVE", "li.wei", "payee checked", version),
        (l2_no, 2, "APPROVE", "wang.fang", "limits ok", version),
        (l1_no, 1, "DECLINE", "li.wei", "purpose missing", version),
    ]
    assert all(r[6] is not None for r in rows)
    events = query(bank, "SELECT at, actor, action, subject, detail FROM audit_events ORDER BY event_id")
    decisions = [(a, act, s, json.loads(d)) for _, a, act, s, d in events if act.startswith("approval_")]
    assert [(a, act, s) for a, act, s, _ in decisions] == [
        ("op.zhang", "approval_submitted", f"file/{file_id}"),
        ("li.wei", "approval_approve", l2_no),
        ("wang.fang", "approval_approve", l2_no),
        ("li.wei", "approval_decline", l1_no),
    ]
    for (_, _, _, detail), (_, level, decision, _, opinion, rv, _) in zip(decisions[1:], rows, strict=True):
        assert (detail["level"], detail["decision"], detail["opinion"], detail["rule_version"]) == (
            level,
            decision,
            opinion,
            rv,
        )
    assert [e["action"] for e in approval.audit_trail(l2_no)] == ["approval_approve", "approval_approve"]
    final = query(bank, "SELECT state, final_code FROM records WHERE business_no = :n", n=l1_no)
    assert final == [("RETURNED", "A_DECLINED")]


def test_a_batch_decision_applies_every_rule_of_a_single_decision(bank, monkeypatch):
    """decide_many (approve selected): each record judged and recorded as if decided alone."""
    file_id, (l2_a, l2_b, l1_a, auto) = seed_file(
        bank, "BANKX", "PAY", [pay(150_000_000), pay(160_000_000), pay(6_000_000), pay(100)]
    )
    other_file, (l1_other,) = seed_file(bank, "BANKX", "PAY", [pay(7_000_000)], seq="002")
    approval.assess(DAY)
    approval.submit(other_file, "op.zhang")  # op.zhang is the maker of l1_other's file
    approval.decide(l2_b, "li.wei", "APPROVE", "first level")
    monkeypatch.setattr(approval, "DECIDE_BATCH", 2)  # several transactions

    decided, refused = approval.decide_many(
        [l2_a, l2_b, l1_a, auto, l1_other, "NOSUCH", l1_a], "op.zhang", "APPROVE", "batch"
    )
    assert decided == {l2_a: "PENDING_APPROVAL", l2_b: "APPROVED", l1_a: "APPROVED"}
    assert set(refused) == {auto, l1_other, "NOSUCH"}
    assert "not waiting" in refused[auto]
    assert "maker is never the checker" in refused[l1_other]
    assert "no record" in refused["NOSUCH"]

    # The second level of l2_a needs another person: the same reviewer again is refused.
    decided, refused = approval.decide_many([l2_a], "op.zhang", "APPROVE", "again")
    assert decided == {} and "already decided" in refused[l2_a]
    with pytest.raises(approval.DecisionRefused):
        approval.decide_many([l2_a], "li.wei", "DECLINE", "  ")  # a decline needs an opinion
    decided, _ = approval.decide_many([l2_a, l1_other], "li.wei", "DECLINE", "payee unknown")
    assert decided == {l2_a: "RETURNED", l1_other: "RETURNED"}

    rows = query(bank, "SELECT business_no, level, decision, decided_by FROM approvals ORDER BY approval_id")
    assert rows == [
        (l2_b, 1, "APPROVE", "li.wei"),
        (l2_a, 1, "APPROVE", "op.zhang"),
        (l2_b, 2, "APPROVE", "op.zhang"),
        (l1_a, 1, "APPROVE", "op.zhang"),
        (l2_a, 2, "DECLINE", "li.wei"),
        (l1_other, 1, "DECLINE", "li.wei"),
    ]
    assert query(
        bank,
        "SELECT state, final_code FROM records WHERE business_no IN (:a, :b) ORDER BY business_no",
        a=l2_a,
        b=l1_other,
    ) == [("RETURNED", "A_DECLINED"), ("RETURNED", "A_DECLINED")]
    trail = approval.audit_trail(l2_a)
    assert [(e["actor"], e["action"], e["detail"]["level"], e["detail"]["state_after"]) for e in trail] == [
        ("op.zhang", "approval_approve", 1, "PENDING_APPROVAL"),
        ("li.wei", "approval_decline", 2, "RETURNED"),
    ]
    assert file_id != other_file


def test_demo_reviewers_take_each_record_through_exactly_the_levels_its_tier_needs(bank, monkeypatch):
    # Two L1 payments, two L2 payments (one already approved at level 1 by a person), one AUTO.
    file_id, (l1_a, l1_b, l2_a, l2_b, auto) = seed_file(
        bank,
        "BANKX",
        "PAY",
        [pay(6_000_000), pay(7_000_000), pay(150_000_000), pay(160_000_000), pay(100)],
    )
    approval.assess(DAY)
    approval.submit(file_id, "op.zhang")
    assert approval.decide(l2_b, "li.wei", "APPROVE", "payee checked") == "PENDING_APPROVAL"
    monkeypatch.setenv("DAYBOOK_DEMO_APPROVER", "demo.first,demo.second")

    assert approval.demo_decide(DAY) == 5  # l1_a, l1_b, l2_a at level 1; l2_a, l2_b at level 2
    assert query(
        bank, "SELECT business_no, level, decided_by FROM approvals ORDER BY business_no, level"
    ) == sorted(
        [
            (l1_a, 1, "demo.first"),
            (l1_b, 1, "demo.first"),
            (l2_a, 1, "demo.first"),
            (l2_a, 2, "demo.second"),
            (l2_b, 1, "li.wei"),
            (l2_b, 2, "demo.second"),
        ]
    )
    assert {n: s for n, (s, _, _) in _states(bank).items()} == dict.fromkeys(
        (l1_a, l1_b, l2_a, l2_b, auto), "APPROVED"
    )
    assert approval.decisions_complete(DAY, now=datetime(2026, 11, 27, 9, 0, tzinfo=SH)) is True
    assert approval.demo_decide(DAY) == 0  # nothing left waiting


def _demo_day(bank):
    """Seven L1 payments, five L2 (one already approved at level 1 by a person), one AUTO."""
    _, nos = seed_file(
        bank,
        "BANKX",
        "PAY",
        [pay(6_000_000 + i) for i in range(7)] + [pay(150_000_000 + i) for i in range(5)] + [pay(100)],
    )
    l1, l2 = nos[:7], nos[7:12]
    approval.assess(DAY)
    assert approval.decide(l2[0], "li.wei", "APPROVE", "payee checked") == "PENDING_APPROVAL"
    expected = {(n, 1, "demo.first") for n in l1 + l2[1:]} | {(l2[0], 1, "li.wei")}
    expected |= {(n, 2, "demo.second") for n in l2}
    return l1, l2, expected


def _chain_in_order(bank, l2):
    """The audit chain verifies, and each two-level record's level-2 event follows its level-1."""
    from daybook import audit_chain, db

    with db.begin() as conn:
        assert all(result.ok for result in audit_chain.verify(conn))
    seqs = {}
    for seq, subject, detail in query(
        bank, "SELECT seq, subject, detail FROM audit_events WHERE action = 'approval_approve'"
    ):
        seqs[(subject, json.loads(detail)["level"])] = seq
    assert all(seqs[(n, 1)] < seqs[(n, 2)] for n in l2)
    return seqs


def test_the_demo_reviewers_work_at_once_and_decide_each_level_exactly_once(bank, monkeypatch):
    """The second reviewer decides level 2 of batches the first has committed while the first goes
    on (PostgreSQL: two connections at once): every level decided once, by its own reviewer, and
    the audit chain stays whole with each level-2 event after its level-1 event."""
    l1, l2, expected = _demo_day(bank)
    monkeypatch.setattr(approval, "DECIDE_BATCH", 2)  # several batches handed on, one at a time
    monkeypatch.setenv("DAYBOOK_DEMO_APPROVER", "demo.first,demo.second")

    assert approval.demo_decide(DAY) == len(expected) - 1  # all but li.wei's decision
    rows = query(bank, "SELECT business_no, level, decided_by FROM approvals")
    assert len(rows) == len(expected) and set(rows) == expected
    assert {s for n, (s, _, _) in _states(bank).items() if n in l1 + l2} == {"APPROVED"}
    assert len(_chain_in_order(bank, l2)) == len(expected)
    assert approval.demo_decide(DAY) == 0


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)  # SQLite: one writer at a time
def test_two_demo_runs_at_once_never_decide_a_level_twice(bank, monkeypatch):
    """Two runs of the demo reviewers on the same day at once (four connections): the database's
    uniqueness keeps one decision per record and level, the other run is refused, nothing fails."""
    from concurrent.futures import ThreadPoolExecutor

    l1, l2, expected = _demo_day(bank)
    monkeypatch.setattr(approval, "DECIDE_BATCH", 2)
    monkeypatch.setenv("DAYBOOK_DEMO_APPROVER", "demo.first,demo.second")

    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = [pool.submit(approval.demo_decide, DAY) for _ in range(2)]
        decided = [run.result() for run in runs]
    assert sum(decided) == len(expected) - 1  # between them, each level exactly once
    rows = query(bank, "SELECT business_no, level, decided_by FROM approvals")
    assert len(rows) == len(expected) and set(rows) == expected
    assert len(_chain_in_order(bank, l2)) == len(expected)
