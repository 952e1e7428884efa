"""Archive (归档): one package per client per business date, verified before anything is purged.

A package (``<archive root>/<CLIENT>/<YYYY-MM-DD>/``) holds:

- ``originals/``: the exact bytes of every file received that day (data and control files,
  refused ones too);
- ``returns/``: every return file written for them (``.rej``, ``.ack.csv``, ``.ret.csv``);
- ``records.parquet``: the day's rows with their final states (the ``records`` table);
- ``approvals.csv``: the approval audit (every decision, who, when, opinion);
- ``ledger.csv``: the ledger postings of the day's rows;
- ``aml/cases.csv``, ``aml/decisions.csv``, ``aml/large_value.csv``: the anti-money-laundering
  cases of the day's rows (sanctions, structuring holds), every decision on them (who, when,
  note) and the large-value payers reported; ``aml/<CLIENT>_LVR_<YYYYMMDD>.csv``: the day's
  large-value report as written to the outputs zone;
- ``data_docs/<stem>/``: the GX Data Docs of the client's files;
- ``profiles/<version>.yaml``: the client profile version(s) that judged the files;
- ``manifest.json``: every member's path, sha256 and size (of the plaintext), the profile
  versions, the retention date and the encryption used; ``SHA256SUMS`` the same hashes in
  ``sha256sum -c`` form.

With an archive key configured (:mod:`daybook.crypto`) every member is stored sealed with
AES-256-GCM in 1 MiB segments as ``<path>.enc``; ``manifest.json`` and ``SHA256SUMS`` stay readable (they hold
names and hashes only) and the manifest's own hash is kept in the ``archives`` table. On S3
every object is written with server-side encryption requested and the retention date in its
metadata, through the same code path. Without a key the package is written in plaintext and a
warning alert says so (``DAYBOOK_ARCHIVE_REQUIRE_KEY=1`` refuses instead; set it in production).

Nothing in a package holds a wall-clock time of the archiving run, so archiving the same day
twice yields the same plaintext members and the same manifest; an existing sealed member whose
plaintext is unchanged is left as it is. After writing, the package is read back and verified;
only then are staging rows older than the purge window cleared (:func:`purge_staging`).

Memory stays bounded whatever the day's size: members are produced one at a time into a
temporary file (files copied in chunks; rows as Arrow batches, from ``COPY (query) TO STDOUT``
on PostgreSQL and from a streamed cursor elsewhere, written as Parquet row groups of
:data:`BATCH_ROWS` or as CSV a whole batch at a time), hashed and sealed segment by segment on
one read into a second temporary file and uploaded from it (multipart on S3; a local archive
folder gets the temporary file itself, synced and renamed into place); a copy of a stored object
is hashed while it is copied, so it is not read again. Verification reads every member back as a
stream, two at a time. No step handles rows one by one in Python.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import io
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Collection, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import text as sql_text

from daybook import arrowcsv, audit_chain, business_types, crypto, csvsafe, db, events
from daybook.config import env_int, settings
from daybook.storage import LocalStore, S3Store, Store, open_store

log = logging.getLogger(__name__)
RETURN_SUFFIXES = (".rej", ".ack.csv", ".ret.csv")
TERMINAL = ("REJECTED", "COMPLETED")
PACKAGE_FORMAT = 2
SEALED_SUFFIX = ".enc"
INDEX_FILES = ("manifest.json", "SHA256SUMS")
RECORDS_MEMBER = "records.parquet"
DEFAULT_RETENTION_YEARS = 10
DEFAULT_PURGE_AFTER_DAYS = 90
# The anti-money-laundering record of the client-day: cases (holds), the people's decisions, and
# the large-value transaction reports.
AML_PACKAGE_QUERIES = {
    "aml/cases.csv": "select_aml_cases_of_package",
    "aml/decisions.csv": "select_aml_decisions_of_package",
    "aml/large_value.csv": "select_large_value_of_package",
}
BATCH_ROWS = 100_000  # rows per Parquet row group
FETCH_ROWS = 20_000  # rows per database fetch (Python rows are large: keep one fetch at a time)
CHUNK_BYTES = 1 << 20
_INT_COLUMNS = {"file_id", "line_no", "amount_cents", "approval_id", "level", "entry_id"}


class ArchiveVerificationError(Exception):
    """A package read back does not match its manifest or the database."""


# --------------------------------------------------------------------------- configuration


def retention_years(record_class: str) -> int:
    """Years a package of the record class is kept: ``DAYBOOK_RETENTION_YEARS_<CLASS>``, else
    ``DAYBOOK_RETENTION_YEARS``, else 10 (anti-money-laundering record keeping); 1 to 100, else
    :class:`daybook.config.ConfigError`."""
    for name in (f"DAYBOOK_RETENTION_YEARS_{record_class.upper()}", "DAYBOOK_RETENTION_YEARS"):
        if os.environ.get(name, "").strip():
            return env_int(
                name,
                DEFAULT_RETENTION_YEARS,
                1,
                100,
                "years an archive package is kept after its business date; 0 would let it be "
                "deleted the day it is archived",
            )
    return DEFAULT_RETENTION_YEARS


def purge_after_days() -> int:
    """Calendar days staging rows stay in the live database after their day
    (``DAYBOOK_PURGE_AFTER_DAYS``, default 90); 0 to 36500, else :class:`daybook.config.ConfigError`."""
    return env_int(
        "DAYBOOK_PURGE_AFTER_DAYS",
        DEFAULT_PURGE_AFTER_DAYS,
        0,
        36_500,
        "calendar days a record's payload stays in the live database after its day, at most a "
        "century; 0 purges it when its day is archived",
    )


def _require_key() -> bool:
    return os.environ.get("DAYBOOK_ARCHIVE_REQUIRE_KEY", "").strip() in ("1", "true", "yes")


def add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year that has none
        return day.replace(year=day.year + years, day=28)


def record_class(file_types: set[str]) -> str:
    """The package's record class: its file types joined (``LOAN+PAY``), ``OTHER`` if none is known."""
    return "+".join(sorted(file_types)) or "OTHER"


def retain_until(business_date: str, file_types: set[str]) -> str:
    """The longest retention among the package's file types, counted from the business date."""
    years = max([retention_years(t) for t in file_types] or [retention_years("OTHER")])
    return add_years(date.fromisoformat(business_date), years).isoformat()


# --------------------------------------------------------------------------- storage helpers


def put_object(store: Store, key: str, data: bytes, retain: str | None = None) -> None:
    """Write one archive object; on S3 with server-side encryption and the retention date."""
    metadata = {"retain-until": retain} if retain else {}
    if isinstance(store, S3Store):
        full = f"{store.prefix}/{key}" if store.prefix else key
        store.s3.put_object(
            Bucket=store.bucket, Key=full, Body=data, ServerSideEncryption="AES256", Metadata=metadata
        )
    else:
        store.put(key, data)


def put_file(store: Store, key: str, path: Path, retain: str | None = None) -> None:
    """Write one archive object from a local file in bounded memory; on S3 multipart, with
    server-side encryption and the retention date, as :func:`put_object`."""
    store.put_file(
        key, path, metadata={"retain-until": retain} if retain else {}, server_side_encryption=True
    )


def object_metadata(store: Store, key: str) -> dict[str, Any]:
    """S3 object's encryption and user metadata (empty for a local store)."""
    if not isinstance(store, S3Store):
        return {}
    full = f"{store.prefix}/{key}" if store.prefix else key
    head = store.s3.head_object(Bucket=store.bucket, Key=full)
    return {"ServerSideEncryption": head.get("ServerSideEncryption"), "Metadata": head.get("Metadata", {})}


def archive_store() -> Store:
    return open_store(settings().archive)


def package_prefix(client_id: str, business_date: str) -> str:
    return f"{client_id}/{business_date}"


# --------------------------------------------------------------------------- member contents


def rows_to_csv(rows: list[dict[str, Any]], columns: list[str]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for r in rows:
        writer.writerow(csvsafe.row(r[c] for c in columns))
    return out.getvalue().encode("utf-8")


def _query(conn: Any, name: str, params: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    result = db.run(conn, name, params)
    columns = list(result.keys())
    return [dict(r._mapping) for r in result], columns


# Writes one member's plaintext to a local file; may return the sha256 and size of what it wrote
# (hashed on the way, so the file need not be read again), else None.
Producer = Callable[[Path], "tuple[str, int] | None"]


def _str_column(values: Iterable[Any]) -> list[str | None]:
    return [v if v is None or v.__class__ is str else str(v) for v in values]


def _text_array(values: tuple[Any, ...]) -> Any:
    """A column of Python values as an Arrow string array of their ``str()`` (None stays null):
    built in C when the values are all text or all integers, value by value otherwise."""
    import pyarrow as pa

    try:
        arr = pa.array(values)
    except (pa.ArrowException, OverflowError, TypeError, ValueError):
        arr = None
    if arr is not None:
        if pa.types.is_string(arr.type):
            return arr
        if pa.types.is_large_string(arr.type) or pa.types.is_integer(arr.type):
            return arr.cast(pa.string())
        if pa.types.is_null(arr.type):
            return pa.nulls(len(values), pa.string())
    return pa.array(_str_column(values), type=pa.string())


# PostgreSQL types whose values _bulk_rows gives as the text str() gives of the value the driver
# returns: text and integers as they are, dates and timestamps formatted as Python does.
_PG_TEXT_OIDS = {19, 25, 1042, 1043, 1082}  # name, text, bpchar, varchar, date
_PG_INT_OIDS = {20, 21, 23}  # int8, int2, int4
_PG_TIMESTAMP_OID = 1114  # timestamp without time zone


@contextmanager
def _arrow_rows(
    name: str, params: dict[str, Any], ints: Collection[str] = ()
) -> Iterator[tuple[list[str], Iterator[Any]]]:
    """The named query's column names and its rows as Arrow record batches: int64 for the
    columns in ``ints``, otherwise the text Python's ``str()`` gives of the value the database
    driver returns (null for NULL), so both ways below produce the same batches.

    On PostgreSQL the rows come from the ADBC driver (one binary COPY decoded into Arrow
    columns in C++, :func:`_copy_source`): no Python object per row or value. Elsewhere
    (SQLite), and for column types whose text could differ from Python's, from a streamed
    cursor FETCH_ROWS rows at a time, turned into columns in C."""
    with db.begin() as conn:
        copy = _copy_source(conn, name, params, ints) if conn.dialect.name == "postgresql" else None
        if copy is not None:
            with copy as source:
                yield source
            return
        result = conn.execute(
            sql_text(db.sql(name)),
            params,
            execution_options={"stream_results": True, "yield_per": FETCH_ROWS},
        )
        columns = list(result.keys())

        def batches() -> Iterator[Any]:
            import pyarrow as pa

            schema = _arrow_schema(columns, ints)
            while rows := result.fetchmany(FETCH_ROWS):
                values = list(zip(*rows, strict=True))
                del rows
                arrays = [
                    pa.array(v, type=pa.int64()) if c in ints else _text_array(v)
                    for c, v in zip(columns, values, strict=True)
                ]
                del values
                yield pa.RecordBatch.from_arrays(arrays, schema=schema)

        yield columns, batches()


def _arrow_schema(columns: list[str], ints: Collection[str]) -> Any:
    import pyarrow as pa

    return pa.schema([(c, pa.int64() if c in ints else pa.string()) for c in columns])


def _copy_source(conn: Any, name: str, params: dict[str, Any], ints: Collection[str]) -> Any:
    """A context giving (columns, Arrow batches) of the query read by the ADBC PostgreSQL driver,
    or None when this driver or one of the query's column types is not handled (then the caller
    reads a cursor).

    The driver runs the query as ``COPY (query) TO STDOUT (FORMAT binary)`` on a connection of
    its own and decodes the rows into Arrow columns in C++: no Python object per row or value,
    and no Python loop per COPY row (a psycopg COPY loop holds the interpreter for each of a
    day's million rows, which starved the thread writing the member). The statement is the
    named query with its parameters bound by ``conn``'s driver (client-side, as it would send
    them); read committed, like a statement of ``conn``'s own transaction, it sees what is
    committed when it starts."""
    raw = conn.connection.driver_connection
    if conn.dialect.paramstyle != "pyformat" or not hasattr(raw, "cursor"):
        return None
    compiled = sql_text(db.sql(name)).compile(dialect=conn.dialect)
    query = compiled.string.strip().rstrip(";")
    bound = compiled.construct_params(params)
    with raw.cursor() as cur:
        cur.execute(f"SELECT * FROM (\n{query}\n) AS q LIMIT 0", bound)
        described = [(d.name, d.type_code) for d in cur.description]
        if hasattr(cur, "mogrify") and not hasattr(raw, "pgconn"):  # psycopg2
            statement = cur.mogrify(query, bound).decode("utf-8")
        else:  # psycopg 3: its client-side cursor binds as the server would
            import psycopg

            statement = psycopg.ClientCursor(raw).mogrify(query, bound)
    columns = [c for c, _ in described]
    kinds: list[str] = []
    for column, oid in described:
        if column in ints and oid not in _PG_INT_OIDS:
            return None
        if oid in _PG_TEXT_OIDS or oid in _PG_INT_OIDS:
            kinds.append("int" if column in ints else "text")
        elif oid == _PG_TIMESTAMP_OID:
            kinds.append("timestamp")
        else:
            return None
    if len(set(columns)) != len(columns):
        return None
    return _bulk_rows(_bulk_uri(conn.engine.url, name), statement, columns, kinds, ints)


# Planner settings of the bulk connection of a named query, where the stock planner's choice
# costs far more than the plan the query is written for. The records of one file are meant to be
# an index range of (file_id, line_no) read in its own order; with the stock server's settings
# (work_mem 4 MB, random_page_cost 4) the planner chose a parallel scan of the whole records
# table and an external sort per file instead: 3 processes and ~200 MB of temporary files per
# file, 0.9-1 s against 0.4 s for the index range on one core (500k rows, measured on the
# benchmark day), and the first row only once the sort is done. ``enable_sort=off`` leaves the
# index range as the only plan without a sort; a server without that index still sorts.
# The same holds for the other reads of one file in line order: the clearing file's rows of a
# file (1.0 s against 0.15 s per 500k-row file) and a result file's rows (0.5 s against 0.43 s).
BULK_SETTINGS = {
    name: "-c enable_sort=off"
    for name in ("select_records_of_file", "select_clearing_rows_of_file", "select_ret_rows")
}


def _bulk_uri(url: Any, name: str) -> str:
    """The libpq URI of the bulk connection reading the named query: the business database's URL
    with the options every business-database session gets (:func:`daybook.db.postgresql_options`,
    JIT off), the query's :data:`BULK_SETTINGS`, and before them ``PGOPTIONS`` (which libpq would
    otherwise have used: a URI's options replace it)."""
    options = " ".join(
        part
        for part in (
            os.environ.get("PGOPTIONS", "").strip(),
            db.postgresql_options(url),
            BULK_SETTINGS.get(name),
        )
        if part
    )
    bare = url.set(drivername="postgresql").difference_update_query(["options"])
    rendered = bare.render_as_string(hide_password=False)
    # libpq decodes %XX in a URI but not "+" (which SQLAlchemy would write for a space).
    return f"{rendered}{'&' if '?' in rendered else '?'}options={quote(options, safe='')}"


@contextmanager
def _bulk_rows(
    uri: str, statement: str, columns: list[str], kinds: list[str], ints: Collection[str]
) -> Iterator[tuple[list[str], Iterator[Any]]]:
    """The rows of ``statement`` as batches of the schema :func:`_arrow_schema` gives, read with
    the ADBC PostgreSQL driver from the server at ``uri`` (a libpq URI). A read that fails
    midway raises from the batches: a result cut short never passes for a complete one."""
    import adbc_driver_postgresql.dbapi as adbc

    schema = _arrow_schema(columns, ints)
    with adbc.connect(uri) as bulk, bulk.cursor() as cur:
        cur.execute(statement)
        reader = cur.fetch_record_batch()

        def batches() -> Iterator[Any]:
            for batch in reader:
                yield _as_text(batch, kinds, schema)

        yield columns, batches()


def _as_text(batch: Any, kinds: list[str], schema: Any) -> Any:
    """A batch as the driver decoded it, turned into what the cursor path gives: int64 for
    "int", otherwise the text of Python's ``str()`` (a timestamp without its fraction when that
    is zero, as ``datetime`` prints it)."""
    import pyarrow as pa

    arrays = []
    for column, kind in zip(batch.columns, kinds, strict=True):
        if kind == "int":
            column = column.cast(pa.int64())
        elif kind == "timestamp":
            column = _timestamp_text(column)
        elif column.type != pa.string():
            column = column.cast(pa.string())
        arrays.append(column)
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _timestamp_text(column: Any) -> Any:
    """Timestamps as the text ``datetime`` prints: without the fraction when it is zero. When no
    value has a fraction (the usual case: whole seconds) the column is cast to seconds and
    printed, a tenth of the time of stripping ``.000000`` from each value's text with a regex
    (2.2M ledger entries: 0.05 s against 0.5 s); otherwise value by value."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_timestamp(column.type) and column.type.tz is None:
        try:
            return column.cast(pa.timestamp("s")).cast(pa.string())
        except pa.ArrowInvalid:  # a value with a fraction: the safe cast refuses to drop it
            pass
    return pc.replace_substring_regex(column.cast(pa.string()), r"\.000000$", "")


def parquet_schema(columns: list[str]) -> Any:
    return _arrow_schema(columns, _INT_COLUMNS)


Params = dict[str, Any] | list[dict[str, Any]]


@contextmanager
def _arrow_rows_of(
    name: str, params: Params, ints: Collection[str] = ()
) -> Iterator[tuple[list[str], Iterator[Any]]]:
    """:func:`_arrow_rows` of the named query run once per parameter set of ``params`` (a list)
    or once (a dict): the batches of each run after the other's, one column list. Each run is
    read when the one before is done; a list of none runs nothing and gives the columns only."""
    pieces = [params] if isinstance(params, dict) else list(params)
    with _arrow_rows(name, pieces[0] if pieces else _NO_ROWS, ints) as (columns, first):

        def batches() -> Iterator[Any]:
            if not pieces:
                return
            yield from first
            for more_params in pieces[1:]:
                with _arrow_rows(name, more_params, ints) as (more_columns, more):
                    if more_columns != columns:
                        raise RuntimeError(f"{name}: columns {more_columns} after {columns}")
                    yield from more

        yield columns, batches()


# Parameters that select no row of the per-file package queries (file id and business-number
# range), to read their columns when a package has no file with records.
_NO_ROWS = {"file_id": -1, "lo": "", "hi": ""}


def query_to_parquet(name: str, params: Params, target: Path) -> int:
    """Write the query's rows to a Parquet file in row groups of BATCH_ROWS (int64 or string
    columns, zstd, deterministic); returns the rows written. Each row group is handed to the
    writer in pieces of FETCH_ROWS rows whatever the batches read, so the bytes depend only on
    the rows (the same on PostgreSQL and SQLite). Memory holds one row group's Arrow data and
    one batch, whatever the day's size."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = 0
    with _arrow_rows_of(name, params, _INT_COLUMNS) as (columns, batches):
        schema = parquet_schema(columns)

        def write(writer: Any, table: Any) -> None:
            table = table.combine_chunks()
            pieces = [table.slice(i, FETCH_ROWS) for i in range(0, table.num_rows, FETCH_ROWS)]
            writer.write_table(pa.concat_tables(pieces), row_group_size=BATCH_ROWS)

        with pq.ParquetWriter(target, schema, compression="zstd") as writer:
            pending: list[Any] = []
            pending_rows = 0
            for batch in batches:
                pending.append(batch)
                pending_rows += batch.num_rows
                rows += batch.num_rows
                if pending_rows >= BATCH_ROWS:
                    table = pa.Table.from_batches(pending, schema=schema)
                    full = pending_rows - pending_rows % BATCH_ROWS
                    write(writer, table.slice(0, full))
                    pending = table.slice(full).to_batches()
                    pending_rows -= full
                    del table
            if pending_rows:
                write(writer, pa.Table.from_batches(pending, schema=schema))
    return rows


def _csv_lines(batch: Any) -> bytes:
    """The batch's rows as CSV lines, byte for byte what :func:`rows_to_csv` writes for the same
    values (csv.writer, minimal quoting, LF; :func:`csvsafe.cell` on every cell), with Arrow's
    kernels on whole columns."""
    return arrowcsv.lines([csvsafe.arrow_cells(column) for column in batch.columns])


def query_to_csv(name: str, params: Params, target: Path) -> int:
    """Write the query's rows as CSV (the same bytes as :func:`rows_to_csv`); returns the rows.
    Rows are turned into CSV text a whole Arrow batch at a time (see :func:`_csv_lines`).
    ``params`` a list: the query once per parameter set, the rows one after the other."""
    rows = 0
    with open(target, "wb") as fh, _arrow_rows_of(name, params) as (columns, batches):
        header = io.StringIO()
        csv.writer(header, lineterminator="\n").writerow(columns)
        fh.write(header.getvalue().encode("utf-8"))
        for batch in _grouped(batches, BATCH_ROWS):
            fh.write(_csv_lines(batch))
            rows += batch.num_rows
    return rows


def _grouped(batches: Iterable[Any], min_rows: int) -> Iterator[Any]:
    """The batches merged into batches of at least ``min_rows`` rows (the last one may hold
    fewer): Arrow's kernels then run on long columns instead of many short ones."""
    import pyarrow as pa

    pending: list[Any] = []
    pending_rows = 0
    for batch in batches:
        pending.append(batch)
        pending_rows += batch.num_rows
        if pending_rows >= min_rows:
            yield pa.Table.from_batches(pending).combine_chunks().to_batches()[0]
            pending, pending_rows = [], 0
    if pending_rows:
        yield pa.Table.from_batches(pending).combine_chunks().to_batches()[0]


def _copy_object(store: Store, key: str) -> Producer:
    """A copy of a stored object, hashed while it is copied (one read of the bytes, not two)."""

    def produce(target: Path) -> tuple[str, int]:
        h = hashlib.sha256()
        size = 0
        with open(target, "wb") as fh:
            for chunk in store.iter_chunks(key, CHUNK_BYTES):
                h.update(chunk)
                size += len(chunk)
                fh.write(chunk)
        return h.hexdigest(), size

    return produce


def _bytes(data: bytes) -> Producer:
    def produce(target: Path) -> tuple[str, int]:
        target.write_bytes(data)
        return hashlib.sha256(data).hexdigest(), len(data)

    return produce


def _query_member(writer: Callable[[str, Params, Path], int], name: str, params: Params):
    def produce(target: Path) -> None:
        writer(name, params, target)

    produce.from_database = True  # type: ignore[attr-defined]
    return produce


# Members read from the database are produced this many at a time, each on a connection of its
# own: their time is the database server's (one core each), not this process's.
DATABASE_PRODUCERS = 2
# Other members (copies of stored objects) are produced at most this many ahead of the one being
# sealed and written: temporary files stay a few members, whatever the day's size.
LOOKAHEAD = 2


def _produced(
    sources: dict[str, Producer], folder: Path, made: dict[str, Any] | None = None
) -> Iterator[tuple[str, Path]]:
    """Each member's path and a local file holding its plaintext, in path order, produced ahead
    of the caller: the members read from the database all at once from the start
    (:data:`DATABASE_PRODUCERS` at a time), the others one at a time at most :data:`LOOKAHEAD`
    ahead. The caller seals and stores one member while the next ones are produced. Each file is
    deleted once the caller has moved on; an error of a producer is raised when its member's
    turn comes (the members after it are not produced further). ``made``, when given, receives
    each producer's return value (a digest computed on the way) before its member is handed over."""
    order = sorted(sources)
    position = {path: i for i, path in enumerate(order)}
    targets = {path: folder / f"member-{i}" for i, path in enumerate(order)}
    from_db = [path for path in order if getattr(sources[path], "from_database", False)]
    others = [path for path in order if not getattr(sources[path], "from_database", False)]
    with (
        ThreadPoolExecutor(max_workers=DATABASE_PRODUCERS, thread_name_prefix="archive-db") as db_pool,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="archive-copy") as copy_pool,
    ):
        futures = {path: db_pool.submit(sources[path], targets[path]) for path in from_db}
        submitted = 0
        try:
            for i, path in enumerate(order):
                while submitted < len(others) and position[others[submitted]] <= i + LOOKAHEAD:
                    nxt = others[submitted]
                    futures[nxt] = copy_pool.submit(sources[nxt], targets[nxt])
                    submitted += 1
                result = futures.pop(path).result()
                if made is not None:
                    made[path] = result
                yield path, targets[path]
                targets[path].unlink(missing_ok=True)
        finally:
            for future in futures.values():
                future.cancel()


def package_files(client_id: str, business_date: str) -> list[dict[str, Any]]:
    """The package's files that own records, in the order of their business numbers, each as the
    parameters of the per-file member queries: ``file_id``, and ``lo``/``hi`` bounding its
    business numbers (``<CLIENT>-<TYPE>-<YYYYMMDD>-<SEQ>-`` up to, not including, the same
    with a final ``.``). records.parquet and ledger.csv are read file after file in this order,
    each file by an index range in key order: the package is never sorted as a whole."""
    with db.begin() as conn:
        rows = db.run(
            conn, "select_record_files_of_package", {"client_id": client_id, "business_date": business_date}
        ).all()
    owned = []
    for f in rows:
        prefix = business_types.business_no_prefix(f.client_id, f.file_type, f.business_date, f.seq)
        owned.append({"file_id": int(f.file_id), "lo": prefix, "hi": prefix[:-1] + "."})
    return sorted(owned, key=lambda piece: piece["lo"])


def member_sources(client_id: str, business_date: str) -> tuple[dict[str, Producer], list[Any]]:
    """Every member of the client's package for the day, by path, as a producer that writes its
    plaintext to a file when called (nothing is read yet), and the day's files."""
    s = settings()
    raw, landing, outputs = open_store(s.raw), open_store(s.landing), open_store(s.outputs)
    params = {"client_id": client_id, "business_date": business_date}
    with db.begin() as conn:
        files = db.run(
            conn, "select_files_of_intake_day", {"folder": client_id, "business_date": business_date}
        ).all()
        profiles = {
            v: db.run(
                conn, "select_profile_version", {"client_id": client_id, "version": v}
            ).scalar_one_or_none()
            for v in sorted({f.profile_version for f in files if f.profile_version})
        }
    members: dict[str, Producer] = {}
    for f in files:
        members[f"originals/{f.name}"] = _copy_object(raw, f.raw_key)
        if f.control_raw_key:
            members[f"originals/{f.control_raw_key.rsplit('/', 1)[-1]}"] = _copy_object(
                raw, f.control_raw_key
            )
        for suffix in RETURN_SUFFIXES:
            key = f"{f.folder}/outbox/{f.stem}{suffix}"
            if landing.exists(key):
                members[f"returns/{f.stem}{suffix}"] = _copy_object(landing, key)
        docs = f"{business_date}/data_docs/{f.stem}/"
        for key in outputs.list(docs):
            members[f"data_docs/{f.stem}/{key[len(docs) :]}"] = _copy_object(outputs, key)
    owned = package_files(client_id, business_date)
    members[RECORDS_MEMBER] = _query_member(query_to_parquet, "select_records_of_file", owned)
    members["approvals.csv"] = _query_member(query_to_csv, "select_approvals_of_package", params)
    members["ledger.csv"] = _query_member(query_to_csv, "select_ledger_entries_of_numbers", owned)
    for name, sql in AML_PACKAGE_QUERIES.items():
        members[name] = _query_member(query_to_csv, sql, params)
    lvr = f"aml/{client_id}/{business_date}/"
    for key in outputs.list(lvr):
        members[f"aml/{key[len(lvr) :]}"] = _copy_object(outputs, key)
    for version, content in profiles.items():
        if content is not None:
            members[f"profiles/{version}.yaml"] = _bytes(content.encode("utf-8"))
    return members, files


def file_digest(path: Path) -> tuple[str, int]:
    """sha256 and size of a local file, read in chunks."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK_BYTES):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def _file_chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK_BYTES):
            yield chunk


def seal_file(key: crypto.ArchiveKey, source: Path, target: Path, name: str) -> tuple[str, int]:
    """Seal a local file segment by segment into another local file; returns the sha256 and size
    of the plaintext, hashed on the same single read."""
    h = hashlib.sha256()
    size = 0

    def chunks() -> Iterator[bytes]:
        nonlocal size
        for chunk in _file_chunks(source):
            h.update(chunk)
            size += len(chunk)
            yield chunk

    with open(target, "wb") as out:
        for piece in key.seal_stream(chunks(), name):
            out.write(piece)
    return h.hexdigest(), size


def _file_types(files: list[Any]) -> set[str]:
    types = set()
    for f in files:
        parts = f.name.split("_")
        if len(parts) >= 3 and parts[1] in ("PAY", "LOAN"):
            types.add(parts[1])
    return types


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    return (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def sha256sums(members: list[dict[str, Any]]) -> bytes:
    return "".join(f"{m['sha256']}  {m['path']}\n" for m in members).encode("utf-8")


# --------------------------------------------------------------------------- build


def list_clients(business_date: str) -> list[str]:
    db.migrate()
    with db.begin() as conn:
        return [
            r.folder for r in db.run(conn, "select_folders_of_intake_day", {"business_date": business_date})
        ]


def _key_or_none(client_id: str, business_date: str) -> crypto.ArchiveKey | None:
    key = crypto.archive_key()
    if key is None:
        if _require_key():
            raise crypto.ArchiveKeyError(
                f"no archive key: define the Airflow connection {crypto.CONN_ID} (DAYBOOK_ARCHIVE_REQUIRE_KEY=1)"
            )
        with db.begin() as conn:
            events.alert(
                conn,
                "ARCHIVE_UNENCRYPTED",
                f"no archive key ({crypto.CONN_ID}): the package of {client_id} {business_date} is stored "
                "without client-side encryption",
                dedup_key=f"archive-unencrypted:{client_id}:{business_date}",
                client_id=client_id,
                business_date=business_date,
            )
    return key


def _profile_hold(client_id: str, business_date: str) -> str | None:
    """Why the client's day is not archived while its profile cannot be used, else None.

    The stages that need the profile hold such a client (docs/runbooks/profile_invalid.md); one
    of them, the large-value report, leaves no unfinished record behind, so a day whose files
    are final may still miss a member. The package waits for the fix and the stages' rerun
    (PROFILE_INVALID; the business date stays open). A client without a profile (offboarded) is
    archived from what the database and the zones kept, as before."""
    from daybook import profiles

    try:
        profiles.load(client_id)
        return None
    except profiles.UnknownClient:
        return None
    except profiles.InvalidProfile as broken:
        profiles.hold(
            client_id,
            broken,
            business_date,
            "its day is not archived (the business date stays open) until it is fixed and the "
            "stages it held have run again",
            stage="archive",
        )
        return f"{broken.path.name}: {broken.problem}"


def build_package(client_id: str, business_date: str) -> dict[str, Any]:
    """Write the client's package for the day, register it, read it back and verify it, and only
    then purge staging rows older than the window. Idempotent."""
    with db.begin() as conn:
        files = db.run(
            conn, "select_files_of_intake_day", {"folder": client_id, "business_date": business_date}
        ).all()
    unfinished = [f.name for f in files if f.status not in TERMINAL]
    if unfinished:
        log.warning("%s %s not archived yet: files not final: %s", client_id, business_date, unfinished)
        return {"client_id": client_id, "skipped": True, "unfinished": unfinished}
    held = _profile_hold(client_id, business_date)
    if held:
        return {"client_id": client_id, "skipped": True, "profile_invalid": held}
    # -- settlement's gate: no package while the day has an unexplained reconciliation break.
    from daybook import reconciliation

    breaks = reconciliation.unexplained_breaks(client_id, business_date)
    if breaks:
        log.warning(
            "%s %s not archived: unexplained reconciliation breaks %s", client_id, business_date, breaks
        )
        return {
            "client_id": client_id,
            "skipped": True,
            "breaks": [f"{b['kind']} {b['subject']}" for b in breaks],
        }
    # -- end of settlement's gate
    written = write_package(client_id, business_date)
    result = verify_package(client_id, business_date)
    if not result.ok:
        _alert_verification(result)
        raise ArchiveVerificationError(f"{client_id} {business_date}: {'; '.join(result.problems)}")
    purged = purge_staging(client_id, business_date)
    # The client's audit chain head, written outside the database (see daybook.audit_chain).
    anchor = audit_chain.write_anchor(client_id, business_date)
    return {**written, "verified": True, "purged_dates": purged, "audit_anchor": anchor}


def write_package(client_id: str, business_date: str) -> dict[str, Any]:
    """Produce, seal (with a key) and write the package one member at a time through temporary
    files, then register it in ``archives``."""
    sources, files = member_sources(client_id, business_date)
    key = _key_or_none(client_id, business_date)
    types = _file_types(files)
    retain = retain_until(business_date, types)
    store, prefix = archive_store(), package_prefix(client_id, business_date)
    expected = {path + SEALED_SUFFIX if key else path for path in sources} | set(INDEX_FILES)
    for stale in store.list(prefix + "/"):  # a member no longer in the day, or stored the other way
        if stale[len(prefix) + 1 :] not in expected:
            store.delete(stale)
    listing: list[dict[str, Any]] = []
    made: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="daybook-archive-") as tmp:
        sealed = Path(tmp) / "sealed"
        for path, plain in _produced(sources, Path(tmp), made):
            # At most one read of the plaintext: a copy was hashed while it was copied; otherwise
            # it is hashed here, and sealed on the way when there is a key.
            if key is not None:
                digest, size = seal_file(key, plain, sealed, path)
            else:
                digest, size = made.pop(path, None) or file_digest(plain)
            m = {
                "path": path,
                "sha256": digest,
                "size": size,
                "stored_as": path + SEALED_SUFFIX if key else path,
            }
            listing.append(m)
            stored_key = f"{prefix}/{m['stored_as']}"
            if key is None:
                _store_file(store, stored_key, plain, retain)
            elif not _unchanged_sealed(store, stored_key, m, key):
                _store_file(store, stored_key, sealed, retain)
            plain.unlink(missing_ok=True)
            sealed.unlink(missing_ok=True)
    manifest = {
        "format": PACKAGE_FORMAT,
        "client_id": client_id,
        "business_date": business_date,
        "profile_versions": sorted({f.profile_version for f in files if f.profile_version}),
        "record_class": record_class(types),
        "retain_until": retain,
        "encryption": (
            {
                "algorithm": "AES-256-GCM",
                "format": crypto.MAGIC.decode("ascii"),
                "segment_bytes": crypto.SEGMENT_BYTES,
                "key_id": key.key_id,
                "connection": crypto.CONN_ID,
            }
            if key
            else None
        ),
        "files": [
            {"name": f.name, "status": f.status, "reason_code": f.reason_code, "sha256": f.sha256}
            for f in files
        ],
        "members": listing,
    }
    body = manifest_bytes(manifest)
    put_object(store, f"{prefix}/SHA256SUMS", sha256sums(listing), retain)
    put_object(store, f"{prefix}/manifest.json", body, retain)
    manifest_sha = hashlib.sha256(body).hexdigest()
    with db.begin() as conn:
        db.run(
            conn,
            "upsert_archive_package",
            {
                "client_id": client_id,
                "business_date": business_date,
                "location": store.uri(prefix),
                "manifest_sha256": manifest_sha,
                "members": len(listing),
                "record_class": manifest["record_class"],
                "retain_until": retain,
                "encryption": key.key_id if key else "none",
            },
        )
        events.audit(
            conn, "archive", "package_written", prefix, manifest_sha256=manifest_sha, members=len(listing)
        )
    log.info("archived %s: %d members, manifest %s", prefix, len(listing), manifest_sha)
    return {
        "client_id": client_id,
        "location": store.uri(prefix),
        "members": len(listing),
        "manifest_sha256": manifest_sha,
        "retain_until": retain,
        "encrypted": key is not None,
    }


def _store_file(store: Store, key: str, path: Path, retain: str | None) -> None:
    """Store a temporary file of this run as the object ``key``: :func:`put_file`, except that a
    local store gets the file itself (synced, then renamed into place: atomic, as the store's
    own writes) instead of a second copy of its bytes read and written again. On another
    filesystem the bytes are copied in the kernel (``shutil.copyfile``: sendfile) to a temporary
    name beside the object, synced and renamed. Only files this run wrote are moved, never a
    zone's object (a hard link to a raw file would tie the archive to the raw zone's inode)."""
    if not isinstance(store, LocalStore):
        put_file(store, key, path, retain)
        return
    target = Path(store.uri(key))
    target.parent.mkdir(parents=True, exist_ok=True)
    _fsync(path)
    try:
        os.replace(path, target)
        return
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
    tmp = target.with_name(f".daybook-tmp-{os.getpid()}-{target.name}")
    try:
        shutil.copyfile(path, tmp)
        _fsync(tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unchanged_sealed(store: Store, stored_key: str, member: dict[str, Any], key: crypto.ArchiveKey) -> bool:
    """Whether the stored sealed member is in the current sealed format and opens to the same
    plaintext (read as a stream). A member sealed in an earlier format is sealed again, so a
    package written now is in one format throughout (the one its manifest names)."""
    if not store.exists(stored_key) or store.read_head(stored_key, len(crypto.MAGIC)) != crypto.MAGIC:
        return False
    h = hashlib.sha256()
    try:
        for piece in key.open_stream(store.iter_chunks(stored_key, CHUNK_BYTES), member["path"]):
            h.update(piece)
    except crypto.SealError:
        return False
    return h.hexdigest() == member["sha256"]


# --------------------------------------------------------------------------- read back and verify


@dataclass
class Verification:
    client_id: str
    business_date: str
    ok: bool = True
    problems: list[str] = field(default_factory=list)
    checked: int = 0
    manifest_sha256: str | None = None

    def fail(self, problem: str) -> None:
        self.ok = False
        self.problems.append(problem)


def read_manifest(client_id: str, business_date: str, store: Store | None = None) -> dict[str, Any]:
    store = store or archive_store()
    return json.loads(store.get(f"{package_prefix(client_id, business_date)}/manifest.json"))


def iter_member(
    manifest: dict[str, Any], path: str, store: Store | None = None, key: crypto.ArchiveKey | None = None
) -> Iterator[bytes]:
    """A member's plaintext as a stream of pieces (opened segment by segment when it is sealed).
    Raises :class:`crypto.SealError` when a sealed member does not open, possibly after some
    pieces: judge what was read only once the stream ends."""
    store = store or archive_store()
    entry = next(m for m in manifest["members"] if m["path"] == path)
    chunks = store.iter_chunks(
        f"{package_prefix(manifest['client_id'], manifest['business_date'])}/{entry['stored_as']}",
        CHUNK_BYTES,
    )
    if entry["stored_as"] == path:
        return chunks
    key = key or crypto.archive_key()
    if key is None:
        raise crypto.ArchiveKeyError(f"{path} is sealed and no archive key is configured")
    return key.open_stream(chunks, path)


def read_member(
    manifest: dict[str, Any], path: str, store: Store | None = None, key: crypto.ArchiveKey | None = None
) -> bytes:
    """A member's whole plaintext in memory (small members; see :func:`iter_member`)."""
    return b"".join(iter_member(manifest, path, store, key))


def copy_member(
    manifest: dict[str, Any],
    path: str,
    target: Path,
    store: Store | None = None,
    key: crypto.ArchiveKey | None = None,
) -> tuple[str, int]:
    """Write a member's plaintext to a local file in bounded memory; returns its sha256 and size.
    On a :class:`crypto.SealError` the partial file is removed."""
    h = hashlib.sha256()
    size = 0
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(target, "wb") as fh:
            for piece in iter_member(manifest, path, store, key):
                h.update(piece)
                size += len(piece)
                fh.write(piece)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return h.hexdigest(), size


# Members read back and hashed at once by verify_package: hashing and reading release the
# interpreter, so two readers verify a large package in about half the time on two cores (the
# database's producers are done by then, the second core idle). Results are judged in manifest
# order whatever order the reads end in.
VERIFY_READERS = 2


def verify_package(client_id: str, business_date: str, *, check_database: bool = True) -> Verification:
    """Read the package back: manifest hash against the database, every member's plaintext hash
    and size against the manifest, no unlisted object, and the Parquet row count (from the
    file's footer) against the ``records`` table. Every member is read as a stream, never whole
    in memory (:data:`VERIFY_READERS` at a time). Records the verification time when everything holds."""
    import pyarrow.parquet as pq

    result = Verification(client_id, business_date)
    store, prefix = archive_store(), package_prefix(client_id, business_date)
    with db.begin() as conn:
        row = db.run(conn, "select_archive", {"client_id": client_id, "business_date": business_date}).first()
        db_rows = db.run(
            conn, "count_records_of_package", {"client_id": client_id, "business_date": business_date}
        ).scalar_one()
    if row is None:
        result.fail("no archive registered for this client and date")
        return result
    try:
        body = store.get(f"{prefix}/manifest.json")
    except Exception as exc:  # noqa: BLE001 - missing or unreadable manifest
        result.fail(f"manifest.json unreadable: {exc}")
        return result
    result.manifest_sha256 = hashlib.sha256(body).hexdigest()
    if result.manifest_sha256 != row.manifest_sha256:
        result.fail("manifest.json sha256 differs from the one registered when the package was written")
    manifest = json.loads(body)
    key = crypto.archive_key() if manifest.get("encryption") else None
    if manifest.get("encryption") and (key is None or key.key_id != manifest["encryption"]["key_id"]):
        result.fail("package is sealed with a key that is not configured here")
        return result
    stored = {m["stored_as"] for m in manifest["members"]} | set(INDEX_FILES)
    for extra in store.list(prefix + "/"):
        if extra[len(prefix) + 1 :] not in stored:
            result.fail(f"{extra[len(prefix) + 1 :]}: object not listed in the manifest")
    if store.exists(f"{prefix}/SHA256SUMS") and store.get(f"{prefix}/SHA256SUMS") != sha256sums(
        manifest["members"]
    ):
        result.fail("SHA256SUMS does not match the manifest")
    with (
        tempfile.TemporaryDirectory(prefix="daybook-verify-") as tmp,
        ThreadPoolExecutor(max_workers=VERIFY_READERS, thread_name_prefix="archive-verify") as pool,
    ):

        def read_back(m: dict[str, Any]) -> tuple[str, int] | Exception:
            """The member's plaintext sha256 and size, or what stopped its reading."""
            try:
                if m["path"] == RECORDS_MEMBER and check_database:  # footer at the end: spool it
                    return copy_member(manifest, m["path"], Path(tmp) / "records.parquet", store, key)
                h, size = hashlib.sha256(), 0
                for piece in iter_member(manifest, m["path"], store, key):
                    h.update(piece)
                    size += len(piece)
                return h.hexdigest(), size
            except Exception as exc:  # noqa: BLE001 - judged below, in manifest order
                return exc

        for m, read in zip(manifest["members"], pool.map(read_back, manifest["members"]), strict=True):
            parquet = m["path"] == RECORDS_MEMBER and check_database
            if isinstance(read, crypto.SealError):
                result.fail(str(read))
                continue
            if isinstance(read, Exception):  # a deleted member
                result.fail(f"{m['path']}: missing")
                continue
            digest, size = read
            result.checked += 1
            if digest != m["sha256"] or size != m["size"]:
                result.fail(f"{m['path']}: sha256 differs from the manifest")
            elif parquet:
                n = pq.ParquetFile(Path(tmp) / "records.parquet").metadata.num_rows
                if n != db_rows:
                    result.fail(f"{RECORDS_MEMBER}: {n} rows, the database holds {db_rows}")
    if result.ok:
        with db.begin() as conn:
            db.run(conn, "update_archive_verified", {"client_id": client_id, "business_date": business_date})
    return result


def export_package(client_id: str, business_date: str, target: Path) -> int:
    """Write the package's plaintext members plus manifest.json and SHA256SUMS to a local folder,
    so an auditor can run ``sha256sum -c SHA256SUMS`` there (streamed, member by member).
    Returns the members written."""
    store = archive_store()
    prefix = package_prefix(client_id, business_date)
    manifest = read_manifest(client_id, business_date, store)
    key = crypto.archive_key() if manifest.get("encryption") else None
    for m in manifest["members"]:
        copy_member(manifest, m["path"], target / m["path"], store, key)
    for name in INDEX_FILES:
        (target / name).write_bytes(store.get(f"{prefix}/{name}"))
    return len(manifest["members"])


def _alert_verification(result: Verification) -> None:
    with db.begin() as conn:
        events.alert(
            conn,
            "ARCHIVE_VERIFY_FAILED",
            f"archive package {result.client_id} {result.business_date} failed verification, nothing "
            f"purged: {'; '.join(result.problems[:5])}",
            dedup_key=f"archive-verify:{result.client_id}:{result.business_date}:{result.manifest_sha256}",
            severity="critical",
            client_id=result.client_id,
            business_date=result.business_date,
        )
        events.audit(
            conn,
            "archive",
            "verification_failed",
            package_prefix(result.client_id, result.business_date),
            problems=result.problems,
        )


# --------------------------------------------------------------------------- purge


def purge_staging(client_id: str, as_of: str) -> list[str]:
    """Clear the ``payload`` (the row as the client sent it) of the client's records whose day is
    at least the purge window before ``as_of`` (a business date, never the wall clock).

    Conservative: rows stay (business numbers, states, amounts, the refs that keep
    R_DUPLICATE_REF working for ever, the ledger's foreign keys); only the payload is replaced by
    ``{}``. Every candidate package is verified first; if any fails, an alert is raised and
    nothing is purged. Returns the business dates purged.
    """
    cutoff = (date.fromisoformat(as_of) - timedelta(days=purge_after_days())).isoformat()
    with db.begin() as conn:
        days = [
            r.business_date
            for r in db.run(conn, "select_archives_to_purge", {"client_id": client_id, "cutoff_date": cutoff})
        ]
    results = [verify_package(client_id, d) for d in days]
    failed = [r for r in results if not r.ok]
    for r in failed:
        _alert_verification(r)
    if failed:
        return []
    with db.begin() as conn:
        for d in days:
            params = {"client_id": client_id, "business_date": d}
            n = db.run(conn, "update_records_payload_purged", params).rowcount
            db.run(conn, "update_archive_purged", params)
            events.audit(conn, "archive", "staging_purged", package_prefix(client_id, d), records=n)
    return days


def close_day(business_date: str) -> bool:
    """Close the business date once every file received for it is final and archived.

    Files for a closed date arriving later are refused with F_DATE. Returns whether it closed.
    """
    with db.begin() as conn:
        open_files = db.run(conn, "count_unarchived_files", {"business_date": business_date}).scalar_one()
        if open_files:
            events.alert(
                conn,
                "DAY_NOT_CLOSED",
                f"{open_files} files of {business_date} are not final or "
                "not archived; the business date stays open",
                dedup_key=f"day-open:{business_date}",
                business_date=business_date,
            )
            return False
        db.run(conn, "upsert_business_day_closed", {"business_date": business_date})
    return True
