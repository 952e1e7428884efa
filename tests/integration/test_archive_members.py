"""Archive members produced from the database: the same bytes whichever way the rows are read.

The day's rows carry the awkward values (formula prefixes, quotes, commas, tabs, newlines,
backslashes, ``\\N``, empty text beside NULL, timestamps with and without a fraction). On
PostgreSQL the members are read with the ADBC driver (the statement bound by psycopg 3 or
psycopg2), elsewhere from a cursor; every way must give what Python's csv writer gives for the values the database
driver returns, with csvsafe's rule on each cell (computed here with the csv module), and the
same Parquet file.
"""

from __future__ import annotations

import csv
import io

import pyarrow.parquet as pq
import pytest
import sqlalchemy

from daybook import archive, csvsafe, db

pytestmark = pytest.mark.integration

PARAMS = {"client_id": "BANKA", "business_date": "2026-11-27"}
AWKWARD = [
    "=SUM(A1)",
    "-12.50",
    "+1",
    "@x",
    "\tlead",
    "\rlead",
    "a,b",
    'q"uote',
    "line\nbreak",
    "cr\rin",
    "tab\tin",
    "back\\slash",
    "\\N",
    "\\",
    "\\n not a newline",
    "",
    "张伟 €",
    "\b\f\v ctrl",
]
TIMES = ["2026-11-27 10:00:00", "2026-11-27 10:00:00.120000", "2026-11-27 23:59:59.000001"]


def _seed() -> None:
    with db.begin() as conn:
        conn.execute(
            sqlalchemy.text(
                "INSERT INTO files (folder, name, stem, client_id, file_type, business_date, seq, intake_date,"
                " sha256, size_bytes, raw_key, status) VALUES ('BANKA', 'BANKA_PAY_20261127_001.csv',"
                " 'BANKA_PAY_20261127_001', 'BANKA', 'PAY', '2026-11-27', '001', '2026-11-27', 'x', 1, 'k',"
                " 'COMPLETED')"
            )
        )
        file_id = conn.execute(sqlalchemy.text("SELECT file_id FROM files")).scalar_one()
        for i, value in enumerate(AWKWARD, start=1):
            no = f"BANKA-PAY-20261127-001-{i:06d}"
            conn.execute(
                sqlalchemy.text(
                    "INSERT INTO records (business_no, file_id, client_id, file_type, business_date, line_no,"
                    " client_ref, amount_cents, currency, ack_status, reason_codes, state, tier, payload)"
                    " VALUES (:no, :fid, 'BANKA', 'PAY', '2026-11-27', :line, :ref, :cents, 'CNY', 'ACCEPTED',"
                    " :codes, 'SETTLED', :tier, :payload)"
                ),
                {
                    "no": no,
                    "fid": file_id,
                    "line": i,
                    "ref": f"R{i}{value}",
                    "cents": None if i % 5 == 0 else (-1) ** i * 100 * i,
                    "codes": value,
                    "tier": None if i % 3 == 0 else value,
                    "payload": '{"purpose": "' + value + '"}',
                },
            )
            conn.execute(
                sqlalchemy.text(
                    "INSERT INTO approvals (business_no, level, decision, decided_by, opinion, rule_version,"
                    " decided_at) VALUES (:no, 1, 'APPROVE', :who, :opinion, :rule, :at)"
                ),
                {
                    "no": no,
                    "who": f"reviewer {value}",
                    "opinion": value,
                    "rule": None if i % 2 else "r1",
                    "at": TIMES[i % len(TIMES)],
                },
            )
            # One posting: its two entries (legs) carry the awkward value at the end of their
            # accounts (the debit's account is the value's own, the credit's must differ).
            conn.execute(
                sqlalchemy.text(
                    "INSERT INTO ledger_transfers (business_no, client_id, business_date, debit_account,"
                    " credit_account, amount_cents, posted_at) VALUES (:no, 'BANKA', '2026-11-27', :debit,"
                    " :credit, :cents, :at)"
                ),
                {
                    "no": no,
                    "debit": f"BANKA:{value}",
                    "credit": f"BANKA:PAYEE:{value}",
                    "cents": i,
                    "at": TIMES[(i + 1) % 3],
                },
            )


def _driver_rows(name: str) -> tuple[list[str], list[tuple]]:
    with db.begin() as conn:
        result = conn.execute(sqlalchemy.text(db.sql(name)), PARAMS)
        return list(result.keys()), [tuple(r) for r in result]


def _reference_csv(name: str) -> bytes:
    columns, rows = _driver_rows(name)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for r in rows:
        writer.writerow(csvsafe.row(r))
    return out.getvalue().encode("utf-8")


QUERIES = ["select_approvals_of_package", "select_ledger_entries_of_client", "select_records_of_package"]


@pytest.fixture
def day(business_db, monkeypatch):
    """The awkward day, read in batches of 2 rows and written in Parquet row groups of 4."""
    monkeypatch.setattr(archive, "FETCH_ROWS", 2)
    monkeypatch.setattr(archive, "BATCH_ROWS", 4)
    _seed()
    return business_db


def _members(tmp_path, tag: str) -> dict[str, bytes]:
    out = {}
    for name in QUERIES:
        target = tmp_path / f"{tag}-{name}.csv"
        assert archive.query_to_csv(name, PARAMS, target) == len(AWKWARD) * (2 if "ledger" in name else 1)
        out[name] = target.read_bytes()
    parquet = tmp_path / f"{tag}-records.parquet"
    assert archive.query_to_parquet("select_records_of_package", PARAMS, parquet) == len(AWKWARD)
    out["records.parquet"] = parquet.read_bytes()
    # As the package reads them: file after file (one file here), by index ranges.
    files = archive.package_files(PARAMS["client_id"], PARAMS["business_date"])
    target = tmp_path / f"{tag}-ledger-by-file.csv"
    assert archive.query_to_csv("select_ledger_entries_of_numbers", files, target) == 2 * len(AWKWARD)
    out["ledger by file"] = target.read_bytes()
    target = tmp_path / f"{tag}-records-by-file.parquet"
    assert archive.query_to_parquet("select_records_of_file", files, target) == len(AWKWARD)
    out["records.parquet by file"] = target.read_bytes()
    return out


def test_csv_members_are_the_csv_writers_bytes_of_the_driver_values(day, tmp_path):
    members = _members(tmp_path, "m")
    for name in QUERIES:
        assert members[name] == _reference_csv(name), name
    assert members["ledger by file"] == _reference_csv("select_ledger_entries_of_client")
    assert members["records.parquet by file"] == members["records.parquet"]


def test_records_parquet_holds_the_driver_values_in_row_groups_of_batch_rows(day, tmp_path):
    members = _members(tmp_path, "m")
    table = pq.read_table(io.BytesIO(members["records.parquet"]))
    columns, rows = _driver_rows("select_records_of_package")
    ints = {"file_id", "line_no", "amount_cents"}
    expected = [
        {c: v if v is None or c in ints else str(v) for c, v in zip(columns, r, strict=True)} for r in rows
    ]
    assert table.to_pylist() == expected
    meta = pq.ParquetFile(io.BytesIO(members["records.parquet"])).metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [4, 4, 4, 4, 2]


@pytest.mark.parametrize("backend", ["postgres"])
def test_on_postgresql_adbc_with_either_driver_binding_and_the_cursor_give_the_same_members(
    day, tmp_path, monkeypatch
):
    copies = []
    bulk = archive._bulk_rows
    monkeypatch.setattr(archive, "_bulk_rows", lambda *a: copies.append(a[1]) or bulk(*a))
    by_copy = _members(tmp_path, "psycopg")
    assert len(copies) == len(QUERIES) + 3, "PostgreSQL members are read with the ADBC driver"
    monkeypatch.setenv("DAYBOOK_DB_URL", day.replace("postgresql://", "postgresql+psycopg2://", 1))
    assert _members(tmp_path, "psycopg2") == by_copy
    assert len(copies) == 2 * (len(QUERIES) + 3)
    monkeypatch.setattr(archive, "_copy_source", lambda *a: None)
    assert _members(tmp_path, "cursor") == by_copy


@pytest.mark.parametrize("backend", ["postgres"])
def test_the_same_day_gives_the_same_records_parquet_on_sqlite_and_postgresql(day, tmp_path, monkeypatch):
    on_postgres = _members(tmp_path, "pg")["records.parquet"]
    monkeypatch.setenv("DAYBOOK_DB_URL", f"sqlite:///{tmp_path / 'same-day.db'}")
    db.migrate()
    _seed()
    assert _members(tmp_path, "sqlite")["records.parquet"] == on_postgres


@pytest.mark.parametrize("backend", ["postgres"])
def test_a_bulk_read_that_fails_midway_raises_instead_of_ending_the_member_early(day):
    """Rows of a read that breaks off (here: division by zero at row 60,001) must not pass for
    the whole result."""
    uri = sqlalchemy.make_url(day).set(drivername="postgresql").render_as_string(hide_password=False)
    statement = "SELECT g, CAST(10 / (g - 60001) AS TEXT) AS t FROM generate_series(1, 120000) AS g"
    read = []
    with (
        pytest.raises(Exception, match="division by zero"),
        archive._bulk_rows(uri, statement, ["g", "t"], ["int", "text"], {"g"}) as (_, batches),
    ):
        for batch in batches:
            read.append(batch.num_rows)
    assert sum(read) < 120000


@pytest.mark.parametrize("backend", ["postgres"])
def test_a_bulk_read_of_no_rows_gives_no_rows_and_types_become_the_text_python_prints(day):
    uri = sqlalchemy.make_url(day).set(drivername="postgresql").render_as_string(hide_password=False)
    columns = ["n", "d", "at", "s"]
    kinds = ["text", "text", "timestamp", "int"]
    empty = "SELECT 1 AS n, DATE '2026-11-27' AS d, TIMESTAMP '2026-11-27 10:00:00' AS at, 2 AS s WHERE false"
    with archive._bulk_rows(uri, empty, columns, kinds, {"s"}) as (_, batches):
        assert sum(b.num_rows for b in batches) == 0
    values = (
        "SELECT CAST(7 AS SMALLINT) AS n, DATE '2026-11-27' AS d, TIMESTAMP '2026-11-27 10:00:00' AS at, 2 AS s"
        " UNION ALL SELECT NULL, NULL, TIMESTAMP '2026-11-27 10:00:00.5', NULL"
    )
    with archive._bulk_rows(uri, values, columns, kinds, {"s"}) as (_, batches):
        rows = [r for b in batches for r in b.to_pylist()]
    assert rows == [
        {"n": "7", "d": "2026-11-27", "at": "2026-11-27 10:00:00", "s": 2},
        {"n": None, "d": None, "at": "2026-11-27 10:00:00.500000", "s": None},
    ]


@pytest.mark.parametrize("backend", ["postgres"])
@pytest.mark.parametrize(
    "query", ["select_records_of_file", "select_clearing_rows_of_file", "select_ret_rows"]
)
def test_the_bulk_connection_runs_without_jit_and_reads_a_files_records_without_sorting(day, query):
    """The settings given in the bulk connection's libpq URI reach the server, and with them the
    rows of one file (the package's records, the clearing file's, a result file's) are an index
    range in line order (no Sort node in the plan)."""
    url = sqlalchemy.make_url(day)
    uri = archive._bulk_uri(url, query)
    shown = "SELECT current_setting('jit') AS jit, current_setting('enable_sort') AS enable_sort"
    with archive._bulk_rows(uri, shown, ["jit", "enable_sort"], ["text", "text"], ()) as (_, batches):
        assert [r for b in batches for r in b.to_pylist()] == [{"jit": "off", "enable_sort": "off"}]
    import psycopg  # the same libpq URI; ADBC runs every query inside COPY, which EXPLAIN cannot be

    with psycopg.connect(uri) as bulk:
        rows = bulk.execute("EXPLAIN " + db.sql(query).replace(":file_id", "1"))
        plan = "\n".join(r[0] for r in rows)
    assert "Sort" not in plan and "records_file_id_line_no_key" in plan, plan
