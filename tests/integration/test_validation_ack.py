"""Validation end to end on SQLite and PostgreSQL: real drops through intake, then validation.

A file with one defect of each kind must come back as ``<stem>.ack.csv`` with exactly the codes
written here by hand from contract sections 4-7, byte for byte (the expected file is written
with Python's csv module, independently of the code under test); reruns reproduce it; every
data row is answered once; F_ERROR_RATE refuses a file without publishing a row.
"""

from __future__ import annotations

import csv
import io
import json
import os
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy
from stdnum import luhn
from stdnum.cn import ric

from daybook import intake, sample, validation
from daybook.storage import LocalStore

pytestmark = pytest.mark.integration
DAY = date(2026, 11, 27)
PAY_HEADER = [
    "client_ref",
    "value_date",
    "payer_account",
    "payer_name",
    "payer_id_type",
    "payer_id_no",
    "payee_account_type",
    "payee_account",
    "payee_name",
    "payee_bank_code",
    "amount",
    "currency",
    "purpose",
]
ACK_HEADER = ["line_no", "client_ref", "business_no", "status", "reason_codes"]


def _ric(region_birth: str) -> str:
    body = region_birth + "123"
    return body + ric.calc_check_digit(body + "0")


def _card(prefix: str, length: int = 19) -> str:
    body = prefix + "5" * (length - len(prefix) - 1)
    return body + luhn.calc_check_digit(body)


def _bad_luhn(card: str) -> str:
    return card[:-1] + str((int(card[-1]) + 1) % 10)


RIC = _ric("11010519491231")
CARD = _card("622202")


def pay_row(ref: str, **cells: str) -> list[str]:
    row = {
        "client_ref": ref,
        "value_date": "2026-11-27",
        "payer_account": "6222020000000001",
        "payer_name": "王伟",
        "payer_id_type": "RIC",
        "payer_id_no": RIC,
        "payee_account_type": "CARD",
        "payee_account": CARD,
        "payee_name": "李娜",
        "payee_bank_code": "102100099996",
        "amount": "100.00",
        "currency": "CNY",
        "purpose": "",
    }
    row.update(cells)
    return [row[c] for c in PAY_HEADER]


@pytest.fixture
def env(business_db, zones, tmp_path: Path, monkeypatch):
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "VALC.yaml").write_text(
        "client_id: VALC\n"
        'error_rate_threshold: "0.95"\n'
        "accepted_currencies: [CNY, USD]\n"
        'relaxations: {luhn_off_card_prefixes: ["621799"]}\n'
    )
    (folder / "STRICT.yaml").write_text("client_id: STRICT\n")  # default threshold 20%
    monkeypatch.setenv("DAYBOOK_PROFILES", str(folder))
    return {"url": business_db, **zones}


def drop_and_validate(
    client: str, seq: str, rows: list[list[str]], header=PAY_HEADER, crlf: bool = False
) -> list[dict]:
    drop_and_intake(client, seq, rows, header, crlf)
    return validation.validate_client(client, DAY.isoformat())


def drop_and_intake(
    client: str, seq: str, rows: list[list[str]], header=PAY_HEADER, crlf: bool = False
) -> None:
    name = f"{client}_PAY_{DAY:%Y%m%d}_{seq}.csv"
    data = sample.csv_bytes(header, rows, crlf=crlf)
    landing = LocalStore(os.environ["DAYBOOK_LANDING"])
    landing.put(f"{client}/inbox/{name}", data)
    landing.put(
        f"{client}/inbox/{name[:-4]}.ctl", sample.control_line(name, data, rows, header.index("amount"))
    )
    for d in intake.list_drops(DAY.isoformat()):
        intake.process_drop(d, DAY.isoformat())


def expected_ack(stem: str, refs: list[str], codes: dict[int, str]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(ACK_HEADER)
    prefix = stem.replace("_", "-")
    for i, ref in enumerate(refs, start=1):
        c = codes.get(i, "")
        w.writerow([i, ref, f"{prefix}-{i:06d}", "REJECTED" if c else "ACCEPTED", c])
    return buf.getvalue().encode("utf-8")


@pytest.fixture(params=["one chunk", "small chunks"])
def chunking(request, monkeypatch):
    """Chunk and write-batch boundaries must not change any code: duplicates across chunks included."""
    if request.param == "small chunks":
        monkeypatch.setattr(validation, "CHUNK_ROWS", 4)
        monkeypatch.setattr(validation, "WRITE_ROWS", 3)
    return request.param


def test_every_defect_kind_gets_exactly_its_codes_and_reruns_reproduce_the_ack(env, chunking):
    outbox = env["landing"] / "VALC" / "outbox"
    # An earlier file of the client: one row accepted, one rejected. Both refs are taken.
    first = [pay_row("EARLY-A"), pay_row("EARLY-R", amount="0")]
    drop_and_validate("VALC", "001", first)
    assert (outbox / "VALC_PAY_20261127_001.ack.csv").read_bytes() == expected_ack(
        "VALC_PAY_20261127_001", ["EARLY-A", "EARLY-R"], {2: "R_AMOUNT"}
    )

    rows_and_codes = [
        (pay_row("OK-1"), ""),
        (pay_row(""), "R_REQUIRED"),
        (pay_row("bad ref"), "R_FORMAT"),
        (pay_row("D-4", value_date="2026-11-26"), "R_DATE"),
        (pay_row("D-5", value_date="2026-12-28"), "R_DATE"),
        (pay_row("D-6", payer_account="1234567"), "R_ACCOUNT"),
        (pay_row("D-7", payer_id_type="PASSPORT", payer_id_no="E1234567"), "R_ENUM"),
        (pay_row("D-8", payer_id_no=RIC[:-1] + ("0" if RIC[-1] != "0" else "1")), "R_ID_CHECKSUM"),
        (pay_row("D-9", payee_account=_bad_luhn(CARD)), "R_ACCOUNT"),
        (pay_row("OK-10", payee_account=_bad_luhn(_card("621799"))), ""),  # client's Luhn relaxation
        (pay_row("D-11", payee_bank_code="10210009999"), "R_BANK_CODE"),
        (pay_row("D-12", amount="1.005"), "R_AMOUNT"),
        (pay_row("D-13", currency="EUR"), "R_CURRENCY"),
        (pay_row("OK-14", currency="USD", amount="999999999999.99"), ""),
        (pay_row("D-15", purpose="用" * 141), "R_FORMAT"),
        (pay_row("OK-1"), "R_DUPLICATE_REF"),  # the later of two in this file
        (pay_row("EARLY-A"), "R_DUPLICATE_REF"),  # taken by an accepted row of an earlier file
        (pay_row("EARLY-R"), "R_DUPLICATE_REF"),  # taken by a rejected row of an earlier file
        (pay_row("OK-1", amount="0", currency="EUR"), "R_AMOUNT;R_CURRENCY;R_DUPLICATE_REF"),
        (pay_row("OK-20", payer_name='王, "伟"\n二', purpose="rent, March"), ""),  # quoting kept
        (pay_row("A,B"), "R_FORMAT"),
        (
            pay_row("D-22", amount="", currency="GBP", payee_account_type="IBAN"),
            "R_REQUIRED;R_CURRENCY;R_ENUM",
        ),
        (pay_row("D-23", payer_name="", payee_name="x" * 101), "R_REQUIRED;R_FORMAT"),
        (pay_row("D-24", payer_id_no=RIC[:17]), "R_FORMAT"),  # not the form of a RIC: 17 characters
        (pay_row("D-25", payer_id_no=RIC[:17] + "x"), "R_FORMAT"),  # lowercase x is outside the alphabet
    ]
    rows = [r for r, _ in rows_and_codes]
    codes = {i: c for i, (_, c) in enumerate(rows_and_codes, start=1) if c}
    results = drop_and_validate("VALC", "002", rows)
    stem = "VALC_PAY_20261127_002"
    ack_path = outbox / f"{stem}.ack.csv"
    expected = expected_ack(stem, [r[0] for r in rows], codes)
    assert ack_path.read_bytes() == expected
    assert results[-1]["rows"] == len(rows) and results[-1]["rejected"] == len(codes)

    # Conservation and the published rows: every data row once; only accepted rows carry money.
    eng = sqlalchemy.create_engine(env["url"])
    with eng.connect() as conn:
        got = conn.execute(
            sqlalchemy.text(
                "SELECT r.line_no, r.ack_status, r.amount_cents, r.currency, r.payload FROM records r "
                "JOIN files f ON f.file_id = r.file_id WHERE f.stem = :stem ORDER BY r.line_no"
            ),
            {"stem": stem},
        ).all()
    eng.dispose()
    assert [g.line_no for g in got] == list(range(1, len(rows) + 1))
    assert {g.line_no: (g.amount_cents, g.currency) for g in got if g.ack_status == "ACCEPTED"} == {
        1: (10000, "CNY"),
        10: (10000, "CNY"),
        14: (99999999999999, "USD"),
        20: (10000, "CNY"),
    }
    assert all(g.amount_cents is None for g in got if g.ack_status == "REJECTED")
    assert json.loads(got[19].payload)["payer_name"] == '王, "伟"\n二'

    # Reruns: the ack is rewritten from the database, byte for byte; nothing is renumbered.
    ack_path.unlink()
    assert validation.validate_client("VALC", DAY.isoformat())[-1].get("rerun") is True
    assert ack_path.read_bytes() == expected


def test_error_rate_above_threshold_refuses_the_file_and_publishes_no_row(env):
    outbox = env["landing"] / "STRICT" / "outbox"
    # 3 of 10 rejected = 30% > 20%: refused. Refs of a refused file are not taken.
    rows = [pay_row(f"E-{i}", amount="0" if i < 3 else "1.00") for i in range(10)]
    results = drop_and_validate("STRICT", "001", rows)
    assert results[0]["status"] == "REJECTED"
    rej = (outbox / "STRICT_PAY_20261127_001.rej").read_text(encoding="utf-8")
    assert rej.startswith("F_ERROR_RATE|") and rej.endswith("\n") and rej.count("\n") == 1
    assert not (outbox / "STRICT_PAY_20261127_001.ack.csv").exists()

    # 2 of 10 rejected = 20%, not above the threshold: accepted; the refused file's refs are free.
    rows = [pay_row(f"E-{i}", amount="0" if i < 2 else "1.00") for i in range(10)]
    drop_and_validate("STRICT", "002", rows)
    assert (outbox / "STRICT_PAY_20261127_002.ack.csv").read_bytes() == expected_ack(
        "STRICT_PAY_20261127_002", [f"E-{i}" for i in range(10)], {1: "R_AMOUNT", 2: "R_AMOUNT"}
    )
    eng = sqlalchemy.create_engine(env["url"])
    with eng.connect() as conn:
        per_file = dict(
            conn.execute(
                sqlalchemy.text(
                    "SELECT f.stem, COUNT(r.business_no) FROM files f LEFT JOIN records r ON r.file_id = f.file_id "
                    "WHERE f.client_id = 'STRICT' GROUP BY f.stem"
                )
            ).all()
        )
        status = dict(
            conn.execute(sqlalchemy.text("SELECT stem, status FROM files WHERE client_id = 'STRICT'")).all()
        )
    eng.dispose()
    assert per_file == {"STRICT_PAY_20261127_001": 0, "STRICT_PAY_20261127_002": 10}
    assert status["STRICT_PAY_20261127_001"] == "REJECTED"


def test_a_load_failing_mid_file_publishes_nothing_and_a_rerun_publishes_all(env, monkeypatch):
    """The database refuses a row of the third write batch (its business number is taken): the
    error reaches the task on both backends (on PostgreSQL from the thread that feeds the COPY),
    no row of the file stays, no ack is written, the file is still waiting for validation; once the
    cause is gone a rerun publishes every row."""
    import sqlite3

    import psycopg
    from tests.settlement_seed import execute, pay, query, seed_file

    monkeypatch.setattr(validation, "CHUNK_ROWS", 4)
    monkeypatch.setattr(validation, "WRITE_ROWS", 3)
    squatter = seed_file(env["url"], "VALC", [pay(100)], seq="009")[0]
    taken = "VALC-PAY-20261127-001-000008"
    execute(env["url"], "UPDATE records SET business_no = :t WHERE business_no = :s", t=taken, s=squatter)
    rows = [pay_row(f"M-{i}") for i in range(10)]
    with pytest.raises((psycopg.errors.UniqueViolation, sqlite3.IntegrityError)) as failure:
        drop_and_validate("VALC", "001", rows)
    assert "records" in str(failure.value)

    def state() -> tuple:
        (file_id, status), *_ = query(env["url"], "SELECT file_id, status FROM files WHERE stem = :s", s=STEM)
        count = query(env["url"], "SELECT COUNT(*) FROM records WHERE file_id = :f", f=file_id)[0][0]
        return status, count, (env["landing"] / "VALC" / "outbox" / f"{STEM}.ack.csv").exists()

    STEM = "VALC_PAY_20261127_001"
    assert state() == ("INTAKE_OK", 0, False)

    execute(env["url"], "DELETE FROM records WHERE business_no = :t", t=taken)
    file_id = query(env["url"], "SELECT file_id FROM files WHERE stem = :s", s=STEM)[0][0]
    results = [r for r in validation.validate_client("VALC", DAY.isoformat()) if r["file_id"] == file_id]
    assert [(r["status"], r["rows"], r["rejected"]) for r in results] == [("VALIDATED", 10, 0)]
    assert state() == ("VALIDATED", 10, True)
    assert (env["landing"] / "VALC" / "outbox" / f"{STEM}.ack.csv").read_bytes() == expected_ack(
        STEM, [f"M-{i}" for i in range(10)], {}
    )


@pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)
def test_a_file_accepted_with_more_than_999999_rows_is_answered_f_too_large_not_numbered(env):
    """A file accepted by intake before it refused files of more than 999,999 rows (its count as
    recorded then stands for it here): its rows cannot be numbered as contract section 5 says, so
    validation answers it with intake's F_TOO_LARGE instead of an ack, and publishes no row."""
    from tests.settlement_seed import execute, query

    stem = "VALC_PAY_20261127_001"
    drop_and_intake("VALC", "001", [pay_row(f"L-{i}") for i in range(3)])
    execute(env["url"], "UPDATE files SET record_count = 1000000 WHERE stem = :s", s=stem)
    (result,) = validation.validate_client("VALC", DAY.isoformat())
    assert (result["status"], result["code"]) == ("REJECTED", "F_TOO_LARGE")
    outbox = env["landing"] / "VALC" / "outbox"
    assert sorted(p.name for p in outbox.iterdir()) == [f"{stem}.rej"]
    assert (outbox / f"{stem}.rej").read_bytes() == (
        b"F_TOO_LARGE|the control file declares 1000000 data rows; a file holds at most 999999 "
        b"(business numbers carry a 6-digit line number): split it into files of at most 999999 rows\n"
    )
    assert query(env["url"], "SELECT status, reason_code FROM files WHERE stem = :s", s=stem) == [
        ("REJECTED", "F_TOO_LARGE")
    ]
    assert query(env["url"], "SELECT COUNT(*) FROM records") == [(0,)]
    # A rerun keeps the answer and still publishes nothing.
    validation.validate_client("VALC", DAY.isoformat())
    assert sorted(p.name for p in outbox.iterdir()) == [f"{stem}.rej"]
    assert query(env["url"], "SELECT COUNT(*) FROM records") == [(0,)]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)
def test_a_row_beyond_line_999999_is_never_numbered_and_nothing_of_its_file_is_published(env, monkeypatch):
    """Should validation ever read rows beyond line 999,999 of a file intake let through (its reader
    and intake's disagreeing on the rows, say), no business number gets a 7-digit line part: the
    file's validation fails, nothing is published or answered and the file waits, as after any
    failed load; with the cause gone a rerun publishes it."""
    from tests.settlement_seed import query

    from daybook import business_types, rowread

    stem = "VALC_PAY_20261127_001"
    monkeypatch.setattr(validation, "CHUNK_ROWS", 2)
    drop_and_intake("VALC", "001", [pay_row(f"N-{i}") for i in range(3)])
    real = rowread.iter_chunks

    def numbered_from_999998(*args, **kwargs):  # lines 999,998.. instead of 1..: the third is 1,000,000
        for chunk in real(*args, **kwargs):
            yield rowread.Chunk(chunk.table, chunk.first_line + 999_997)

    with monkeypatch.context() as mp:
        mp.setattr(rowread, "iter_chunks", numbered_from_999998)
        with pytest.raises(business_types.LineNumberOutOfRange, match="6 digits"):
            validation.validate_client("VALC", DAY.isoformat())
    assert query(env["url"], "SELECT COUNT(*) FROM records") == [(0,)]
    assert query(env["url"], "SELECT status FROM files WHERE stem = :s", s=stem) == [("INTAKE_OK",)]
    outbox = env["landing"] / "VALC" / "outbox"
    assert not outbox.exists() or list(outbox.iterdir()) == []

    (result,) = validation.validate_client("VALC", DAY.isoformat())
    assert (result["status"], result["rows"]) == ("VALIDATED", 3)
    assert (outbox / f"{stem}.ack.csv").read_bytes() == expected_ack(stem, [f"N-{i}" for i in range(3)], {})


@pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)
def test_ack_is_rfc4180_for_any_client_ref_and_a_rerun_writes_the_same_bytes(env):
    """Rejected rows echo the client_ref as sent: one holding a bare CR, a CRLF, an LF, a comma or a
    quote is quoted (RFC 4180), so a CSV reader, and the contract's own parser, read one ack row
    per data row with the ref as sent. The rerun (ack rewritten from the database) is identical."""
    from daybook.fileformat import parse_csv

    refs = ["A\rB", "C\r\nD", "E\nF", "G,H", 'I"J', " K", "OK-1"]
    # CRLF line ends: Python's csv writer then quotes a bare CR in a field, as a client must.
    (result,) = drop_and_validate("VALC", "001", [pay_row(r) for r in refs], crlf=True)
    assert (result["status"], result["rows"]) == ("VALIDATED", len(refs))
    ack_path = env["landing"] / "VALC" / "outbox" / "VALC_PAY_20261127_001.ack.csv"
    first = ack_path.read_bytes()
    text = first.decode("utf-8")
    read = list(csv.reader(io.StringIO(text, newline="")))
    assert read[0] == ACK_HEADER
    assert [r[1] for r in read[1:]] == refs
    assert [r[3] for r in read[1:]] == ["REJECTED"] * 6 + ["ACCEPTED"]
    header, rows = parse_csv(text)
    assert header == ACK_HEADER and [r[1] for r in rows] == refs
    assert b'1,"A\rB",VALC-PAY-20261127-001-000001,REJECTED,R_FORMAT\n' in first
    ack_path.unlink()
    assert validation.validate_client("VALC", DAY.isoformat())[-1].get("rerun") is True
    assert ack_path.read_bytes() == first


def test_columns_in_any_order_are_judged_by_their_names(env):
    """Section 4: the header names the columns, in any order; each rule reads its own column."""
    header = list(reversed(PAY_HEADER))
    rows = [
        list(reversed(pay_row("ORD-1"))),
        list(reversed(pay_row("ORD-2", payer_account="1234567"))),
        list(reversed(pay_row("ORD-3", amount="0", purpose="x" * 141))),
    ]
    (result,) = drop_and_validate("VALC", "001", rows, header=header)
    assert (result["status"], result["rows"], result["rejected"]) == ("VALIDATED", 3, 2)
    ack = (env["landing"] / "VALC" / "outbox" / "VALC_PAY_20261127_001.ack.csv").read_bytes()
    assert ack == expected_ack(
        "VALC_PAY_20261127_001", ["ORD-1", "ORD-2", "ORD-3"], {2: "R_ACCOUNT", 3: "R_FORMAT;R_AMOUNT"}
    )
