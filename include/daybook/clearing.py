"""Outbound clearing file (清算文件): the day's settled payments of a client, for the clearing system.

One data file and one control file per client and business date, in the outputs zone, in the
platform's own inbound contract style (docs/settlement.md, "Clearing file"):

    clearing/<CLIENT>/<CLIENT>_CLR_<YYYYMMDD>_001.csv
    clearing/<CLIENT>/<CLIENT>_CLR_<YYYYMMDD>_001.ctl   <data file name>|<count>|<total>|<sha256>

UTF-8, LF line ends, rows ordered by business number, no wall-clock time: a rerun writes the same
bytes. The file is written only once every accepted payment of the client and day is final
(no open AML hold), so it never changes after it is first written. The rows stream from the
database into the file a bounded number at a time, counted, summed and hashed on the way.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import queue
import threading
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager, nullcontext, suppress
from typing import Any

from sqlalchemy import text

from daybook import arrowcsv, db
from daybook.config import settings
from daybook.settlement import format_cents
from daybook.storage import open_store

log = logging.getLogger(__name__)
HEADER = [
    "business_no",
    "client_ref",
    "value_date",
    "payer_account",
    "payer_name",
    "payee_account_type",
    "payee_account",
    "payee_name",
    "payee_bank_code",
    "amount",
    "currency",
]


def names(client_id: str, business_date: str) -> tuple[str, str]:
    """Storage keys of the data and control file (outputs zone)."""
    stem = f"clearing/{client_id}/{client_id}_CLR_{business_date.replace('-', '')}_001"
    return f"{stem}.csv", f"{stem}.ctl"


FETCH_ROWS = 20_000


def text_array(values: Iterable[Any]) -> Any:
    """A column of text (or None) as an Arrow string array, built in C; other values as their
    ``str()`` (what csv.writer writes), value by value."""
    import pyarrow as pa

    values = list(values)
    try:
        return pa.array(values, type=pa.string())
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        return pa.array([v if v is None or v.__class__ is str else str(v) for v in values], type=pa.string())


def cents_array(cents: Any, text: Callable[[int], str] = format_cents) -> Any:
    """Amounts in cents (an int64 numpy array) as ``text`` writes them (``whole.frac`` for a
    non-negative amount, as :func:`daybook.settlement.format_cents` does), as an Arrow string
    array: numpy and Arrow kernels, or ``text`` value by value when one is negative."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    values = np.asarray(cents, dtype=np.int64)
    if len(values) and values.min() < 0:
        return pa.array([text(c) for c in values.tolist()], type=pa.string())
    whole, frac = np.divmod(values, 100)
    return pc.binary_join_element_wise(
        pa.array(whole).cast(pa.string()), pc.utf8_lpad(pa.array(frac).cast(pa.string()), 2, "0"), "."
    )


@contextmanager
def arrow_rows(
    conn: Any, name: str, params: dict[str, Any], ints: Collection[str] = ()
) -> Iterator[tuple[list[str], Iterator[Any]]]:
    """The named query's column names and its rows as Arrow record batches (int64 for the
    columns in ``ints``, text otherwise, null for NULL), read on ``conn`` (its transaction).

    On PostgreSQL with the ADBC driver (the archive's reader, ``daybook.archive._copy_source``:
    one binary COPY decoded into Arrow columns in C++ on a connection of its own, no Python
    object per row or value; ``conn`` binds the parameters and describes the columns, and the
    rows are what is committed when the read starts, as for a statement of ``conn`` under read
    committed); elsewhere from a streamed cursor, FETCH_ROWS rows at a time, turned into
    columns in C."""
    if conn.dialect.name == "postgresql":
        from daybook import archive

        copy = archive._copy_source(conn, name, params, ints)
        if copy is not None:
            with copy as source:
                yield source
            return
    result = conn.execute(
        text(db.sql(name)), params, execution_options={"stream_results": True, "yield_per": FETCH_ROWS}
    )
    columns = list(result.keys())

    def batches() -> Iterator[Any]:
        import pyarrow as pa

        while rows := result.fetchmany(FETCH_ROWS):
            values = list(zip(*rows, strict=True))
            del rows
            yield pa.RecordBatch.from_arrays(
                [
                    pa.array(v, type=pa.int64()) if c in ints else text_array(v)
                    for c, v in zip(columns, values, strict=True)
                ],
                names=columns,
            )

    yield columns, batches()


def int_values(column: Any) -> Any:
    """An Arrow int64 column as a numpy array; a NULL raises (as ``int(None)`` would)."""
    if column.null_count:
        raise TypeError(f"NULL in an integer column: {column.null_count} values")
    return column.to_numpy(zero_copy_only=False)


# The clearing file's columns read from the payload: those between client_ref and amount, and
# the payload's currency (for a record without its own).
PAYLOAD_FIELDS = [*HEADER[HEADER.index("value_date") : HEADER.index("amount")], "currency"]


def json_fields(payloads: Any, fields: list[str]) -> dict[str, Any]:
    """The ``fields`` of a column of JSON objects (the records' payloads: one object of texts per
    row, never NULL) as Arrow arrays of texts by field, row for row; null where an object lacks
    a field.

    Parsed by Arrow's JSON reader (C++, on all cores) from the column's own bytes, each object on
    a line of its own, instead of by the database server row by row (``json_to_record``), which
    took 6 of the clearing query's 10 s at 1M payments while the server's other core idled."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.json as pj

    if payloads.null_count:
        raise ValueError(f"{payloads.null_count} payloads are NULL")
    if not len(payloads):
        return {f: pa.array([], type=pa.string()) for f in fields}
    lines = pc.binary_join_element_wise(payloads, "\n", "")  # every object followed by a line end
    lines = lines.combine_chunks() if isinstance(lines, pa.ChunkedArray) else lines
    offsets = lines.buffers()[1]
    start, end = (
        int.from_bytes(offsets[i * 4 : i * 4 + 4], "little", signed=True)
        for i in (lines.offset, lines.offset + len(lines))
    )
    table = pj.read_json(
        pa.BufferReader(lines.buffers()[2][start:end]),
        read_options=pj.ReadOptions(block_size=4 << 20),
        parse_options=pj.ParseOptions(
            explicit_schema=pa.schema([(f, pa.string()) for f in fields]),
            unexpected_field_behavior="ignore",
            newlines_in_values=False,
        ),
    )
    if table.num_rows != len(payloads):
        raise ValueError(f"{len(payloads)} payloads parsed into {table.num_rows} objects")
    return {f: table.column(f).combine_chunks() for f in fields}


class _Rendered:
    """The data file's bytes as a stream of pieces (one per fetched batch), with its row count,
    total in cents and sha256 taken on the way (known once the stream is consumed)."""

    def __init__(self, batches: Iterator[Any]) -> None:
        self.batches = batches
        self.count = 0
        self.total_cents = 0
        self.sha256 = hashlib.sha256()

    def __iter__(self) -> Iterator[bytes]:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow(HEADER)
        yield self._digest(buf.getvalue().encode("utf-8"))
        import pyarrow.compute as pc

        for batch in self.batches:
            if not batch.num_rows:
                continue
            cents = int_values(batch.column("amount_cents"))
            self.count += batch.num_rows
            self.total_cents += sum(cents.tolist())
            parsed = json_fields(batch.column("payload"), PAYLOAD_FIELDS)
            currency = batch.column("currency")
            currency = pc.if_else(pc.fill_null(pc.equal(currency, ""), True), parsed["currency"], currency)
            cells = [
                batch.column("business_no"),
                batch.column("client_ref"),
                *(parsed[f] for f in PAYLOAD_FIELDS[:-1]),
                cents_array(cents),
                currency,
            ]
            yield self._digest(arrowcsv.lines(cells))

    def _digest(self, data: bytes) -> bytes:
        self.sha256.update(data)
        return data


# Batches waiting between two stages of a report (read, parse) at most: a stage runs on ahead of
# the next by this many batches, no further.
AHEAD = 2


@contextmanager
def ahead(items: Iterable[Any], name: str, depth: int = AHEAD) -> Iterator[Iterator[Any]]:
    """``items`` taken on a thread of their own (``name``), at most ``depth`` ahead of the
    consumer; an error of the producer is raised to the consumer where its item would have been.

    Why: a report's stages (the database's rows read and decoded by the driver, the payloads
    parsed, the CSV written: the large-value report, the clearing file) are Arrow and driver code that releases the interpreter, and each
    used to wait for the others: the server's COPY stalled on a full socket while the worker
    parsed and wrote, then the worker waited for the server. On their own threads they overlap.
    Memory: ``depth`` batches per stage, whatever the day's size. The thread
    is stopped and joined on leaving the block, before whatever ``items`` reads from (the
    driver's connection) is closed."""
    pending: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(kind: str, value: Any) -> bool:
        while not stop.is_set():
            try:
                pending.put((kind, value), timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put("item", item):
                    return
            put("end", None)
        except BaseException as exc:  # handed to the consumer, raised there
            put("error", exc)
        finally:
            # A generator left early is closed here, on its own thread: what it opened (a
            # driver connection in a ``with``) is closed before the block ends.
            close = getattr(items, "close", None)
            if close is not None:
                close()

    def consume() -> Iterator[Any]:
        while True:
            kind, value = pending.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        yield consume()
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting to put, until it sees the stop
            with suppress(queue.Empty):
                pending.get(timeout=0.1)
        thread.join()


def control_line(data_name: str, sha256_hex: str, count: int, total_cents: int) -> bytes:
    return f"{data_name}|{count}|{format_cents(total_cents)}|{sha256_hex}\n".encode()


def _files_in_number_order(conn: Any, key: dict[str, str]) -> list[int]:
    """The ids of the client's payment files of the day with records, in the order of their
    business numbers (``<CLIENT>-PAY-<YYYYMMDD>-<SEQ>-``)."""
    from daybook import business_types

    rows = db.run(conn, "select_pay_files_of_client_day", key).all()
    prefix = {
        int(f.file_id): business_types.business_no_prefix(f.client_id, f.file_type, f.business_date, f.seq)
        for f in rows
    }
    return sorted(prefix, key=prefix.__getitem__)


def _file_rows(conn: Any, files: list[int]) -> Iterator[Any]:
    """The clearing rows of each file after the other's (each in line order): the day's settled
    payments in business number order, read file by file, never sorted as a whole."""
    for file_id in files:
        with arrow_rows(conn, "select_clearing_rows_of_file", {"file_id": file_id}, ("amount_cents",)) as (
            _columns,
            batches,
        ):
            yield from batches


def write(business_date: str) -> list[str]:
    """Write each client's clearing file and control file for the day (when its payments are final)."""
    db.migrate()
    out = open_store(settings().outputs)
    written = []
    with db.begin() as conn:
        clients = [
            r.client_id
            for r in db.run(
                conn, "select_clients_of_day", {"business_date": business_date, "file_type": "PAY"}
            )
        ]
    for client_id in clients:
        key = {"client_id": client_id, "business_date": business_date}
        data_key, ctl_key = names(client_id, business_date)
        with db.begin() as conn:
            if db.run(conn, "count_open_pay_of_client_day", key).scalar_one():
                log.info("clearing file of %s %s waits: payments not final", client_id, business_date)
                continue
            files = _files_in_number_order(conn, key)
            reader = _file_rows(conn, files)
            # PostgreSQL: the ADBC driver decodes the next batch on a thread of its own while
            # this one parses and writes (a cursor's fetch on SQLite builds Python rows: no gain).
            with (
                ahead(reader, "clearing-read")
                if conn.dialect.name == "postgresql"
                else nullcontext(reader) as rows
            ):
                data = _Rendered(rows)
                out.put_stream(data_key, data)
        ctl = control_line(data_key.rsplit("/", 1)[-1], data.sha256.hexdigest(), data.count, data.total_cents)
        out.put(ctl_key, ctl)
        written.append(data_key)
    return written
