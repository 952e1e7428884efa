"""Reconciliation: a clean day has no break; each kind of break, built by tampering with the
database or the clearing files, is found, reported, alerted, and stops the archive until explained."""

from __future__ import annotations

import csv
import hashlib
import io
import json

import pytest
import sqlalchemy
from tests.settlement_seed import DAY, execute, pay, post, query, seed_file, write_profile

from daybook import archive, clearing, reconciliation, settlement

pytestmark = pytest.mark.integration
CLIENT = "RECC"
DATA = "RECC_CLR_20261127_001.csv"


@pytest.fixture
def day(business_db, zones, tmp_path, monkeypatch):
    # 200.00 + 100.00 settle; 300.00 would make 600.00 > 500.00: H_FUNDS.
    write_profile(tmp_path / "p", monkeypatch, CLIENT, "500.00")
    nos = seed_file(business_db, CLIENT, [pay(20000), pay(10000), pay(30000)])
    # A rejected fourth line with an amount of three decimals: the control total counts it
    # as 12.345, so the file's control says 4 rows and 600.00 + 12.345 = 612.345 -> 612.35.
    (file_id,) = query(business_db, "SELECT file_id FROM files")[0]
    execute(
        business_db,
        "INSERT INTO records (business_no, file_id, client_id, file_type, business_date, line_no, client_ref,"
        " amount_cents, ack_status, reason_codes, state, payload) VALUES ('RECC-PAY-20261127-001-000004', :f,"
        " 'RECC', 'PAY', :d, 4, 'BAD4', NULL, 'REJECTED', 'R_AMOUNT', 'REJECTED', :p)",
        f=file_id,
        d=DAY,
        p=json.dumps({"amount": "12.345"}),
    )
    execute(business_db, "UPDATE files SET record_count = 4, amount_total_cents = 61235")
    settlement.post_ledger(DAY)
    settlement.write_results(DAY)
    clearing.write(DAY)
    return business_db, zones, nos


def _kinds(url):
    return sorted(query(url, "SELECT kind, subject, expected, actual FROM recon_breaks"))


def test_clean_day_has_no_break_and_an_empty_report(day):
    url, zones, _ = day
    assert reconciliation.reconcile(DAY) == {CLIENT: 0}
    report = zones["outputs"] / f"reconciliation/{CLIENT}/{DAY}/{CLIENT}_BRK_20261127.csv"
    assert report.read_text() == "kind,subject,expected,actual,explained_by,explanation\n"
    data = (zones["outputs"] / f"clearing/{CLIENT}/{DATA}").read_bytes()
    rows = list(csv.reader(io.StringIO(data.decode())))
    assert [(r[0], r[9]) for r in rows[1:]] == [
        ("RECC-PAY-20261127-001-000001", "200.00"),
        ("RECC-PAY-20261127-001-000002", "100.00"),
    ]
    ctl = (zones["outputs"] / f"clearing/{CLIENT}/RECC_CLR_20261127_001.ctl").read_text()
    assert ctl == f"{DATA}|2|300.00|{hashlib.sha256(data).hexdigest()}\n"
    clearing.write(DAY)
    assert (zones["outputs"] / f"clearing/{CLIENT}/{DATA}").read_bytes() == data
    assert query(url, "SELECT COUNT(*) FROM alert_events WHERE kind = 'RECON_BREAK'") == [(0,)]


def test_inbound_count_break(day):
    url, _, _ = day
    execute(url, "UPDATE files SET record_count = 5")
    reconciliation.reconcile(DAY)
    assert _kinds(url) == [("INBOUND_COUNT", "RECC_PAY_20261127_001", "5", "4")]


def test_inbound_total_break(day):
    url, _, _ = day
    execute(url, "UPDATE files SET amount_total_cents = 61234")
    reconciliation.reconcile(DAY)
    assert _kinds(url) == [("INBOUND_TOTAL", "RECC_PAY_20261127_001", "612.34", "612.35")]


def test_posting_that_differs_from_its_record(day):
    url, _, nos = day
    execute(
        url, "UPDATE ledger_transfers SET amount_cents = amount_cents + 1 WHERE business_no = :n", n=nos[0]
    )
    reconciliation.reconcile(DAY)
    # Still balanced (one amount for both entries), but 300.01 posted against 300.00 settled, and the
    # clearing file (written from the records) no longer agrees with the ledger either.
    assert _kinds(url) == [
        ("ACCEPTED_VS_LEDGER", "PAY", "2 / 300.00", "2 / 300.01 (1 unposted)"),
        ("CLEARING_VS_LEDGER", DATA, "2 / 300.01", "2 / 300.00"),
    ]


def test_a_posting_cannot_be_one_sided(day):
    # Since V015 a posting is one row of ledger_transfers with one amount for its debit and its
    # credit: the entries (ledger_entries, a view) cannot be changed or added one side at a time,
    # and a posting from an account to itself or of no amount is refused; the ledger balances by
    # construction, so reconciliation has no "unbalanced" break to find.
    url, _, nos = day
    before = query(url, "SELECT * FROM ledger_entries ORDER BY entry_id")
    with pytest.raises(sqlalchemy.exc.DBAPIError):
        execute(
            url,
            "UPDATE ledger_entries SET amount_cents = 10001 WHERE business_no = :n AND leg = 'C'",
            n=nos[1],
        )
    with pytest.raises(sqlalchemy.exc.DBAPIError):
        execute(
            url,
            "INSERT INTO ledger_entries (business_no, leg, client_id, business_date, account, amount_cents)"
            " VALUES (:n, 'D', 'RECC', :d, 'RECC:PREFUND', 30000)",
            n=nos[2],
            d=DAY,
        )
    with pytest.raises(sqlalchemy.exc.IntegrityError):
        post(url, nos[2], CLIENT, 30000, debit="PREFUND", credit="PREFUND")
    with pytest.raises(sqlalchemy.exc.IntegrityError):
        post(url, nos[2], CLIENT, 0)
    assert query(url, "SELECT * FROM ledger_entries ORDER BY entry_id") == before
    ((debits, credits),) = query(
        url,
        "SELECT SUM(CASE WHEN leg = 'D' THEN amount_cents END), SUM(CASE WHEN leg = 'C' THEN amount_cents END)"
        " FROM ledger_entries",
    )
    assert debits == credits == 30000
    assert reconciliation.reconcile(DAY) == {CLIENT: 0}


def test_posting_for_a_returned_payment(day):
    url, _, nos = day
    post(url, nos[2], CLIENT, 30000)
    reconciliation.reconcile(DAY)
    assert _kinds(url) == [
        ("ACCEPTED_VS_LEDGER", "PAY", "2 / 300.00", "3 / 600.00 (0 unposted)"),
        ("CLEARING_VS_LEDGER", DATA, "3 / 600.00", "2 / 300.00"),
        ("LEDGER_ORPHAN", "CLEARING/C", "0", "1"),
        ("LEDGER_ORPHAN", "PREFUND/D", "0", "1"),
    ]


def test_posting_whose_record_does_not_exist(day):
    # The ledger has no foreign key to records (V009): a posting without its record is an orphan.
    url, _, _ = day
    post(url, "RECC-PAY-20261127-009-000001", CLIENT, 5000)
    reconciliation.reconcile(DAY)
    assert _kinds(url) == [
        ("ACCEPTED_VS_LEDGER", "PAY", "2 / 300.00", "3 / 350.00 (0 unposted)"),
        ("CLEARING_VS_LEDGER", DATA, "3 / 350.00", "2 / 300.00"),
        ("LEDGER_ORPHAN", "CLEARING/C", "0", "1"),
        ("LEDGER_ORPHAN", "PREFUND/D", "0", "1"),
    ]


def test_clearing_file_missing_a_row_with_a_consistent_control(day):
    url, zones, _ = day
    data_path = zones["outputs"] / f"clearing/{CLIENT}/{DATA}"
    data = b"".join(data_path.read_bytes().splitlines(keepends=True)[:2])
    data_path.write_bytes(data)
    (zones["outputs"] / f"clearing/{CLIENT}/RECC_CLR_20261127_001.ctl").write_text(
        f"{DATA}|1|200.00|{hashlib.sha256(data).hexdigest()}\n"
    )
    reconciliation.reconcile(DAY)
    assert _kinds(url) == [("CLEARING_VS_LEDGER", DATA, "2 / 300.00", "1 / 200.00")]


def test_clearing_control_file_that_does_not_match(day):
    url, zones, _ = day
    ctl = zones["outputs"] / f"clearing/{CLIENT}/RECC_CLR_20261127_001.ctl"
    sha = ctl.read_text().strip().rsplit("|", 1)[1]
    ctl.write_text(f"{DATA}|3|300.00|{sha}\n")
    reconciliation.reconcile(DAY)
    assert _kinds(url) == [
        ("CLEARING_CONTROL", "RECC_CLR_20261127_001.ctl", f"3|300.00|{sha}", f"2|300.00|{sha}")
    ]


def test_missing_clearing_file(day):
    url, zones, _ = day
    (zones["outputs"] / f"clearing/{CLIENT}/{DATA}").unlink()
    reconciliation.reconcile(DAY)
    assert _kinds(url) == [("CLEARING_MISSING", DATA, "2 / 300.00", "no clearing file")]


def test_break_alerts_reports_and_stops_the_archive_until_explained(day):
    url, zones, _ = day
    execute(url, "UPDATE files SET record_count = 5")
    assert reconciliation.reconcile(DAY) == {CLIENT: 1}
    assert query(url, "SELECT kind, severity FROM alert_events WHERE kind = 'RECON_BREAK'") == [
        ("RECON_BREAK", "critical")
    ]
    report = (zones["outputs"] / f"reconciliation/{CLIENT}/{DAY}/{CLIENT}_BRK_20261127.csv").read_text()
    assert report.splitlines()[1] == "INBOUND_COUNT,RECC_PAY_20261127_001,5,4,,"
    assert query(url, "SELECT status FROM files") == [("COMPLETED",)]
    got = archive.build_package(CLIENT, DAY)
    assert got["skipped"] is True and got["breaks"] == ["INBOUND_COUNT RECC_PAY_20261127_001"]
    reconciliation.explain(
        CLIENT, DAY, "INBOUND_COUNT", "RECC_PAY_20261127_001", "ops.zhao", "client resent ctl"
    )
    assert reconciliation.unexplained_breaks(CLIENT, DAY) == []
    reconciliation.reconcile(DAY)  # a rerun keeps the explanation
    assert reconciliation.unexplained_breaks(CLIENT, DAY) == []
    assert query(url, "SELECT explained_by FROM recon_breaks") == [("ops.zhao",)]
