"""The files settlement writes for a day (result files, clearing file and its control file) are
the row-by-row rendering of the database: read here with plain SQL and ``json.loads`` per row,
written with the csv module, compared byte for byte. Names that need quoting (quotes, commas,
line breaks), text that looks like a formula (contract files carry values as they are), a
missing currency column, several files, more rows than one fetch."""

from __future__ import annotations

import csv
import hashlib
import io
import json

import pytest
from tests.settlement_seed import DAY, execute, pay, query, seed_file, write_profile

from daybook import clearing, settlement

pytestmark = pytest.mark.integration
CLIENT = "OUTC"
NAMES = ['=HYPERLINK("x")', 'a "quoted", name', "两行\n名字", "-12.50", "王芳", " lead space", "\tTAB"]


def _money(cents: int) -> str:
    return f"{'-' if cents < 0 else ''}{abs(cents) // 100}.{abs(cents) % 100:02d}"


def _csv(rows: list[list[str]]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue().encode("utf-8")


@pytest.fixture
def day(business_db, zones, tmp_path, monkeypatch):
    # A prefund limit that settles the first payments and returns the rest with H_FUNDS.
    write_profile(tmp_path / "p", monkeypatch, CLIENT, "9000.00")
    monkeypatch.setattr(clearing, "FETCH_ROWS", 7)
    rows = [pay(10_000 + 37 * i, payer=NAMES[i % 7], payee=NAMES[(i + 2) % 7]) for i in range(80)]
    first = seed_file(business_db, CLIENT, rows[:50])
    seed_file(business_db, CLIENT, rows[50:], seq="002")
    # One settled payment without the currency column falls back to the payload's currency.
    execute(business_db, "UPDATE records SET currency = NULL WHERE business_no = :n", n=first[3])
    settlement.post_ledger(DAY)
    return business_db, zones


def test_result_files_are_the_rows_of_each_file_in_line_order(day):
    url, zones = day
    written = settlement.write_results(DAY)
    assert sorted(written) == [f"{CLIENT}/outbox/{CLIENT}_PAY_20261127_00{s}.ret.csv" for s in (1, 2)]
    states = set()
    for seq in ("001", "002"):
        rows = query(
            url,
            "SELECT r.client_ref, r.business_no, r.state, r.final_code, r.amount_cents, r.final_date"
            " FROM records AS r JOIN files AS f ON f.file_id = r.file_id"
            " WHERE f.seq = :s AND r.ack_status = 'ACCEPTED' ORDER BY r.line_no",
            s=seq,
        )
        states |= {r[2] for r in rows}
        expected = _csv(
            [["client_ref", "business_no", "status", "reason_code", "amount", "final_date"]]
            + [[ref, no, st, code or "", _money(cents), fdate] for ref, no, st, code, cents, fdate in rows]
        )
        got = (zones["landing"] / f"{CLIENT}/outbox/{CLIENT}_PAY_20261127_{seq}.ret.csv").read_bytes()
        assert got == expected
    assert states == {"SETTLED", "RETURNED"}
    assert query(url, "SELECT DISTINCT status FROM files") == [("COMPLETED",)]


def test_clearing_file_and_control_are_the_settled_payments_in_business_number_order(day):
    url, zones = day
    assert clearing.write(DAY) == [f"clearing/{CLIENT}/{CLIENT}_CLR_20261127_001.csv"]
    settled = query(
        url,
        "SELECT business_no, client_ref, amount_cents, currency, payload FROM records"
        " WHERE state = 'SETTLED' ORDER BY business_no",
    )
    assert 10 < len(settled) < 80
    assert any(r[3] is None for r in settled)
    body = []
    for no, ref, cents, currency, payload in settled:
        p = json.loads(payload)
        body.append(
            [no, ref, p["value_date"], p["payer_account"], p["payer_name"], p["payee_account_type"]]
            + [
                p["payee_account"],
                p["payee_name"],
                p["payee_bank_code"],
                _money(cents),
                currency or p["currency"],
            ]
        )
    expected = _csv([clearing.HEADER, *body])
    data = (zones["outputs"] / f"clearing/{CLIENT}/{CLIENT}_CLR_20261127_001.csv").read_bytes()
    assert data == expected
    total = sum(r[2] for r in settled)
    ctl = (zones["outputs"] / f"clearing/{CLIENT}/{CLIENT}_CLR_20261127_001.ctl").read_bytes()
    name = f"{CLIENT}_CLR_20261127_001.csv"
    assert ctl == f"{name}|{len(settled)}|{_money(total)}|{hashlib.sha256(expected).hexdigest()}\n".encode()
