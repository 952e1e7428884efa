"""A whole business day through the real DAGs (dag.test) on SQLite and on PostgreSQL.

Expected outcomes are derived from the sample day's deliberate defects (see daybook.sample):
which files are refused with which code, which lines are rejected with which codes. Row
conservation and the ledger are checked against the files on disk, independently of the
database the pipeline wrote.
"""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy

from daybook import sample
from daybook.runner import run_day
from daybook.storage import LocalStore

pytestmark = pytest.mark.integration
DAY = date(2026, 11, 27)  # a Friday, a business day in the 2026 calendar
FINAL = {"REJECTED", "SETTLED", "RETURNED", "DISBURSED", "DECLINED"}


def _read_csv(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))


def _snapshot(*roots: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root.parent)): hashlib.sha256(p.read_bytes()).hexdigest()
        for root in roots
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _db_counts(url: str) -> dict[str, object]:
    eng = sqlalchemy.create_engine(url)
    with eng.connect() as conn:
        out = {
            t: conn.execute(sqlalchemy.text(f"SELECT COUNT(*) FROM {t}")).scalar_one()
            for t in ("files", "records", "ledger_entries", "approvals", "archives")
        }
        out["states"] = sorted(
            tuple(r)
            for r in conn.execute(sqlalchemy.text("SELECT business_no, state, final_code FROM records"))
        )
    eng.dispose()
    return out


@pytest.fixture
def day_run(business_db, zones, airflow_db, monkeypatch):
    from daybook import crypto

    monkeypatch.setenv("DAYBOOK_DEMO_APPROVER", "test.reviewer.a,test.reviewer.b")
    monkeypatch.setenv("AIRFLOW_CONN_DAYBOOK_ARCHIVE_KEY", crypto.connection_env_value(crypto.generate_key()))
    sample.generate_day(LocalStore(str(zones["landing"])), DAY)
    states = run_day(DAY.isoformat())
    return states, zones, business_db


def test_full_day_conserves_every_record_and_balances_the_ledger(day_run):
    states, zones, url = day_run
    assert states == {s: "success" for s in ("intake", "validation", "approval", "settlement", "archive")}
    landing = zones["landing"]

    # Refused files: answered with .rej carrying the contract code, moved to rejected/.
    assert (landing / "BANKA/outbox/BANKA_PAY_20261127_01.rej").read_text().startswith("F_NAME|")
    assert (landing / "TRUSTB/outbox/TRUSTB_PAY_20261127_002.rej").read_text().startswith("F_TOTAL|")
    assert (landing / "TRUSTB/rejected/TRUSTB_PAY_20261127_002.csv").is_file()
    assert [p for c in ("BANKA", "TRUSTB") for p in (landing / c / "inbox").iterdir()] == []

    accepted = {
        "BANKA/BANKA_PAY_20261127_001": {
            4: "R_ID_CHECKSUM",
            8: "R_AMOUNT",
            12: "R_BANK_CODE",
            16: "R_DUPLICATE_REF",
            20: "R_CURRENCY",
        },
        "BANKA/BANKA_LOAN_20261127_001": {5: "R_RANGE", 7: "R_REQUIRED"},
        "TRUSTB/TRUSTB_PAY_20261127_001": {6: "R_DATE"},
    }
    for key, bad_lines in accepted.items():
        client, stem = key.split("/")
        data_rows = _read_csv(landing / client / "processed" / f"{stem}.csv")[1:]
        ack = _read_csv(landing / client / "outbox" / f"{stem}.ack.csv")
        assert ack[0] == ["line_no", "client_ref", "business_no", "status", "reason_codes"]
        assert len(ack) - 1 == len(data_rows), "rows in the data file = rows in the ack file"
        rejected = {int(r[0]): r[4] for r in ack[1:] if r[3] == "REJECTED"}
        assert rejected == bad_lines
        for i, row in enumerate(ack[1:], start=1):
            assert row[0] == str(i)
            assert row[2] == f"{stem.replace('_', '-')}-{i:06d}"
            assert row[1] == data_rows[i - 1][0]
        ret = _read_csv(landing / client / "outbox" / f"{stem}.ret.csv")
        assert ret[0] == ["client_ref", "business_no", "status", "reason_code", "amount", "final_date"]
        accepted_nos = [r[2] for r in ack[1:] if r[3] == "ACCEPTED"]
        assert [r[1] for r in ret[1:]] == accepted_nos, "ACCEPTED rows in ack = rows in ret"
        assert {r[2] for r in ret[1:]} <= {"SETTLED", "RETURNED", "DISBURSED", "DECLINED"}
        assert all(r[5] == DAY.isoformat() for r in ret[1:])

    eng = sqlalchemy.create_engine(url)
    with eng.connect() as conn:
        states_seen = {r[0] for r in conn.execute(sqlalchemy.text("SELECT DISTINCT state FROM records"))}
        debit, credit, settled = conn.execute(
            sqlalchemy.text(
                "SELECT (SELECT SUM(amount_cents) FROM ledger_entries WHERE leg = 'D'),"
                " (SELECT SUM(amount_cents) FROM ledger_entries WHERE leg = 'C'),"
                " (SELECT SUM(amount_cents) FROM records WHERE state IN ('SETTLED', 'DISBURSED'))"
            )
        ).one()
        per_no = conn.execute(
            sqlalchemy.text(
                "SELECT COUNT(*) FROM (SELECT business_no FROM ledger_entries GROUP BY business_no"
                " HAVING COUNT(*) <> 2 OR SUM(CASE WHEN leg = 'D' THEN amount_cents ELSE -amount_cents END) <> 0) x"
            )
        ).scalar_one()
    eng.dispose()
    assert states_seen <= FINAL, "every record in exactly one final state"
    assert debit == credit == settled and debit > 0
    assert per_no == 0, "every business number posts one balanced debit/credit pair"

    # Archive: encrypted members whose plaintext hashes match the manifest; the originals are the
    # exact bytes dropped (checked here with hashlib, independently of the archive's own code).
    from daybook import archive

    for client in ("BANKA", "TRUSTB"):
        manifest = archive.read_manifest(client, DAY.isoformat())
        assert manifest["members"]
        stored = {
            p.relative_to(zones["archive"] / client / DAY.isoformat()).as_posix()
            for p in (zones["archive"] / client / DAY.isoformat()).rglob("*")
            if p.is_file()
        }
        for m in manifest["members"]:
            assert f"{m['path']}.enc" in stored, f"{m['path']} is not stored encrypted"
            assert hashlib.sha256(archive.read_member(manifest, m["path"])).hexdigest() == m["sha256"]
        assert archive.verify_package(client, DAY.isoformat()).ok
    original = (landing / "TRUSTB/rejected/TRUSTB_PAY_20261127_002.csv").read_bytes()
    manifest = archive.read_manifest("TRUSTB", DAY.isoformat())
    member = next(m for m in manifest["members"] if m["path"] == "originals/TRUSTB_PAY_20261127_002.csv")
    assert member["sha256"] == hashlib.sha256(original).hexdigest()
    raw_enc = (
        zones["archive"] / "TRUSTB" / DAY.isoformat() / "originals/TRUSTB_PAY_20261127_002.csv.enc"
    ).read_bytes()
    assert original not in raw_enc, "the archived original is not stored in plaintext"


def test_rerunning_the_day_changes_nothing(day_run):
    _, zones, url = day_run
    before_files = _snapshot(zones["landing"], zones["archive"])
    before_db = _db_counts(url)
    states = run_day(DAY.isoformat())
    assert set(states.values()) == {"success"}
    assert _snapshot(zones["landing"], zones["archive"]) == before_files
    assert _db_counts(url) == before_db
