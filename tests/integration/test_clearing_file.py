"""The clearing file is the row-by-row rendering of the day's settled payments (plain SQL and
``json.loads`` per row, written with the csv module), byte for byte, whichever way its rows are
read: a cursor a few rows at a time (SQLite) or COPY in blocks of a few rows (PostgreSQL).
Names with every character that changes a CSV field or a COPY line (quotes, commas, LF, CR,
tabs, backslashes, empty), and the control file's count, total and sha256."""

from __future__ import annotations

import csv
import hashlib
import io
import json

import pytest
from tests.settlement_seed import DAY, pay, query, seed_file, write_profile

from daybook import archive, arrowcsv, clearing, settlement

pytestmark = pytest.mark.integration
CLIENT = "CLRF"
NAMES = [
    'a "quoted", name',
    "两行\n名字",
    "CR\rinside",
    "\rCR first",
    "back\\slash\\t",
    "\\N",
    "tab\there",
    "",
    "=SUM(A1)",
    "王芳",
]


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def test_clearing_file_is_the_row_by_row_rendering_in_small_batches(
    business_db, zones, tmp_path, monkeypatch
):
    write_profile(tmp_path / "p", monkeypatch, CLIENT, "100000000.00")
    monkeypatch.setattr(clearing, "FETCH_ROWS", 3)
    monkeypatch.setattr(archive, "FETCH_ROWS", 1)
    monkeypatch.setattr(archive, "CHUNK_BYTES", 1024)
    rows = [
        pay(1 + 99_991 * i, payer=NAMES[i % len(NAMES)], payee=NAMES[(i + 3) % len(NAMES)]) for i in range(45)
    ]
    seed_file(business_db, CLIENT, rows)
    settlement.post_ledger(DAY)
    assert clearing.write(DAY) == [f"clearing/{CLIENT}/{CLIENT}_CLR_20261127_001.csv"]

    settled = query(
        business_db,
        "SELECT business_no, client_ref, amount_cents, currency, payload FROM records"
        " WHERE state = 'SETTLED' ORDER BY business_no",
    )
    assert len(settled) == 45
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(clearing.HEADER)
    for no, ref, cents, currency, payload in settled:
        p = json.loads(payload)
        writer.writerow(
            [no, ref, p["value_date"], p["payer_account"], p["payer_name"], p["payee_account_type"]]
            + [
                p["payee_account"],
                p["payee_name"],
                p["payee_bank_code"],
                _money(cents),
                currency or p["currency"],
            ]
        )
    expected = buf.getvalue().encode("utf-8")
    assert (zones["outputs"] / f"clearing/{CLIENT}/{CLIENT}_CLR_20261127_001.csv").read_bytes() == expected
    name = f"{CLIENT}_CLR_20261127_001.csv"
    total = sum(r[2] for r in settled)
    ctl = (zones["outputs"] / f"clearing/{CLIENT}/{CLIENT}_CLR_20261127_001.ctl").read_bytes()
    assert ctl == f"{name}|45|{_money(total)}|{hashlib.sha256(expected).hexdigest()}\n".encode()


def test_csv_lines_is_the_csv_writer(tmp_path):
    """The column-wise CSV lines equal csv.writer's for every ASCII character and some others,
    alone, leading, trailing and inside a value, and for nulls."""
    import pyarrow as pa

    values = [None, "", "plain", "王芳", "\u2028x", "é\u0301"]
    for code in range(1, 128):
        c = chr(code)
        values += [c, f"{c}x", f"x{c}", f"x{c}y", c * 2]
    rows = [(v, values[(i * 7) % len(values)], "end") for i, v in enumerate(values)]
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    columns = [pa.array([r[k] for r in rows], type=pa.string()) for k in range(3)]
    assert arrowcsv.lines(columns) == buf.getvalue().encode("utf-8")
    one = [pa.array(["", None, "x", 'q"'], type=pa.string())]
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([[v] for v in ["", None, "x", 'q"']])
    assert arrowcsv.lines(one) == buf.getvalue().encode("utf-8")
