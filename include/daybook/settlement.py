"""Settlement (处理与执行): balanced double-entry postings, prefunding, result files.

PAY: approved payments settle in a deterministic order (value date, file, line) while the
client's prefunded balance for the day lasts: debit ``<client>:PREFUND``, credit
``<client>:CLEARING``; the rest are RETURNED with H_FUNDS and an alert. LOAN: approved
applications are disbursed: debit ``<client>:LOANS``, credit ``<client>:DISBURSEMENT``.
The idempotency key is the business number: (business_no, leg) is unique, so a rerun or a
retried task never posts twice. When every accepted row of a file is final, ``<stem>.ret.csv``
is written from the database, byte for byte the same on every rerun.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import os
import time
from collections.abc import Iterator
from typing import Any

from sqlalchemy import text

from daybook import business_types, db, events, profiles
from daybook.config import settings
from daybook.storage import open_store

log = logging.getLogger(__name__)
FINAL_STATES = ("SETTLED", "RETURNED", "DISBURSED", "DECLINED")
RET_HEADER = ["client_ref", "business_no", "status", "reason_code", "amount", "final_date"]


def format_cents(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}{whole}.{frac:02d}"


class SettlementError(RuntimeError):
    """A chunk would commit postings that do not match the records it settles (rolled back)."""


def chunk_rows() -> int:
    """Plan rows applied per transaction (``DAYBOOK_SETTLEMENT_CHUNK``, default 1,000,000)."""
    return int(os.environ.get("DAYBOOK_SETTLEMENT_CHUNK", "").strip() or 1_000_000)


def _crash_hook(chunks_committed: int) -> None:
    """Test hook: ``DAYBOOK_CRASH_AFTER_CHUNK=<n>`` kills the process (``os._exit``, no cleanup,
    like kill -9) right after the n-th committed chunk (0: right after the plan is committed).
    Used by the kill-and-retry tests only."""
    at = os.environ.get("DAYBOOK_CRASH_AFTER_CHUNK", "").strip()
    if at and int(at) == chunks_committed:
        log.error("DAYBOOK_CRASH_AFTER_CHUNK=%s: exiting the process now (test hook)", at)
        os._exit(137)


def _tune(conn: Any) -> None:
    """PostgreSQL: sorts and hashes of a whole day in memory (this transaction only)."""
    if conn.dialect.name == "postgresql":
        db.run(conn, "set_settlement_work_mem_postgresql")


def _plan(conn: Any, client_id: str, business_date: str, limit_cents: int) -> tuple[int, int] | None:
    """The ``ord`` range of the client's plan still to apply: a committed plan with rows left to
    apply (a retried run resumes it), else a new plan of the day's approved payments.

    One set-based statement plans: a window function orders the approved payments by value date
    (read from the payload in SQL), file and line, and the running total against the prefunded
    balance left decides SETTLE or FUNDS. Running totals only grow, so every payment after the
    first that does not fit is FUNDS as well (no skipping ahead to smaller ones).
    """
    key = {"client_id": client_id, "business_date": business_date}
    if conn.dialect.name == "postgresql":
        # One planner of a client's day at a time (held to commit): a second one waits, then finds
        # the committed plan pending and resumes it. (SQLite has one writer at a time, and its
        # plan table keeps the primary key on (client_id, business_date, ord).)
        db.run(conn, "lock_settlement_plan_postgresql", key)
    pending = db.run(conn, "select_plan_pending", key).one()
    if pending.lo is not None:
        return int(pending.lo), int(pending.hi)  # a retried run resumes the plan it committed
    used = db.run(conn, "select_prefund_used", {**key, "account": f"{client_id}:PREFUND"}).scalar_one()
    base = int(db.run(conn, "select_plan_max_ord", key).scalar_one())
    planned = db.run(
        conn,
        f"insert_settlement_plan_{conn.dialect.name}",
        {**key, "base_ord": base, "used_cents": int(used or 0), "limit_cents": limit_cents},
    ).rowcount
    if planned and conn.dialect.name == "postgresql":
        # Fresh statistics for applying, and the plan's new block ranges summarized in its BRIN
        # index (until then a query of any day's plan reads them in full).
        db.run(conn, "analyze_settlement_plan_postgresql")
        db.run(conn, "summarize_settlement_plan_postgresql")
    return (base + 1, base + planned) if planned else None


def _apply(conn: Any, bounds: dict[str, Any]) -> tuple[int, int]:
    """Apply plan rows ``lo..hi``: post both legs of each SETTLE row and move the records
    APPROVED -> SETTLED or RETURNED/H_FUNDS. Returns (settled, returned).

    PostgreSQL: one statement; the postings are made from the rows the UPDATE of records
    returns, so a posting exists exactly for each record this statement settled. It goes to each
    record at the row the plan read it from; plan rows left over (a record updated or moved
    since) are applied by a second statement that joins on the business number. SQLite (no
    data-modifying CTE): the postings of the plan rows whose records are APPROVED, then the two
    updates, in the same transaction. Either way the postings must be two per settled record,
    or the chunk is rolled back.
    """
    if conn.dialect.name == "postgresql":
        settled = returned = postings = 0
        # First at the rows the plan read its records from; then, only if some plan row was not
        # applied that way (its record changed or moved since, or the plan predates V012), by
        # business number: that statement moves only records still APPROVED.
        for name in ("apply_settlement_chunk_postgresql", "apply_settlement_chunk_by_number_postgresql"):
            row = db.run(conn, name, bounds).one()
            settled += int(row.settled)
            returned += int(row.returned)
            postings += int(row.postings)
            if settled + returned == bounds["hi"] - bounds["lo"] + 1:
                break
    else:
        postings = db.run(conn, "insert_ledger_from_plan_sqlite", bounds).rowcount
        settled = db.run(
            conn,
            "update_records_from_plan_sqlite",
            {**bounds, "state": "SETTLED", "final_code": None, "outcome": "SETTLE"},
        ).rowcount
        returned = db.run(
            conn,
            "update_records_from_plan_sqlite",
            {**bounds, "state": "RETURNED", "final_code": "H_FUNDS", "outcome": "FUNDS"},
        ).rowcount
    if postings != 2 * settled:
        raise SettlementError(
            f"plan rows {bounds['lo']}..{bounds['hi']} of {bounds['client_id']} {bounds['business_date']}: "
            f"{postings} postings for {settled} settled payments"
        )
    return settled, returned


def post_ledger(business_date: str) -> dict[str, int]:
    """Settle or disburse the day's approved records, exactly once.

    Per client: plan (one transaction), then apply the plan in chunks of :func:`chunk_rows`
    plan rows, each chunk one transaction that inserts both legs of its settled payments and
    moves its records to SETTLED or RETURNED/H_FUNDS (:func:`_apply`); then approved loans
    are disbursed.
    """
    db.migrate()
    counts = {"SETTLED": 0, "DISBURSED": 0, "RETURNED_FUNDS": 0}
    size = chunk_rows()
    committed = 0
    with db.begin() as conn:
        clients = [
            r.client_id
            for r in db.run(
                conn, "select_clients_with_state", {"business_date": business_date, "state": "APPROVED"}
            )
        ]
    for client_id in clients:
        profile = profiles.load(client_id)
        key = {"client_id": client_id, "business_date": business_date}
        started = time.perf_counter()
        with db.begin() as conn:
            _tune(conn)
            todo = _plan(conn, client_id, business_date, profile.prefund_limit_cents)
        log.info(
            "%s %s: plan rows %s to apply (%.1f s)",
            client_id,
            business_date,
            todo,
            time.perf_counter() - started,
        )
        _crash_hook(committed)
        if todo is not None:
            for lo in range(todo[0], todo[1] + 1, size):
                bounds = {**key, "lo": lo, "hi": min(lo + size - 1, todo[1])}
                started = time.perf_counter()
                with db.begin() as conn:
                    _tune(conn)
                    settled, returned = _apply(conn, bounds)
                log.info(
                    "%s %s: plan rows %d..%d applied, %d settled, %d returned H_FUNDS (%.1f s)",
                    client_id,
                    business_date,
                    bounds["lo"],
                    bounds["hi"],
                    settled,
                    returned,
                    time.perf_counter() - started,
                )
                counts["SETTLED"] += settled
                counts["RETURNED_FUNDS"] += returned
                committed += 1
                _crash_hook(committed)
        with db.begin() as conn:
            db.run(conn, "insert_ledger_loans", key)
            counts["DISBURSED"] += db.run(conn, "update_records_disbursed", key).rowcount
            if conn.dialect.name == "postgresql":
                # The BRIN index on the day (V012) covers the block ranges just filled once they
                # are summarized; until then a query of a day reads those ranges in full.
                db.run(conn, "summarize_ledger_day_postgresql")
            short = db.run(conn, "count_plan_funds", key).one()
            if short.n:
                events.alert(
                    conn,
                    "PREFUND_SHORT",
                    f"{short.n} payments of {client_id} ({format_cents(int(short.cents))}) returned "
                    f"H_FUNDS on {business_date}: prefunded balance "
                    f"{format_cents(profile.prefund_limit_cents)} exhausted",
                    dedup_key=f"prefund-short:{client_id}:{business_date}",
                    severity="critical",
                    client_id=client_id,
                    business_date=business_date,
                )
    log.info("settlement for %s: %s", business_date, counts)
    return counts


_LEDGER_WITHOUT_FK_SQLITE = (
    """CREATE TABLE ledger_entries_v9 (
    entry_id INTEGER PRIMARY KEY,
    business_no TEXT NOT NULL,
    leg TEXT NOT NULL CHECK (leg IN ('D', 'C')),
    client_id TEXT NOT NULL,
    business_date TEXT NOT NULL,
    account TEXT NOT NULL,
    amount_cents BIGINT NOT NULL CHECK (amount_cents > 0),
    posted_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    UNIQUE (business_no, leg)
)""",
    "INSERT INTO ledger_entries_v9 (entry_id, business_no, leg, client_id, business_date, account,"
    " amount_cents, posted_at) SELECT entry_id, business_no, leg, client_id, business_date, account,"
    " amount_cents, posted_at FROM ledger_entries",
    "DROP TABLE ledger_entries",
    "ALTER TABLE ledger_entries_v9 RENAME TO ledger_entries",
    "CREATE INDEX ix_ledger_day ON ledger_entries (business_date, client_id)",
)


def migrate_v009(conn: Any) -> None:
    """Follow-up of schema version 9 (sql/schema/V009__settlement_bulk_posting.sql).

    PostgreSQL: drop the foreign key of ledger_entries to records, and keep half of each new
    records page free for the updated versions of its rows (fillfactor 50: state changes stay
    heap-only). SQLite: rebuild ledger_entries without the foreign key (SQLite cannot drop a
    constraint), entry ids kept.
    """
    if conn.dialect.name == "postgresql":
        db.drop_foreign_keys_postgresql(conn, "ledger_entries", "records")
        conn.execute(text("ALTER TABLE records SET (fillfactor = 50)"))
        return
    for statement in _LEDGER_WITHOUT_FK_SQLITE:
        conn.execute(text(statement))


# The primary key (entry_id) and the UNIQUE (business_no, leg) of V001: the only two.
_LEDGER_KEY_POSTGRESQL = """
SELECT c.conname, c.contype
FROM pg_constraint AS c
WHERE c.conrelid = 'ledger_entries'::regclass AND c.contype IN ('p', 'u')
"""


def migrate_v012(conn: Any) -> None:
    """Follow-up of schema version 12 (sql/schema/V012__ledger_posting_indexes.sql).

    PostgreSQL: (business_no, leg) becomes the primary key of ledger_entries (entry_id keeps its
    values and its identity sequence, without an index, the sequence cached 1,000 ids a
    session), ix_ledger_day becomes a BRIN index; settlement_plan gets ``record_tid`` (where the
    plan read each record) and a BRIN index on (client_id, business_date, ord) instead of its
    primary key (planners of a client's day take an advisory lock instead). SQLite: nothing
    (entry_id is the rowid there, the B-tree on the day and the plan's key stay, and the SQLite
    plan does not use record_tid).
    """
    if conn.dialect.name != "postgresql":
        return
    names = [r.conname for r in conn.execute(text(_LEDGER_KEY_POSTGRESQL))]
    drops = ", ".join(f'DROP CONSTRAINT "{name}"' for name in names)
    conn.execute(
        text(
            f"ALTER TABLE ledger_entries {drops + ', ' if drops else ''}"
            "ADD CONSTRAINT ledger_entries_pkey PRIMARY KEY (business_no, leg)"
        )
    )
    # Each session takes entry ids 1,000 at a time instead of one nextval (a buffer lock on the
    # sequence) per posting: ids stay unique and increasing per session, with gaps.
    conn.execute(text("ALTER TABLE ledger_entries ALTER COLUMN entry_id SET CACHE 1000"))
    conn.execute(text("ALTER TABLE settlement_plan ADD COLUMN record_tid tid"))
    keys = conn.execute(
        text(
            "SELECT conname FROM pg_constraint WHERE conrelid = 'settlement_plan'::regclass AND contype = 'p'"
        )
    ).scalars()
    for name in list(keys):
        conn.execute(text(f'ALTER TABLE settlement_plan DROP CONSTRAINT "{name}"'))
    conn.execute(
        text(
            "CREATE INDEX ix_settlement_plan_day ON settlement_plan USING brin (client_id, business_date, ord)"
        )
    )
    conn.execute(text("DROP INDEX ix_ledger_day"))
    conn.execute(text("CREATE INDEX ix_ledger_day ON ledger_entries USING brin (business_date, client_id)"))


def ledger_hash(business_date: str | None = None) -> str:
    """sha256 of the ordered postings (business_no, leg, client, date, account, amount)."""
    digest = hashlib.sha256()
    with db.begin() as conn:
        for r in db.run(conn, "select_ledger_postings", {"business_date": business_date}):
            digest.update("|".join(str(v) for v in r).encode("utf-8") + b"\n")
    return digest.hexdigest()


RET_FETCH_ROWS = 20_000


def _ret_chunks(result: Any) -> Iterator[bytes]:
    """A result file's bytes from streamed rows, one encoded piece per fetched batch."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(RET_HEADER)
    while rows := result.fetchmany(RET_FETCH_ROWS):
        writer.writerows((r[0], r[1], r[2], r[3] or "", format_cents(r[4]), r[5]) for r in rows)
        yield buf.getvalue().encode("utf-8")
        buf.seek(0)
        buf.truncate()
    if buf.tell():
        yield buf.getvalue().encode("utf-8")


def write_results(business_date: str) -> list[str]:
    """Write ``<stem>.ret.csv`` for every file of the day whose accepted rows are all final.

    The rows stream from the database into the file a bounded number at a time; the file is
    marked COMPLETED in the same transaction, so a failed write leaves it to the next run."""
    landing = open_store(settings().landing)
    written = []
    with db.begin() as conn:
        files = db.run(conn, "select_files_for_results", {"business_date": business_date}).all()
    for f in files:
        key = f"{f.folder}/outbox/{f.stem}.ret.csv"
        with db.begin() as conn:
            open_rows = db.run(conn, "count_open_records", {"file_id": f.file_id}).scalar_one()
            if open_rows:
                continue
            db.run(
                conn,
                "update_file_status",
                {
                    "file_id": f.file_id,
                    "status": "COMPLETED",
                    "reason_code": None,
                    "message": None,
                    "expected": "VALIDATED",
                },
            )
            result = conn.execute(
                text(db.sql("select_ret_rows")),
                {"file_id": f.file_id},
                execution_options={"stream_results": True, "yield_per": RET_FETCH_ROWS},
            )
            landing.put_stream(key, _ret_chunks(result))
        written.append(key)
    return written


def ledger_totals(business_date: str | None = None) -> dict[str, int]:
    """Debit and credit totals in cents (for the whole ledger, or one business date)."""
    with db.begin() as conn:
        row = db.run(conn, "select_ledger_totals", {"business_date": business_date}).one()
    return {
        "debit_cents": int(row.debit_cents or 0),
        "credit_cents": int(row.credit_cents or 0),
        "entries": int(row.entries or 0),
    }


__all__ = [
    "FINAL_STATES",
    "business_types",
    "ledger_hash",
    "ledger_totals",
    "post_ledger",
    "write_results",
]
