"""Settlement posts only payments that AML screening covered.

Screening records, per client and day, a fingerprint of the approved payments it left open and
the sanctions list it used (aml_screenings). Settlement's plan computes the same fingerprint for
the payments it plans: when they differ (screening never ran, a task cleared on its own, a payment
approved after screening, a new list), the day is screened again before anything is planned, so a
payment that should be stopped is held, not settled. The names below are on the shipped sample
list (config/aml/sanctions.csv) or, for the list-change test, on a list written by the test."""

from __future__ import annotations

import json
import shutil

import pytest
import sqlalchemy
from tests.settlement_seed import DAY, assert_balanced, pay, query, seed_file, write_profile

from daybook import aml, db, settlement

pytestmark = pytest.mark.integration

LISTED = "TESTENKO, Boris Quentin"  # S-0001 Boris Quentin Testenko, order and case differ


def _states(url: str, numbers: list[str]) -> list[str]:
    return [query(url, "SELECT state FROM records WHERE business_no = :n", n=n)[0][0] for n in numbers]


def _screenings(url: str) -> list[tuple]:
    return query(url, "SELECT client_id, business_date, payments FROM aml_screenings ORDER BY client_id")


def test_a_day_nobody_screened_is_screened_by_settlement_before_it_is_planned(
    business_db, tmp_path, monkeypatch
):
    write_profile(tmp_path / "p", monkeypatch, "NOSC", "100000000.00")
    nos = seed_file(business_db, "NOSC", [pay(10_000), pay(20_000, payee=LISTED), pay(30_000)])
    # screen_aml skipped (its task marked success, or post_ledger cleared on its own)
    counts = settlement.post_ledger(DAY)
    assert counts["SETTLED"] == 2
    assert _states(business_db, nos) == ["SETTLED", "AML_HOLD", "SETTLED"]
    assert query(business_db, "SELECT business_no, rule, status FROM aml_cases") == [
        (nos[1], "SANCTIONS", "OPEN")
    ]
    assert query(business_db, "SELECT COUNT(*), SUM(amount_cents) FROM ledger_transfers") == [(2, 40_000)]
    # The screening settlement ran is recorded, with what it left approved (two payments).
    assert _screenings(business_db) == [("NOSC", DAY, 2)]
    assert_balanced(business_db)


def test_a_payment_approved_after_screening_is_screened_before_it_settles(business_db, tmp_path, monkeypatch):
    write_profile(tmp_path / "p", monkeypatch, "LATE", "100000000.00")
    first = seed_file(business_db, "LATE", [pay(10_000), pay(20_000)])
    assert aml.screen(DAY) == {"SANCTIONS": 0, "STRUCTURING": 0}
    assert _screenings(business_db) == [("LATE", DAY, 2)]
    # Approved after the screening (a late file, a late decision): the day changed.
    late = seed_file(business_db, "LATE", [pay(5_000, payee=LISTED), pay(6_000)], seq="002")
    settlement.post_ledger(DAY)
    assert _states(business_db, first + late) == ["SETTLED", "SETTLED", "AML_HOLD", "SETTLED"]
    assert query(business_db, "SELECT business_no FROM aml_cases") == [(late[0],)]
    assert _screenings(business_db) == [("LATE", DAY, 3)]


def test_a_day_screened_as_it_is_planned_is_not_screened_again(business_db, tmp_path, monkeypatch):
    write_profile(tmp_path / "p", monkeypatch, "SAME", "100000000.00")
    nos = seed_file(business_db, "SAME", [pay(10_000), pay(20_000, payee=LISTED)])
    assert aml.screen(DAY) == {"SANCTIONS": 1, "STRUCTURING": 0}
    calls = []
    monkeypatch.setattr(aml, "screen_client", lambda *a, **k: calls.append(a) or {})
    settlement.post_ledger(DAY)
    assert calls == []
    assert _states(business_db, nos) == ["SETTLED", "AML_HOLD"]


def test_a_new_sanctions_list_is_applied_before_settlement(business_db, tmp_path, monkeypatch):
    folder = tmp_path / "aml"
    shutil.copytree(aml.config_dir(), folder)
    monkeypatch.setenv("DAYBOOK_AML_CONFIG", str(folder))
    write_profile(tmp_path / "p", monkeypatch, "NEWL", "100000000.00")
    nos = seed_file(business_db, "NEWL", [pay(10_000, payee="Zoltan Fictivus Marek"), pay(20_000)])
    assert aml.screen(DAY) == {"SANCTIONS": 0, "STRUCTURING": 0}
    # The list is updated between screening and posting: the name is now listed.
    with (folder / "sanctions.csv").open("a", encoding="utf-8") as f:
        f.write("S-9001,Zoltan Fictivus Marek,person,TEST-UPDATE\n")
    settlement.post_ledger(DAY)
    assert _states(business_db, nos) == ["AML_HOLD", "SETTLED"]
    [(detail,)] = query(business_db, "SELECT detail FROM aml_cases")
    assert "S-9001" in detail


def test_a_released_payment_is_settled_after_a_new_screening_without_a_new_hold(
    business_db, tmp_path, monkeypatch
):
    write_profile(tmp_path / "p", monkeypatch, "RELS", "100000000.00")
    nos = seed_file(business_db, "RELS", [pay(10_000, payee=LISTED), pay(20_000)])
    aml.screen(DAY)
    settlement.post_ledger(DAY)
    assert _states(business_db, nos) == ["AML_HOLD", "SETTLED"]
    aml.release(nos[0], "alice")
    aml.release(nos[0], "bob")
    # Released after the day's settlement: its approval changed the day, so settlement screens
    # again (a payment with a decided case is not held again) and then settles it.
    settlement.post_ledger(DAY)
    assert _states(business_db, nos) == ["SETTLED", "SETTLED"]
    assert query(business_db, "SELECT COUNT(*) FROM aml_cases") == [(1,)]
    assert_balanced(business_db)


def test_a_screening_during_which_the_day_changed_is_not_recorded(business_db, tmp_path, monkeypatch):
    write_profile(tmp_path / "p", monkeypatch, "MOVE", "100000000.00")
    first = seed_file(business_db, "MOVE", [pay(10_000)])
    real = aml._party_names
    late: list[str] = []

    def names_then_a_late_approval(conn, key):
        out = real(conn, key)  # what this screening looks at ...
        if not late:  # ... then another transaction approves a payment of the day
            late.extend(seed_file(business_db, "MOVE", [pay(7_000, payee=LISTED)], seq="002"))
        return out

    monkeypatch.setattr(aml, "_party_names", names_then_a_late_approval)
    assert aml.screen(DAY) == {"SANCTIONS": 0, "STRUCTURING": 0}
    assert _screenings(business_db) == []  # not recorded: it did not see the late payment
    [(detail,)] = query(
        business_db,
        "SELECT detail FROM audit_events WHERE action = 'screened' AND subject = :s",
        s=f"MOVE/{DAY}",
    )
    assert json.loads(detail)["recorded"] is False
    monkeypatch.setattr(aml, "_party_names", real)
    settlement.post_ledger(DAY)
    assert _states(business_db, first + late) == ["SETTLED", "AML_HOLD"]


def test_settlement_fails_closed_when_screening_cannot_cover_the_day(business_db, tmp_path, monkeypatch):
    write_profile(tmp_path / "p", monkeypatch, "FAIL", "100000000.00")
    nos = seed_file(business_db, "FAIL", [pay(10_000), pay(20_000, payee=LISTED)])
    monkeypatch.setattr(aml, "screen_client", lambda *a, **k: {})  # screening that records nothing
    with pytest.raises(settlement.SettlementError, match="not covered by AML screening"):
        settlement.post_ledger(DAY)
    assert _states(business_db, nos) == ["APPROVED", "APPROVED"]
    assert query(business_db, "SELECT COUNT(*) FROM ledger_transfers") == [(0,)]


def test_the_fingerprint_of_the_held_payments_adds_up_with_the_sql_one(business_db, tmp_path, monkeypatch):
    write_profile(tmp_path / "p", monkeypatch, "FPRT", "100000000.00")
    a = seed_file(business_db, "FPRT", [pay(2_147_483_647 + 5), pay(1), pay(99_999_999_999_999)])
    b = seed_file(business_db, "FPRT", [pay(123_456)], seq="007")
    key = {"client_id": "FPRT", "business_date": DAY}
    eng = sqlalchemy.create_engine(business_db)
    with eng.connect() as conn:
        whole = aml.fingerprint(conn, key)
        assert whole.payments == 4
        assert whole.amount_sum == 5 + 1 + 99_999_999_999_999 % 2_147_483_647 + 123_456
        assert aml._fingerprint_of(conn, a) + aml._fingerprint_of(conn, b) == whole
        assert aml._fingerprint_of(conn, a[:1]) != aml._fingerprint_of(conn, b)
    eng.dispose()
    db.engine().dispose()
