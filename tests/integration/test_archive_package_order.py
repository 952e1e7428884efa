"""records.parquet and ledger.csv of a package are read file after file, each file by an index
range in key order (archive.package_files): the rows must be those of the package's files, no
more and no fewer, in business-number order, whatever the files' ids, and never a posting of
another file whose stem a later file repeats.

The reference is the package read as a whole (records of the folder's files taken in on the day,
joined to their postings, sorted by business number): sql/select_records_of_package.sql and
sql/select_ledger_entries_of_client.sql, read with a plain cursor.
"""

from __future__ import annotations

import io

import pyarrow.parquet as pq
import pytest
import sqlalchemy

from daybook import archive, db

pytestmark = pytest.mark.integration

DAY, NEXT = "2026-11-27", "2026-11-30"

# (file name, intake date, original, rows). Ids follow this order: the PAY file is taken in before
# the LOAN file, but LOAN business numbers sort first. BANKB's file has the same numbers' shape
# in another folder; the resent PAY stem of the next day owns no records (a duplicate).
FILES = [
    ("BANKA_PAY_20261127_002.csv", DAY, 1, 7),
    ("BANKA_LOAN_20261127_001.csv", DAY, 1, 4),
    ("BANKA_PAY_20261127_001.csv", DAY, 1, 5),
    ("BANKA_PAY_20261126_009.csv", "2026-11-26", 1, 3),
    ("BANKAX_PAY_20261127_001.csv", DAY, 1, 2),
    ("BANKA_PAY_20261127_003.csv", DAY, 1, 0),
    ("BANKA_PAY_20261127_002.csv", NEXT, 0, 0),
]


def _seed() -> None:
    with db.begin() as conn:
        for name, intake, original, rows in FILES:
            stem = name.removesuffix(".csv")
            client, type_code, day, seq = stem.split("_")
            business_date = f"{day[:4]}-{day[4:6]}-{day[6:]}"
            file_id = conn.execute(
                sqlalchemy.text(
                    "INSERT INTO files (folder, name, stem, client_id, file_type, business_date, seq,"
                    " intake_date, sha256, size_bytes, raw_key, status, original)"
                    " VALUES (:folder, :name, :stem, :client, :type, :date, :seq, :intake, :sha, 1, 'k',"
                    " :status, :original) RETURNING file_id"
                ),
                {
                    "folder": client,
                    "name": name,
                    "stem": stem,
                    "client": client,
                    "type": type_code,
                    "date": business_date,
                    "seq": seq,
                    "intake": intake,
                    "sha": f"{name}-{intake}",
                    "status": "COMPLETED" if original else "REJECTED",
                    "original": original,
                },
            ).scalar_one()
            # Lines inserted last first: the table's order is not the business numbers' order.
            for line in range(rows, 0, -1):
                no = f"{client}-{type_code}-{day}-{seq}-{line:06d}"
                conn.execute(
                    sqlalchemy.text(
                        "INSERT INTO records (business_no, file_id, client_id, file_type, business_date,"
                        " line_no, client_ref, amount_cents, currency, ack_status, reason_codes, state,"
                        " payload) VALUES (:no, :fid, :client, :type, :date, :line, :ref, :cents, 'CNY',"
                        " 'ACCEPTED', '', :state, '{}')"
                    ),
                    {
                        "no": no,
                        "fid": file_id,
                        "client": client,
                        "type": type_code,
                        "date": business_date,
                        "line": line,
                        "ref": f"{stem}-{line}",
                        "cents": 100 * line + file_id,
                        "state": "RETURNED" if line == 2 else "SETTLED",
                    },
                )
                if line != 2:  # a returned row has no posting
                    conn.execute(
                        sqlalchemy.text(
                            "INSERT INTO ledger_transfers (business_no, client_id, business_date,"
                            " debit_account, credit_account, amount_cents, posted_at)"
                            " VALUES (:no, :client, :date, :debit, :credit, :cents, '2026-11-27 10:00:00')"
                        ),
                        {
                            "no": no,
                            "client": client,
                            "date": business_date,
                            "debit": f"{client}:PREFUND",
                            "credit": f"{client}:CLEARING",
                            "cents": 100 * line + file_id,
                        },
                    )


def _whole_package(name: str, client_id: str, business_date: str) -> tuple[list[str], list[tuple]]:
    with db.begin() as conn:
        result = conn.execute(
            sqlalchemy.text(db.sql(name)), {"client_id": client_id, "business_date": business_date}
        )
        return list(result.keys()), [tuple(r) for r in result]


@pytest.fixture
def seeded(business_db, monkeypatch):
    monkeypatch.setattr(archive, "FETCH_ROWS", 3)
    monkeypatch.setattr(archive, "BATCH_ROWS", 5)
    _seed()
    return business_db


def _member_bytes(tmp_path, client_id: str, business_date: str) -> tuple[bytes, bytes, str]:
    sources, _ = archive.member_sources(client_id, business_date)
    ledger, records = tmp_path / f"ledger-{business_date}.csv", tmp_path / f"records-{business_date}.parquet"
    sources["ledger.csv"](ledger)
    sources[archive.RECORDS_MEMBER](records)
    return ledger.read_bytes(), records.read_bytes(), ledger.read_text(encoding="utf-8")


def test_package_files_are_the_files_owning_records_in_business_number_order(seeded):
    pieces = archive.package_files("BANKA", DAY)
    assert [p["lo"] for p in pieces] == [
        "BANKA-LOAN-20261127-001-",
        "BANKA-PAY-20261127-001-",
        "BANKA-PAY-20261127-002-",
    ]
    assert [p["hi"] for p in pieces] == [
        "BANKA-LOAN-20261127-001.",
        "BANKA-PAY-20261127-001.",
        "BANKA-PAY-20261127-002.",
    ]
    # The resent stem of the next day owns nothing: its package reads no file's rows.
    assert archive.package_files("BANKA", NEXT) == []


def test_ledger_and_records_members_are_the_whole_package_sorted_by_business_number(seeded, tmp_path):
    ledger, records, text = _member_bytes(tmp_path, "BANKA", DAY)
    columns, entries = _whole_package("select_ledger_entries_of_client", "BANKA", DAY)
    expected_ledger = archive.rows_to_csv([dict(zip(columns, e, strict=True)) for e in entries], columns)
    assert ledger == expected_ledger
    lines = text.splitlines()
    # 4 + 5 + 7 rows, one without a posting in each file: 13 postings, a debit and a credit each.
    assert len(lines) == 1 + 2 * 13
    numbers = [line.split(",")[1] for line in lines[1:]]
    assert numbers == sorted(numbers)
    assert {n.rsplit("-", 1)[0] for n in numbers} == {
        "BANKA-LOAN-20261127-001",
        "BANKA-PAY-20261127-001",
        "BANKA-PAY-20261127-002",
    }
    columns, rows = _whole_package("select_records_of_package", "BANKA", DAY)
    table = pq.read_table(io.BytesIO(records))
    assert table.column_names == columns
    assert table.column("business_no").to_pylist() == [r[columns.index("business_no")] for r in rows]
    assert table.num_rows == 16


def test_a_package_of_a_resent_stem_alone_holds_no_row_of_the_original(seeded, tmp_path):
    ledger, records, text = _member_bytes(tmp_path, "BANKA", NEXT)
    assert text.splitlines() == [
        "entry_id,business_no,leg,client_id,business_date,account,amount_cents,posted_at"
    ]
    table = pq.read_table(io.BytesIO(records))
    assert table.num_rows == 0
    columns, _ = _whole_package("select_records_of_package", "BANKA", NEXT)
    assert table.column_names == columns
