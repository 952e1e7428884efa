"""A client profile that breaks after intake (bad YAML, not UTF-8, another client_id, an unquoted
cutoff, rules or thresholds that are no amounts) holds that one client at every later stage that
needs it, and never the stage's task: the other client's records move on, the held client's stay
exactly where they were, one PROFILE_INVALID alert names the client and the problem, and the
function returns. Once the profile is fixed, running the same function again processes the held
client, each record once (one posting per record, one final state, a balanced ledger).

Expected states and counts are worked out by hand in the comments; records are seeded with plain
SQL (tests/approval_seed.py, tests/settlement_seed.py)."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

import approval_seed
import settlement_seed
from alert_receivers import start
from daybook import alerting, aml, approval, archive, clearing, db, events, kpi, profiles, settlement
from log_capture import errors_logged
from settlement_seed import DAY, RIC, assert_balanced, ledger_digest, query, write_profile

pytestmark = pytest.mark.integration
SH = ZoneInfo("Asia/Shanghai")
DAY8 = DAY.replace("-", "")
GOOD, BAD = "GOODC", "BADC"  # BADC's profile breaks after intake; GOODC's stays well
SANCTIONED = "TESTENKO, Boris Quentin"  # matches S-0001 of config/aml/sanctions.csv


def at(hh: int, mm: int) -> datetime:
    return datetime(2026, 11, 27, hh, mm, tzinfo=SH)


def _profile_alerts(url: str) -> list[tuple]:
    """(client_id, stage, message, dedup_key) of every PROFILE_INVALID alert."""
    return query(
        url,
        "SELECT client_id, stage, message, dedup_key FROM alert_events WHERE kind = 'PROFILE_INVALID'"
        " ORDER BY alert_id",
    )


def _assert_one_alert(url: str, stage: str, *words: str) -> None:
    [(client, got_stage, message, key)] = _profile_alerts(url)
    assert client is None, "goes to operations: the client's own contacts are in the broken profile"
    assert got_stage == stage and key.startswith(f"profile-invalid:{BAD}:") and key.endswith(DAY)
    for word in (f"{BAD}.yaml", *words):
        assert word in message, message


def _states(url: str, numbers: list[str]) -> list[tuple]:
    got = dict(
        (r[0], r[1:])
        for r in query(url, "SELECT business_no, state, tier, final_code FROM records ORDER BY business_no")
    )
    return [got[n] for n in numbers]


def _state_codes(url: str, numbers: list[str]) -> list[tuple[str, str | None]]:
    return [(state, code) for state, _tier, code in _states(url, numbers)]


# --------------------------------------------------------------------------- the hold itself


def test_a_hold_alerts_once_in_its_own_or_the_callers_transaction_and_logs_one_error(
    business_db, tmp_path, monkeypatch
):
    folder = approval_seed.write_profiles(tmp_path / "profiles", monkeypatch, BAD)
    (folder / f"{BAD}.yaml").write_text("client_id: OTHERC\n", encoding="utf-8")
    with pytest.raises(profiles.InvalidProfile) as caught:
        profiles.load(BAD)
    broken = caught.value

    with errors_logged("daybook.profiles") as errors:
        # On the caller's connection: the alert is part of the caller's transaction.
        with pytest.raises(RuntimeError), db.begin() as conn:
            profiles.hold(
                BAD, broken, DAY, "its widgets are held until it is fixed", stage="archive", conn=conn
            )
            raise RuntimeError("the caller's transaction fails")
        assert _profile_alerts(business_db) == [], "rolled back with the caller's transaction"
        profiles.hold(BAD, broken, DAY, "its widgets are held until it is fixed", stage="archive")
        profiles.hold(BAD, broken, DAY, "its gadgets are held until it is fixed", stage="approval")

    [(client, stage, message, key)] = _profile_alerts(business_db)
    assert (client, stage) == (None, "archive"), "the first stage to meet the content raises it"
    assert message == (
        f"client profile {BAD}.yaml of {BAD} cannot be used: holds client_id 'OTHERC', its file name "
        f"says '{BAD}'; a profile must hold client_id: {BAD}; its widgets are held until it is fixed"
    )
    assert key.startswith(f"profile-invalid:{BAD}:") and key.endswith(f":{DAY}")
    assert len(errors) == 3, "one line per hold, also when the alert was raised before"
    for line, stage_word, held in zip(
        errors, ("archive", "archive", "approval"), ("widgets", "widgets", "gadgets"), strict=True
    ):
        assert line.startswith(f"{BAD} {DAY}: ") and f"{BAD}.yaml" in line and "'OTHERC'" in line, line
        assert f"held by {stage_word}: its {held} are held until it is fixed" in line, line


# --------------------------------------------------------------------------- approval


ZERO_ROUTED = {"AUTO": 0, "L1": 0, "L2": 0, "POLICY": 0}


def _routing_day(url: str, tmp_path, monkeypatch):
    """Both clients with the same validated file: PAY 50,000.00 (AUTO: at auto_max_amount) and
    50,000.01 (L1); BADC also LOANs of 120,000.00 over 60 months at 0% on an income of 120,000.00
    a year (DTI 0.20): score 750 AUTO, score 599 declined by policy (A_POLICY)."""
    folder = approval_seed.write_profiles(tmp_path / "profiles", monkeypatch, GOOD, BAD)
    pays = [approval_seed.pay(5_000_000), approval_seed.pay(5_000_001)]
    _, good = approval_seed.seed_file(url, GOOD, "PAY", pays)
    _, bad = approval_seed.seed_file(url, BAD, "PAY", pays)
    loans = [
        approval_seed.loan("120000.00", 60, "120000.00", 750),
        approval_seed.loan("120000.00", 60, "120000.00", 599),
    ]
    _, bad_loans = approval_seed.seed_file(url, BAD, "LOAN", loans)
    return folder, good, bad, bad_loans


def test_approval_routes_the_other_client_and_leaves_the_held_ones_records_validated(
    business_db, tmp_path, monkeypatch
):
    folder, good, bad, bad_loans = _routing_day(business_db, tmp_path, monkeypatch)
    fixed = (folder / f"{BAD}.yaml").read_bytes()
    (folder / f"{BAD}.yaml").write_text(f"client_id: {BAD}\napproval: {{auto_max_amount: [50000\n")

    assert approval.assess(DAY) == {"AUTO": 1, "L1": 1, "L2": 0, "POLICY": 0}, "GOODC only"
    assert _states(business_db, good) == [("APPROVED", "AUTO", None), ("PENDING_APPROVAL", "L1", None)]
    assert _states(business_db, bad + bad_loans) == [("VALIDATED", None, None)] * 4, (
        "never the default rules: nothing of the held client approved by rule or sent to reviewers"
    )
    assert query(
        business_db, "SELECT COUNT(*) FROM records WHERE client_id = :c AND rule_version IS NOT NULL", c=BAD
    ) == [(0,)]
    _assert_one_alert(business_db, "approval", "not valid YAML", "not routed")
    # Its records are still shown (what the reviewers' page and API answer), without risk facts:
    # those come from the rules that cannot be read.
    for no, file_type, amount in ((bad[1], "PAY", 5_000_001), (bad_loans[0], "LOAN", 12_000_000)):
        detail = approval.record_detail(no)
        assert (detail["business_no"], detail["file_type"], detail["amount_cents"]) == (no, file_type, amount)
        assert (detail["state"], detail["tier"], detail["rule_version"], detail["risk"]) == (
            "VALIDATED",
            None,
            None,
            {},
        )
        assert detail["validation"]["ack_status"] == "ACCEPTED" and detail["decisions"] == []
        assert f"profile {BAD}.yaml cannot be used (not valid YAML" in detail["profile_problem"]
        assert "risk facts cannot be shown" in detail["profile_problem"]
    assert approval.record_detail(good[1])["profile_problem"] is None
    assert len(_profile_alerts(business_db)) == 1, "showing a record raises no alert of its own"

    assert approval.assess(DAY) == ZERO_ROUTED, "the next run: still held, nothing else moves"
    assert len(_profile_alerts(business_db)) == 1, "one alert per profile content and date"
    held = approval.held_clients(DAY)
    assert list(held) == [BAD] and "not valid YAML" in held[BAD]
    summary = approval.batch_summary([DAY])
    assert (
        "**Held, not in this release**" in summary and f"- {BAD} {DAY}: {BAD}.yaml: not valid YAML" in summary
    )

    (folder / f"{BAD}.yaml").write_bytes(fixed)
    assert approval.assess(DAY) == {"AUTO": 2, "L1": 1, "L2": 0, "POLICY": 1}, "BADC now, as GOODC was"
    assert _states(business_db, bad + bad_loans) == [
        ("APPROVED", "AUTO", None),
        ("PENDING_APPROVAL", "L1", None),
        ("APPROVED", "AUTO", None),
        ("DECLINED", "POLICY", "A_POLICY"),
    ]
    assert _states(business_db, good) == [("APPROVED", "AUTO", None), ("PENDING_APPROVAL", "L1", None)]
    assert query(
        business_db,
        "SELECT subject, COUNT(*) FROM audit_events WHERE action = 'rules_applied' GROUP BY subject ORDER BY subject",
    ) == [(f"{BAD}/{DAY}", 1), (f"{GOOD}/{DAY}", 1)], "each client's day routed once"
    assert approval.held_clients(DAY) == {}
    assert approval.assess(DAY) == ZERO_ROUTED
    fixed_detail = approval.record_detail(bad[1])
    assert fixed_detail["profile_problem"] is None and fixed_detail["risk"]["tier"] == "L1"


# (profile text, words the alert must show)
BROKEN_RULES = {
    "names another client": (b"client_id: OTHERC\n", "'OTHERC'"),
    "not UTF-8": (b"client_id: BADC\nname: \xb6\xab\xb7\xbd\n", "not UTF-8"),
    "an amount that is no amount": (
        b'client_id: BADC\napproval: {auto_max_amount: "fifty thousand"}\n',
        "approval rules cannot be read",
    ),
    # a review currency written as a word would let a USD payment through by rule
    "review currencies not a list": (
        b"client_id: BADC\napproval: {review_currencies: USD}\n",
        "review_currencies",
    ),
}


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize("case", list(BROKEN_RULES))
def test_approval_holds_a_client_whatever_breaks_its_rules(case, business_db, tmp_path, monkeypatch):
    folder, good, bad, bad_loans = _routing_day(business_db, tmp_path, monkeypatch)
    content, words = BROKEN_RULES[case]
    (folder / f"{BAD}.yaml").write_bytes(content)
    assert approval.assess(DAY) == {"AUTO": 1, "L1": 1, "L2": 0, "POLICY": 0}
    assert _states(business_db, bad + bad_loans) == [("VALIDATED", None, None)] * 4
    _assert_one_alert(business_db, "approval", words)
    for no in (bad[0], bad_loans[1]):
        detail = approval.record_detail(no)
        assert detail["state"] == "VALIDATED" and detail["risk"] == {}
        assert (
            f"{BAD}.yaml cannot be used" in detail["profile_problem"] and words in detail["profile_problem"]
        )


def test_held_clients_and_a_poke_of_the_wait_each_read_the_day_once(business_db, tmp_path, monkeypatch):
    """GOODC has two L1 payments waiting; BADC an L1 and an L2 waiting, then its cutoff written
    without quotes (held, records PENDING_APPROVAL); NEWC a payment never routed, its profile not
    YAML before routing (held, record VALIDATED). Which clients have records in a state is read
    from the day's records (a scan of the day, ~0.2 s at 1M rows): the batch summary's held
    clients come from one such read for both states, and a poke of approval_daily's wait (the
    backlog alert, then the answer) from one."""
    new = "NEWC"
    folder = approval_seed.write_profiles(tmp_path / "profiles", monkeypatch, GOOD, BAD, new)
    approval_seed.seed_file(
        business_db, GOOD, "PAY", [approval_seed.pay(5_000_001), approval_seed.pay(5_000_002)]
    )
    approval_seed.seed_file(
        business_db, BAD, "PAY", [approval_seed.pay(5_000_001), approval_seed.pay(100_000_000)]
    )
    (folder / f"{new}.yaml").write_text("client_id: [NEWC\n")
    approval_seed.seed_file(business_db, new, "PAY", [approval_seed.pay(100)])
    assert approval.assess(DAY) == {"AUTO": 0, "L1": 3, "L2": 1, "POLICY": 0}, "NEWC held, not routed"
    good = (folder / f"{BAD}.yaml").read_text()
    (folder / f"{BAD}.yaml").write_text(good.replace('approval: "18:00"', "approval: 18:00"))

    reads: list[str] = []
    run = db.run

    def counted(conn, name, params=None):
        if name.startswith("select_clients_"):
            reads.append(name)
        return run(conn, name, params)

    monkeypatch.setattr(db, "run", counted)
    held = approval.held_clients(DAY)
    assert sorted(held) == [BAD, new] and "cutoffs.approval" in held[BAD] and "not valid YAML" in held[new]
    assert len(reads) == 1, reads

    reads.clear()
    assert approval.poke_decisions(DAY, now=at(17, 30)) is False, "GOODC's cutoff is 18:00"
    assert len(reads) == 1, reads
    assert query(
        business_db,
        "SELECT client_id, message FROM alert_events WHERE kind = 'APPROVAL_BACKLOG' ORDER BY alert_id",
    ) == [
        (
            GOOD,
            f"2 records of {GOOD} ({DAY}) wait for review; approval cutoff 18:00 Asia/Shanghai; by tier: L1 2",
        )
    ]
    assert approval.poke_decisions(DAY, now=at(17, 59)) is False
    assert approval.poke_decisions(DAY, now=at(18, 0)) is True, "the held client is not waited for"
    assert len(reads) == 3, reads
    # The same answers as the two calls the poke stands for, at the same times.
    for hh, mm in ((17, 30), (17, 59), (18, 0)):
        assert approval.poke_decisions(DAY, now=at(hh, mm)) is approval.decisions_complete(
            DAY, now=at(hh, mm)
        )
    assert len(query(business_db, "SELECT 1 FROM alert_events WHERE kind = 'APPROVAL_BACKLOG'")) == 1, (
        "one backlog alert per client and day, however many pokes"
    )


def test_approval_gate_neither_waits_for_nor_expires_a_held_client(business_db, tmp_path, monkeypatch):
    """Both clients routed with good profiles (L1 50,000.01 and 50,000.02; BADC an L2 of
    1,000,000.00), then BADC's approval cutoff is written without quotes: YAML reads 18:00 as the
    number 1080, so its cutoff is unknown."""
    folder = approval_seed.write_profiles(tmp_path / "profiles", monkeypatch, GOOD, BAD)
    _, good = approval_seed.seed_file(
        business_db, GOOD, "PAY", [approval_seed.pay(5_000_001), approval_seed.pay(5_000_002)]
    )
    _, bad = approval_seed.seed_file(
        business_db, BAD, "PAY", [approval_seed.pay(5_000_001), approval_seed.pay(100_000_000)]
    )
    assert approval.assess(DAY) == {"AUTO": 0, "L1": 3, "L2": 1, "POLICY": 0}
    fixed = (folder / f"{BAD}.yaml").read_text()
    (folder / f"{BAD}.yaml").write_text(fixed.replace('approval: "18:00"', "approval: 18:00"))

    assert approval.backlog_alert(DAY, now=at(17, 30)) == {GOOD: {"L1": 2}}
    assert approval.decisions_complete(DAY, now=at(17, 59)) is False, "GOODC waits until its cutoff"
    assert approval.decisions_complete(DAY, now=at(18, 0)) is True, "the held client is not waited for"
    assert approval.expire(DAY, now=at(18, 0)) == 2, "GOODC's two, never BADC's at a default cutoff"
    assert _state_codes(business_db, good) == [("RETURNED", "A_EXPIRED")] * 2
    assert _states(business_db, bad) == [("PENDING_APPROVAL", "L1", None), ("PENDING_APPROVAL", "L2", None)]
    _assert_one_alert(business_db, "approval", "cutoffs.approval", "1080", "not expired")
    assert approval.decisions_complete(DAY, now=at(17, 0)) is True, (
        "only the held client waits: reported held (alert, batch summary), not waited for"
    )
    assert f"- {BAD} {DAY}: {BAD}.yaml: cutoffs.approval" in approval.batch_summary([DAY])
    # Its reviewers still see a waiting record by the rules that routed it.
    assert approval.record_detail(bad[1])["risk"]["tier"] == "L2"

    (folder / f"{BAD}.yaml").write_text(fixed)
    assert approval.decisions_complete(DAY, now=at(17, 59)) is False, "its cutoff is known again: waited for"
    assert approval.decisions_complete(DAY, now=at(18, 0)) is True
    assert approval.expire(DAY, now=at(18, 0)) == 2
    assert _state_codes(business_db, bad) == [("RETURNED", "A_EXPIRED")] * 2
    assert approval.expire(DAY, now=at(18, 0)) == 0
    assert query(
        business_db,
        "SELECT client_id, COUNT(*) FROM alert_events WHERE kind = 'APPROVAL_EXPIRED' GROUP BY client_id ORDER BY client_id",
    ) == [(BAD, 1), (GOOD, 1)]
    assert len(_profile_alerts(business_db)) == 1


# --------------------------------------------------------------------------- settlement


def _settlement_profiles(tmp_path, monkeypatch, limit: str = "1000.00", extra: str = ""):
    folder = write_profile(tmp_path / "profiles", monkeypatch, GOOD, limit, extra)
    write_profile(folder, monkeypatch, BAD, limit, extra)
    return folder


def test_settlement_posts_the_other_client_and_leaves_the_held_ones_records_approved(
    business_db, zones, tmp_path, monkeypatch
):
    folder = _settlement_profiles(tmp_path, monkeypatch)  # prefunded 1,000.00 each
    good = settlement_seed.seed_file(
        business_db, GOOD, [settlement_seed.pay(10_000), settlement_seed.pay(20_000)]
    )
    bad = settlement_seed.seed_file(
        business_db, BAD, [settlement_seed.pay(30_000), settlement_seed.pay(40_000)]
    )
    [loan] = settlement_seed.seed_file(
        business_db, BAD, [settlement_seed.pay(50_000)], seq="002", file_type="LOAN"
    )
    (folder / f"{BAD}.yaml").write_text("client_id: OTHERC\n")

    zero = {"SETTLED": 0, "DISBURSED": 0, "RETURNED_FUNDS": 0}
    assert settlement.post_ledger(DAY) == {**zero, "SETTLED": 2}
    assert _state_codes(business_db, good) == [("SETTLED", None)] * 2
    assert _state_codes(business_db, [*bad, loan]) == [("APPROVED", None)] * 3
    assert query(business_db, "SELECT business_no FROM ledger_transfers ORDER BY business_no") == [
        (n,) for n in good
    ]
    assert_balanced(business_db)
    _assert_one_alert(business_db, "settlement", "'OTHERC'", "not settled")

    # The stages after posting do not treat the held client's day as done.
    assert settlement.write_results(DAY) == [f"{GOOD}/outbox/{GOOD}_PAY_{DAY8}_001.ret.csv"]
    assert query(business_db, "SELECT client_id, status FROM files ORDER BY file_id") == [
        (GOOD, "COMPLETED"),
        (BAD, "VALIDATED"),
        (BAD, "VALIDATED"),
    ]
    assert clearing.write(DAY) == [clearing.names(GOOD, DAY)[0]]
    assert archive.build_package(BAD, DAY) == {
        "client_id": BAD,
        "skipped": True,
        "unfinished": [f"{BAD}_PAY_{DAY8}_001.csv", f"{BAD}_LOAN_{DAY8}_002.csv"],
    }

    assert settlement.post_ledger(DAY) == zero, "a retry while still broken moves nothing"
    assert len(_profile_alerts(business_db)) == 1

    write_profile(folder, monkeypatch, BAD, "1000.00")
    assert settlement.post_ledger(DAY) == {"SETTLED": 2, "DISBURSED": 1, "RETURNED_FUNDS": 0}
    assert _state_codes(business_db, [*bad, loan]) == [
        ("SETTLED", None),
        ("SETTLED", None),
        ("DISBURSED", None),
    ]
    assert query(
        business_db,
        "SELECT business_no, COUNT(*) FROM ledger_transfers GROUP BY business_no ORDER BY business_no",
    ) == [(n, 1) for n in sorted([*good, *bad, loan])], "one posting per record"
    assert query(business_db, "SELECT SUM(amount_cents) FROM ledger_transfers") == [(150_000,)]
    assert_balanced(business_db)
    digest = ledger_digest(business_db)
    assert settlement.post_ledger(DAY) == zero
    assert ledger_digest(business_db) == digest
    assert f"{BAD}/outbox/{BAD}_PAY_{DAY8}_001.ret.csv" in settlement.write_results(DAY)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_settlement_prefund_limit_that_is_no_amount_holds_the_client(business_db, tmp_path, monkeypatch):
    folder = _settlement_profiles(tmp_path, monkeypatch)
    good = settlement_seed.seed_file(business_db, GOOD, [settlement_seed.pay(10_000)])
    bad = settlement_seed.seed_file(business_db, BAD, [settlement_seed.pay(20_000)])
    write_profile(folder, monkeypatch, BAD, "one thousand")
    assert settlement.post_ledger(DAY) == {"SETTLED": 1, "DISBURSED": 0, "RETURNED_FUNDS": 0}
    assert _state_codes(business_db, good + bad) == [("SETTLED", None), ("APPROVED", None)]
    _assert_one_alert(business_db, "settlement", "prefund_limit", "'one thousand'")


# --------------------------------------------------------------------------- AML


def test_aml_screening_holds_the_client_whose_thresholds_cannot_be_read_and_it_is_not_settled(
    business_db, tmp_path, monkeypatch
):
    folder = _settlement_profiles(tmp_path, monkeypatch)
    rows = [settlement_seed.pay(10_000, payee=SANCTIONED), settlement_seed.pay(10_000)]
    good = settlement_seed.seed_file(business_db, GOOD, rows)
    bad = settlement_seed.seed_file(business_db, BAD, rows)
    write_profile(folder, monkeypatch, BAD, "1000.00", 'aml: {large_value: {natural_person_min: "lots"}}\n')

    assert aml.screen(DAY) == {"SANCTIONS": 1, "STRUCTURING": 0}, "GOODC's hit only"
    assert _state_codes(business_db, good) == [("AML_HOLD", None), ("APPROVED", None)]
    assert _state_codes(business_db, bad) == [("APPROVED", None)] * 2
    assert query(business_db, "SELECT business_no FROM aml_cases") == [(good[0],)]
    _assert_one_alert(business_db, "settlement", "aml thresholds cannot be read", "not screened")

    # What screening could not look at is not settled either (its sanctioned payee included).
    assert settlement.post_ledger(DAY) == {"SETTLED": 1, "DISBURSED": 0, "RETURNED_FUNDS": 0}
    assert _state_codes(business_db, bad) == [("APPROVED", None)] * 2
    assert len(_profile_alerts(business_db)) == 1

    write_profile(folder, monkeypatch, BAD, "1000.00")
    assert aml.screen(DAY) == {"SANCTIONS": 1, "STRUCTURING": 0}, "BADC's hit now"
    assert settlement.post_ledger(DAY) == {"SETTLED": 1, "DISBURSED": 0, "RETURNED_FUNDS": 0}
    assert _state_codes(business_db, bad) == [("AML_HOLD", None), ("SETTLED", None)]
    assert sorted(query(business_db, "SELECT business_no, status FROM aml_cases")) == [
        (bad[0], "OPEN"),
        (good[0], "OPEN"),
    ]
    assert aml.screen(DAY) == {"SANCTIONS": 0, "STRUCTURING": 0}
    assert_balanced(business_db)


def test_aml_holds_of_a_held_client_do_not_expire_at_an_unknown_cutoff(
    business_db, zones, tmp_path, monkeypatch
):
    folder = _settlement_profiles(tmp_path, monkeypatch)  # settlement cutoff 19:00
    rows = [settlement_seed.pay(10_000, payee="Amara O'Fictio-Nwosu")]  # S-0003
    [good] = settlement_seed.seed_file(business_db, GOOD, rows)
    [bad] = settlement_seed.seed_file(business_db, BAD, rows)
    assert aml.screen(DAY) == {"SANCTIONS": 2, "STRUCTURING": 0}
    fixed = (folder / f"{BAD}.yaml").read_text()
    (folder / f"{BAD}.yaml").write_text(fixed.replace('settlement: "19:00"', "settlement: 19:00"))

    assert aml.expire_holds(DAY, now=at(19, 0)) == 1, "GOODC's only"
    assert _state_codes(business_db, [good, bad]) == [("RETURNED", "M_AML_HOLD"), ("AML_HOLD", None)]
    assert sorted(query(business_db, "SELECT business_no, status FROM aml_cases")) == [
        (bad, "OPEN"),
        (good, "EXPIRED"),
    ]
    _assert_one_alert(business_db, "settlement", "cutoffs.settlement", "1140", "not expired")
    assert clearing.write(DAY) == [clearing.names(GOOD, DAY)[0]], "BADC's waits for its payment to be final"

    (folder / f"{BAD}.yaml").write_text(fixed)
    assert aml.expire_holds(DAY, now=at(19, 0)) == 1
    assert _state_codes(business_db, [bad]) == [("RETURNED", "M_AML_HOLD")]
    assert aml.expire_holds(DAY, now=at(19, 0)) == 0


def test_large_value_report_of_a_held_client_waits_and_its_day_is_not_archived(
    business_db, zones, tmp_path, monkeypatch
):
    folder = _settlement_profiles(tmp_path, monkeypatch, limit="100000000.00")
    settlement_seed.seed_file(business_db, GOOD, [settlement_seed.pay(50_000_000)])
    [bad] = settlement_seed.seed_file(business_db, BAD, [settlement_seed.pay(50_000_000, payer_id=RIC)])
    assert settlement.post_ledger(DAY) == {"SETTLED": 2, "DISBURSED": 0, "RETURNED_FUNDS": 0}
    (folder / f"{BAD}.yaml").write_bytes(b"client_id: BADC\nname: \xb6\xab\n")  # broken after posting

    report = f"aml/{BAD}/{DAY}/{BAD}_LVR_{DAY8}.csv"
    assert aml.large_value_report(DAY) == [f"aml/{GOOD}/{DAY}/{GOOD}_LVR_{DAY8}.csv"]
    assert not (zones["outputs"] / report).exists()
    assert query(business_db, "SELECT client_id, payments, total_cents FROM aml_large_value") == [
        (GOOD, 1, 50_000_000)
    ]
    _assert_one_alert(business_db, "settlement", "not UTF-8", "large-value report")

    # Its records are final and its result file written, yet the day is not archived as complete.
    assert f"{BAD}/outbox/{BAD}_PAY_{DAY8}_001.ret.csv" in settlement.write_results(DAY)
    result = archive.build_package(BAD, DAY)
    assert result["skipped"] is True and result["profile_invalid"].startswith(f"{BAD}.yaml: not UTF-8")
    assert query(business_db, "SELECT COUNT(*) FROM archives") == [(0,)]
    assert archive.close_day(DAY) is False

    write_profile(folder, monkeypatch, BAD, "100000000.00")
    assert report in aml.large_value_report(DAY)
    lines = (zones["outputs"] / report).read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2 and lines[1].startswith(f"RIC,{RIC},500000.00,{bad},")
    assert sorted(query(business_db, "SELECT client_id, payments, total_cents FROM aml_large_value")) == [
        (BAD, 1, 50_000_000),
        (GOOD, 1, 50_000_000),
    ]


# --------------------------------------------------------------------------- alert delivery

GOOD_WITH_CONTACTS = """client_id: GOODC
alerts:
  email: [ops-goodc@example.com]
  slack_channel: "#ops-banka"
"""
BAD_FIXED = """client_id: BADC
alerts:
  email: [ops-badc@example.com]
"""
BROKEN_CONTACTS = {
    "profile not YAML": ("client_id: BADC\nalerts: {email: [ops-badc@example.com\n", "not valid YAML"),
    "alerts not a mapping": ("client_id: BADC\nalerts: ops-badc@example.com\n", "alerts must be a mapping"),
}


@pytest.fixture
def receivers(tmp_path, monkeypatch):
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / f"{GOOD}.yaml").write_text(GOOD_WITH_CONTACTS)
    monkeypatch.setenv("DAYBOOK_PROFILES", str(folder))
    monkeypatch.setenv("DAYBOOK_OPS_EMAIL", "oncall@example.com")
    monkeypatch.setenv("DAYBOOK_OPS_PAGERDUTY_KEY", "ops-key")
    received, stop = start(monkeypatch)
    yield folder, received
    stop()


def _raise(kind: str, client: str) -> str:
    key = f"{kind.lower()}:{client}:{DAY}"
    with db.begin() as conn:
        events.alert(
            conn, kind, f"4 records of {client} wait", dedup_key=key, client_id=client, business_date=DAY
        )
    return key


@pytest.mark.parametrize("case", list(BROKEN_CONTACTS))
def test_alert_of_a_client_whose_contacts_cannot_be_read_goes_to_operations(case, business_db, receivers):
    folder, received = receivers
    content, problem = BROKEN_CONTACTS[case]
    (folder / f"{BAD}.yaml").write_text(content)
    _raise("APPROVAL_EXPIRED", GOOD)
    held_key = _raise("APPROVAL_EXPIRED", BAD)

    # GOODC's warning: its Slack channel and email (2); BADC's warning: operations' email and the
    # default Slack webhook (2); the PROFILE_INVALID raised while routing it, in the same run,
    # critical to operations: PagerDuty, Slack, email (3).
    assert alerting.deliver() == {"sent": 7, "failed": 0}
    mails = sorted((m["to"], m["subject"].split(":")[0]) for m in received.mails)
    assert mails == [
        (["oncall@example.com"], f"[CRITICAL] PROFILE_INVALID - {DAY}"),
        (["oncall@example.com"], f"[WARNING] APPROVAL_EXPIRED {BAD} {DAY}"),
        (["ops-goodc@example.com"], f"[WARNING] APPROVAL_EXPIRED {GOOD} {DAY}"),
    ]
    assert sorted(s["path"] for s in received.slack) == [
        "/slack/default",
        "/slack/default",
        "/slack/ops-banka",
    ]
    [page] = received.pagerduty
    assert page["routing_key"] == "ops-key" and page["payload"]["custom_details"]["stage"] == "alerts"
    _assert_one_alert(business_db, "alerts", problem, "its alerts go to operations")
    assert alerting.deliver() == {"sent": 0, "failed": 0}, "nothing twice"

    # Fixed: its next alert goes to its own contacts; the resolve of the one held goes where that
    # trigger went (operations), and PROFILE_INVALID clears and resolves there too.
    (folder / f"{BAD}.yaml").write_text(BAD_FIXED)
    received.clear()
    _raise("REJECT_SPIKE", BAD)
    assert alerting.resolve(held_key, "op.kim")
    [(_, _, _, profile_key)] = _profile_alerts(business_db)
    assert alerting.resolve_cleared() == [profile_key]
    assert alerting.deliver() == {"sent": 7, "failed": 0}
    mails = sorted((m["to"], m["subject"].split(":")[0]) for m in received.mails)
    assert mails == [
        (["oncall@example.com"], f"[RESOLVED] APPROVAL_EXPIRED {BAD} {DAY}"),
        (["oncall@example.com"], f"[RESOLVED] PROFILE_INVALID - {DAY}"),
        (["ops-badc@example.com"], f"[WARNING] REJECT_SPIKE {BAD} {DAY}"),
    ]
    assert [(p["event_action"], p["routing_key"]) for p in received.pagerduty] == [("resolve", "ops-key")]
    assert len(_profile_alerts(business_db)) == 1


# --------------------------------------------------------------------------- KPIs


def _report_cells(html: str, client: str) -> dict[str, str]:
    """The cells of ``client``'s row in a daily KPI report, by column heading."""
    headings = re.findall(r"<th>(.*?)</th>", html)
    [row] = [r for r in re.findall(r"<tr>(.*?)</tr>", html) if f"<td>{client}</td>" in r]
    return dict(zip(headings, re.findall(r"<td>(.*?)</td>", row), strict=True))


# (what breaks the profile, how the KPI log names the problem)
KPI_BROKEN = {
    "not YAML": (lambda text: f"client_id: {BAD}\ncutoffs: [unclosed\n", "not valid YAML"),
    # YAML 1.1 reads an unquoted 19:00 as the number 1140
    "settlement cutoff unquoted": (
        lambda text: text.replace('settlement: "19:00"', "settlement: 19:00"),
        'cutoffs.settlement must be a time in quotes, "HH:MM", found 1140',
    ),
    "cutoffs not a mapping": (
        lambda text: text.replace(
            'cutoffs: {intake: "16:00", approval: "18:00", settlement: "19:00"}', 'cutoffs: "19:00"'
        ),
        "cutoffs.intake must be a time in quotes, \"HH:MM\", found '19:00'",
    ),
}


@pytest.mark.parametrize("case", list(KPI_BROKEN))
def test_kpis_of_a_client_whose_profile_cannot_be_read_leave_out_its_cutoffs(
    case, business_db, tmp_path, monkeypatch
):
    folder = _settlement_profiles(tmp_path, monkeypatch, extra="expected_files: [PAY, LOAN]\n")
    settlement_seed.seed_file(business_db, GOOD, [settlement_seed.pay(10_000)])
    settlement_seed.seed_file(business_db, BAD, [settlement_seed.pay(20_000), settlement_seed.pay(30_000)])
    fixed = (folder / f"{BAD}.yaml").read_text()
    breaks, problem = KPI_BROKEN[case]
    (folder / f"{BAD}.yaml").write_text(breaks(fixed))
    assert (folder / f"{BAD}.yaml").read_text() != fixed

    with errors_logged("daybook.kpi") as errors:
        rows = {r["client_id"]: r for r in kpi.daily(DAY, DAY)}
    [line] = errors
    assert (
        line.startswith(f"{BAD}: profile cannot be used (") and f"{BAD}.yaml" in line and problem in line
    ), line
    # The files were registered now (2026-11-28 or later), after the 16:00 intake cutoff of DAY.
    assert (rows[GOOD]["files"], rows[GOOD]["files_missing"], rows[GOOD]["on_time_file_rate"]) == (1, 1, 0.0)
    assert rows[GOOD]["profile_usable"] is True
    bad = rows[BAD]
    assert (bad["files"], bad["files_missing"], bad["records"], bad["profile_usable"]) == (1, 0, 2, False)
    assert bad["on_time_file_rate"] is None and bad["settlement_on_time_rate"] is None, "unknown, not 0%"
    month = {r["client_id"]: r for r in kpi.monthly_sla("2026-11")}
    assert month[BAD]["on_time_file_rate"] is None and month[GOOD]["on_time_file_rate"] == 0.0
    assert kpi.check_reject_spikes(DAY) == []
    cells = _report_cells(kpi.render_daily_html(DAY), BAD)
    assert (cells["On-time files"], cells["Settled on time"], cells["Missing"]) == ("-", "-", "0"), cells
    assert _report_cells(kpi.render_daily_html(DAY), GOOD)["On-time files"] == "0.0%"
    assert _profile_alerts(business_db) == [], "a report reads; the stages that hold the client alert"

    (folder / f"{BAD}.yaml").write_text(fixed)
    bad = {r["client_id"]: r for r in kpi.daily(DAY, DAY)}[BAD]
    assert (bad["files_missing"], bad["on_time_file_rate"], bad["profile_usable"]) == (1, 0.0, True)


# --------------------------------------------------------------------------- the settlement DAG


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_settlement_daily_run_succeeds_and_settles_the_other_client(
    business_db, zones, tmp_path, monkeypatch, airflow_db
):
    from daybook.runner import run_stage

    folder = _settlement_profiles(tmp_path, monkeypatch)
    good = settlement_seed.seed_file(business_db, GOOD, [settlement_seed.pay(10_000)])
    bad = settlement_seed.seed_file(business_db, BAD, [settlement_seed.pay(20_000)])
    (folder / f"{BAD}.yaml").write_text("client_id: BADC\ncutoffs: [unclosed\n")
    assert run_stage("settlement", DAY) == "success"
    assert _state_codes(business_db, good + bad) == [("SETTLED", None), ("APPROVED", None)]
    assert query(business_db, "SELECT COUNT(*) FROM alert_events WHERE kind = 'TASK_FAILED'") == [(0,)]
    assert len(_profile_alerts(business_db)) == 1
    assert_balanced(business_db)
