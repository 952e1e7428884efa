"""Settlement (处理与执行): balanced double-entry postings, prefunding, result files.

PAY: approved payments settle in a deterministic order (value date, file, line) while the
client's prefunded balance for the day lasts: debit ``<client>:PREFUND``, credit
``<client>:CLEARING``; the rest are RETURNED with H_FUNDS and an alert. LOAN: approved
applications are disbursed: debit ``<client>:LOANS``, credit ``<client>:DISBURSEMENT``.
A posting is one row of ``ledger_transfers`` holding both entries (debit account, credit
account, one amount: balanced by construction); ``ledger_entries`` shows them as one row per
entry. The idempotency key is the business number: one posting per record, so a rerun or a
retried task never posts twice. When every accepted row of a file is final, ``<stem>.ret.csv``
is written from the database, byte for byte the same on every rerun.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

from daybook import business_types, db, events, profiles
from daybook.config import env_int, settings
from daybook.storage import open_store

if TYPE_CHECKING:
    from daybook.aml import Thresholds

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
    """Plan rows applied per transaction at most (``DAYBOOK_SETTLEMENT_CHUNK``, default 1,000,000)."""
    return env_int("DAYBOOK_SETTLEMENT_CHUNK", 1_000_000, 1, None, "plan rows applied in one transaction")


def workers() -> int:
    """Chunks applied at once on PostgreSQL, each by its own connection
    (``DAYBOOK_SETTLEMENT_WORKERS``, default 2). Sized to the database server's cores: applying
    is the server's CPU work (updating records, writing postings), not the worker's. SQLite has
    one writer at a time: its chunks are applied one after the other."""
    return env_int("DAYBOOK_SETTLEMENT_WORKERS", 2, 1, 64, "database connections applying chunks at once")


# A day is cut into chunks for parallel applying only while each chunk keeps this many plan rows
# at least: below that, one transaction per chunk_rows() rows as before (a small day is applied
# all or nothing).
PARALLEL_MIN_ROWS = 100_000


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


class _NotScreened(Exception):
    """The payments a plan read are not the ones the client's last AML screening covered."""


def _plan(
    conn: Any, client_id: str, business_date: str, limit_cents: int, aml_thresholds: Thresholds
) -> tuple[int, int] | None:
    """The ``ord`` range of the client's plan still to apply: a committed plan with rows left to
    apply (a retried run resumes it), else a new plan of the day's approved payments.

    One set-based statement plans: a window function orders the approved payments by value date
    (read from the payload in SQL), file and line, and the running total against the prefunded
    balance left decides SETTLE or FUNDS. Running totals only grow, so every payment after the
    first that does not fit is FUNDS as well (no skipping ahead to smaller ones).

    A new plan stands only for payments AML screening covered: the fingerprint of the approved
    payments the plan read (in its own statement on PostgreSQL, in its transaction on SQLite) must
    be the one the client's last screening of the day recorded, with the sanctions list in use
    now (:func:`daybook.aml.unscreened`); otherwise :class:`_NotScreened` is raised and the
    caller's transaction, plan included, is rolled back.
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
    from daybook import aml

    params = {**key, "base_ord": base, "used_cents": int(used or 0), "limit_cents": limit_cents}
    if conn.dialect.name == "postgresql":
        row = db.run(conn, "insert_settlement_plan_postgresql", params).one()
        planned, seen = int(row.planned), aml.Fingerprint.of(row)
    else:
        planned = db.run(conn, "insert_settlement_plan_sqlite", params).rowcount
        seen = aml.fingerprint(conn, key)  # under the write lock the insert took: the same rows
    if planned:
        why = aml.unscreened(conn, key, seen, aml_thresholds)
        if why is not None:
            raise _NotScreened(why)
    if planned and conn.dialect.name == "postgresql":
        # Fresh statistics for applying, and the plan's new block ranges summarized in its BRIN
        # index (until then a query of any day's plan reads them in full).
        db.run(conn, "analyze_settlement_plan_postgresql")
        db.run(conn, "summarize_settlement_plan_postgresql")
    return (base + 1, base + planned) if planned else None


_FIRST_TID, _END_TID = "(0,0)", "(4294967295,65535)"
# Chunk edges are placed on a sample of about this many plan rows (every plan row up to twice
# as many): equal chunks to within a fraction of a percent without sorting a whole large day.
EDGE_SAMPLES = 10_000


def _chunks(conn: Any, key: dict[str, Any], todo: tuple[int, int]) -> list[dict[str, Any]]:
    """The chunks (one transaction each) that apply plan rows ``todo``.

    SQLite: ranges of chunk_rows() plan rows in plan order. PostgreSQL: ranges of records pages
    (tid_lo <= record_tid < tid_hi), each holding about the same number of plan rows: at least
    enough chunks for chunk_rows(), and two per worker for a day large enough
    (:data:`PARALLEL_MIN_ROWS` rows a chunk), so that chunks applied at once by different
    connections never touch the same page of records.
    """
    lo, hi = todo
    size = chunk_rows()
    if conn.dialect.name != "postgresql":
        return [{**key, "lo": a, "hi": min(a + size - 1, hi)} for a in range(lo, hi + 1, size)]
    rows = hi - lo + 1
    count = max(-(-rows // size), min(2 * workers(), rows // PARALLEL_MIN_ROWS))
    sample = max(1, rows // EDGE_SAMPLES)
    step = -(-rows // sample // count)
    edges = [
        str(t)
        for t in db.run(
            conn,
            "select_plan_chunk_edges_postgresql",
            {**key, "lo": lo, "hi": hi, "step": step, "sample": sample},
        ).scalars()
    ]
    edges = [_FIRST_TID, *edges[1:], _END_TID]
    return [{**key, "lo": lo, "hi": hi, "tid_lo": a, "tid_hi": b} for a, b in pairwise(edges)]


def _apply(conn: Any, bounds: dict[str, Any], statement: str | None = None) -> tuple[int, int]:
    """Apply one chunk of the plan in the caller's transaction: insert the posting of each settled
    payment (debit and credit in one row of ledger_transfers) and move each planned record that
    is still APPROVED to SETTLED or RETURNED/H_FUNDS. Returns (settled, returned).

    PostgreSQL: one statement; the postings are made from the rows the UPDATE of records
    returns, so a posting exists exactly for each record this statement settled. It goes to each
    record at the row the plan read it from (``statement`` defaults to that one); plan rows left
    over (a record updated or moved since) are applied afterwards by
    ``apply_settlement_chunk_by_number_postgresql``, which joins on the business number and moves
    only records still APPROVED. SQLite (no data-modifying CTE): the postings of the plan rows
    whose records are APPROVED, then the two updates, in the same transaction. Either way the
    postings must be two per settled record, or the chunk is rolled back.
    """
    if conn.dialect.name == "postgresql":
        row = db.run(conn, statement or "apply_settlement_chunk_postgresql", bounds).one()
        settled, returned, postings = int(row.settled), int(row.returned), int(row.postings)
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
    if postings != settled:
        raise SettlementError(
            f"plan rows {bounds['lo']}..{bounds['hi']} of {bounds['client_id']} {bounds['business_date']}: "
            f"{postings} postings for {settled} settled payments"
        )
    return settled, returned


def _disburse(conn: Any, key: dict[str, Any]) -> int:
    """Disburse the client's approved loans of the day in the caller's transaction: one posting
    per loan (debit LOANS, credit DISBURSEMENT) and the loans moved to DISBURSED. PostgreSQL: one
    statement, the postings made from the rows the update returns. SQLite: the postings, then the
    update. A posting already there for an approved loan fails the transaction (unique key), and
    postings and disbursed loans must agree in number, or it is rolled back. Returns the number
    of loans disbursed."""
    if conn.dialect.name == "postgresql":
        row = db.run(conn, "disburse_loans_postgresql", key).one()
        disbursed, postings = int(row.disbursed), int(row.postings)
    else:
        postings = db.run(conn, "insert_ledger_loans", key).rowcount
        disbursed = db.run(conn, "update_records_disbursed", key).rowcount
    if postings != disbursed:
        raise SettlementError(
            f"loans of {key['client_id']} {key['business_date']}: {postings} postings for {disbursed} disbursed loans"
        )
    return disbursed


class _Committer:
    """Commits chunks one at a time and counts them, so that the crash test hook fires right after
    exactly the n-th commit even when several connections apply chunks at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.committed = 0

    def commit(self, transaction: Any) -> None:
        with self.lock:
            transaction.commit()
            self.committed += 1
            _crash_hook(self.committed)


def _apply_chunks(
    chunks: list[dict[str, Any]], committer: _Committer, statement: str | None = None
) -> tuple[int, int]:
    """Apply the chunks, each in a transaction of its own, up to :func:`workers` at once on
    PostgreSQL (one after the other on SQLite). A chunk that fails is rolled back; chunks not
    started yet are skipped, the ones running finish, and the first error is raised: a retry
    resumes the committed plan (chunks already applied move nothing). Returns (settled, returned).
    """
    stop = threading.Event()

    def one(bounds: dict[str, Any]) -> tuple[int, int]:
        if stop.is_set():
            return 0, 0
        started = time.perf_counter()
        with db.engine().connect() as conn:
            transaction = conn.begin()
            try:
                _tune(conn)
                settled, returned = _apply(conn, bounds, statement)
                committer.commit(transaction)
            except BaseException:
                stop.set()
                if transaction.is_active:
                    transaction.rollback()
                raise
        where = f"records rows {bounds['tid_lo']}..{bounds['tid_hi']}, " if "tid_lo" in bounds else ""
        log.info(
            "%s %s: plan rows %d..%d (%s%s) applied, %d settled, %d returned H_FUNDS (%.1f s)",
            bounds["client_id"],
            bounds["business_date"],
            bounds["lo"],
            bounds["hi"],
            where,
            statement or "at the rows read",
            settled,
            returned,
            time.perf_counter() - started,
        )
        return settled, returned

    parallel = min(workers(), len(chunks)) if db.engine().dialect.name == "postgresql" else 1
    if parallel <= 1:
        results = [one(bounds) for bounds in chunks]
    else:
        with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="settle") as pool:
            futures = [pool.submit(one, bounds) for bounds in chunks]
            wait(futures)
        errors = [f.exception() for f in futures if f.exception() is not None]
        if errors:
            raise errors[0]
        results = [f.result() for f in futures]
    return sum(r[0] for r in results), sum(r[1] for r in results)


def post_ledger(business_date: str) -> dict[str, int]:
    """Settle or disburse the day's approved records, exactly once.

    Per client: plan (one transaction), then apply the plan in chunks (:func:`_chunks`), each
    chunk one transaction that inserts the postings of its settled payments and moves its records
    to SETTLED or RETURNED/H_FUNDS (:func:`_apply`), up to :func:`workers` chunks at once on
    PostgreSQL; approved loans are disbursed (:func:`_disburse`), on PostgreSQL in a transaction
    of their own on a connection of their own while the payments are planned and applied (they
    touch other records and other accounts, and planning keeps one server core busy), on SQLite
    after the payments. The plan fixes every outcome before any is applied, so the order chunks
    commit in changes nothing but which records are done first.
    """
    db.migrate()
    counts = {"SETTLED": 0, "DISBURSED": 0, "RETURNED_FUNDS": 0}
    committer = _Committer()
    with db.begin() as conn:
        clients = [
            r.client_id
            for r in db.run(
                conn, "select_clients_with_state", {"business_date": business_date, "state": "APPROVED"}
            )
        ]
    for client_id in clients:
        try:
            profile = profiles.load(client_id)
            try:
                limit_cents = profile.prefund_limit_cents  # read before anything moves
            except (ArithmeticError, TypeError, ValueError) as exc:
                raise profiles.InvalidProfile(
                    profiles.profile_path(client_id),
                    profile.version,
                    f'prefund_limit must be an amount in quotes, "100000000.00", '
                    f"found {profile.data.get('prefund_limit')!r}",
                ) from exc
            from daybook import aml

            # Overrides AML screening could not read: it did not screen. Settlement checks that
            # screening covered the payments it plans (and screens them if not) with these.
            aml_thresholds = aml.thresholds(client_id)
        except profiles.InvalidProfile as broken:
            # A profile that cannot be used holds this client only: its approved payments and
            # loans stay APPROVED (nothing planned, posted or returned), every other client is
            # settled, and a run after the fix settles it exactly once (the plan and the
            # postings are keyed by business number). A client whose AML overrides screening
            # could not read (so it was not screened) is not settled either.
            profiles.hold(
                client_id,
                broken,
                business_date,
                "its approved payments are not settled and its approved loans not disbursed "
                "until it is fixed",
                stage="settlement",
            )
            continue
        key = {"client_id": client_id, "business_date": business_date}
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="disburse") as pool:
            loans = pool.submit(_disburse_alone, key) if db.engine().dialect.name == "postgresql" else None
            _settle_payments(key, profile, aml_thresholds, committer, counts)
            with db.begin() as conn:
                counts["DISBURSED"] += loans.result() if loans is not None else _disburse(conn, key)
                if conn.dialect.name == "postgresql":
                    # The BRIN index on the day (V012) covers the block ranges just filled once
                    # they are summarized; until then a query of a day reads those ranges in full.
                    db.run(conn, "summarize_ledger_day_postgresql")
                short = db.run(conn, "count_plan_funds", key).one()
                if short.n:
                    events.alert(
                        conn,
                        "PREFUND_SHORT",
                        f"{short.n} payments of {client_id} ({format_cents(int(short.cents))}) returned "
                        f"H_FUNDS on {business_date}: prefunded balance "
                        f"{format_cents(limit_cents)} exhausted",
                        dedup_key=f"prefund-short:{client_id}:{business_date}",
                        severity="critical",
                        client_id=client_id,
                        business_date=business_date,
                    )
    if clients:
        db.analyze("records", "ledger_transfers")  # for the reports, files and reconciliation next
    log.info("settlement for %s: %s", business_date, counts)
    return counts


def _disburse_alone(key: dict[str, Any]) -> int:
    """:func:`_disburse` in a transaction of its own (committed when it returns)."""
    with db.begin() as conn:
        return _disburse(conn, key)


def _settle_payments(
    key: dict[str, Any],
    profile: profiles.Profile,
    aml_thresholds: Thresholds,
    committer: _Committer,
    counts: dict[str, int],
) -> None:
    """Plan the client's approved payments of the day and apply the plan (see :func:`post_ledger`)."""
    from daybook import aml

    client_id, business_date = key["client_id"], key["business_date"]
    started = time.perf_counter()
    try:
        with db.begin() as conn:
            _tune(conn)
            todo = _plan(conn, client_id, business_date, profile.prefund_limit_cents, aml_thresholds)
    except _NotScreened as why:
        # The day's approved payments are not the ones screening covered (screen_aml skipped or
        # cleared on its own, a payment approved or released since, a new sanctions list): screen
        # them now, then plan. A second miss means they keep changing under settlement: fail.
        log.warning("%s %s: %s; screening the day before it is settled", client_id, business_date, why)
        aml.screen_client(client_id, business_date, aml_thresholds)
        try:
            with db.begin() as conn:
                _tune(conn)
                todo = _plan(conn, client_id, business_date, profile.prefund_limit_cents, aml_thresholds)
        except _NotScreened as again:
            raise SettlementError(
                f"{client_id} {business_date}: approved payments not covered by AML screening even "
                f"after screening them again ({again}); nothing of the client's day was planned"
            ) from again
    log.info(
        "%s %s: plan rows %s to apply (%.1f s)",
        client_id,
        business_date,
        todo,
        time.perf_counter() - started,
    )
    _crash_hook(committer.committed)
    if todo is not None:
        with db.begin() as conn:
            chunks = _chunks(conn, key, todo)
        settled, returned = _apply_chunks(chunks, committer)
        if db.engine().dialect.name == "postgresql" and settled + returned < todo[1] - todo[0] + 1:
            # Plan rows not applied at the rows their records were read from: records
            # updated or moved since (or already applied by the run this one resumes, or no
            # longer APPROVED). The statement by business number moves those still APPROVED.
            size = chunk_rows()
            late = [
                {**key, "lo": lo, "hi": min(lo + size - 1, todo[1])}
                for lo in range(todo[0], todo[1] + 1, size)
            ]
            more = _apply_chunks(late, committer, "apply_settlement_chunk_by_number_postgresql")
            settled, returned = settled + more[0], returned + more[1]
        counts["SETTLED"] += settled
        counts["RETURNED_FUNDS"] += returned


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


def _key_constraints(conn: Any, table: str, kinds: tuple[str, ...] = ("p", "u")) -> list[str]:
    """PostgreSQL: the names of the table's primary key ("p") and unique ("u") constraints."""
    rows = conn.execute(
        text(
            "SELECT conname, CAST(contype AS TEXT) AS kind FROM pg_constraint WHERE conrelid = CAST(:t AS regclass)"
        ),
        {"t": table},
    )
    return [r.conname for r in rows if r.kind in kinds]


def _drop_constraints(names: list[str]) -> str:
    """The ``DROP CONSTRAINT`` clauses of an ALTER TABLE for ``names``, each followed by a comma."""
    return "".join(f'DROP CONSTRAINT "{name}", ' for name in names)


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
    # The primary key (entry_id) and the UNIQUE (business_no, leg) of V001: the only two.
    drops = _drop_constraints(_key_constraints(conn, "ledger_entries"))
    conn.execute(
        text(
            f"ALTER TABLE ledger_entries {drops}ADD CONSTRAINT ledger_entries_pkey PRIMARY KEY (business_no, leg)"
        )
    )
    # Each session takes entry ids 1,000 at a time instead of one nextval (a buffer lock on the
    # sequence) per posting: ids stay unique and increasing per session, with gaps.
    conn.execute(text("ALTER TABLE ledger_entries ALTER COLUMN entry_id SET CACHE 1000"))
    conn.execute(text("ALTER TABLE settlement_plan ADD COLUMN record_tid tid"))
    for name in _key_constraints(conn, "settlement_plan", ("p",)):
        conn.execute(text(f'ALTER TABLE settlement_plan DROP CONSTRAINT "{name}"'))
    conn.execute(
        text(
            "CREATE INDEX ix_settlement_plan_day ON settlement_plan USING brin (client_id, business_date, ord)"
        )
    )
    conn.execute(text("DROP INDEX ix_ledger_day"))
    conn.execute(text("CREATE INDEX ix_ledger_day ON ledger_entries USING brin (business_date, client_id)"))


def migrate_v014(conn: Any) -> None:
    """Follow-up of schema version 14 (sql/schema/V014__ledger_key_bytewise.sql).

    PostgreSQL: the ledger's key columns business_no and leg get the "C" collation (bytewise
    comparisons in its primary key). SQLite: nothing (BINARY already).
    """
    if conn.dialect.name != "postgresql":
        return
    conn.execute(
        text(
            'ALTER TABLE ledger_entries ALTER COLUMN business_no TYPE TEXT COLLATE "C",'
            ' ALTER COLUMN leg TYPE TEXT COLLATE "C"'
        )
    )


class LedgerUpgradeError(RuntimeError):
    """V015 found ledger entries that are not one debit and one credit of the same posting."""


# Entries that do not pair up into a posting: a business number without exactly one debit and one
# credit of the same client, day and amount.
_UNPAIRED_ENTRIES = """
SELECT business_no, COUNT(*) AS entries
FROM ledger_entries
GROUP BY business_no
HAVING COUNT(*) <> 2 OR SUM(CASE WHEN leg = 'D' THEN 1 ELSE 0 END) <> 1
    OR MIN(amount_cents) <> MAX(amount_cents) OR MIN(client_id) <> MAX(client_id)
    OR MIN(business_date) <> MAX(business_date)
ORDER BY business_no
"""

_COPY_ENTRIES_AS_TRANSFERS = """
INSERT INTO ledger_transfers (
    transfer_id, business_no, client_id, business_date, debit_account, credit_account, amount_cents,
    posted_at
)
SELECT
    ROW_NUMBER() OVER (ORDER BY MIN(e.entry_id)), e.business_no, MIN(e.client_id), MIN(e.business_date),
    MAX(CASE WHEN e.leg = 'D' THEN e.account END), MAX(CASE WHEN e.leg = 'C' THEN e.account END),
    MIN(e.amount_cents), MIN(e.posted_at)
FROM ledger_entries AS e
GROUP BY e.business_no
"""

# One row per entry, as the table of V001-V014 was. The two branches are one per side; a query
# that asks for one leg reads one branch (the other's constant leg does not match).
_LEDGER_ENTRIES_VIEW = """
CREATE VIEW ledger_entries AS
SELECT
    2 * t.transfer_id - 1 AS entry_id, t.business_no, 'D' AS leg, t.client_id, t.business_date,
    t.debit_account AS account, t.amount_cents, t.posted_at
FROM ledger_transfers AS t
UNION ALL
SELECT
    2 * t.transfer_id AS entry_id, t.business_no, 'C' AS leg, t.client_id, t.business_date,
    t.credit_account AS account, t.amount_cents, t.posted_at
FROM ledger_transfers AS t
"""


def check_v015(conn: Any) -> None:
    """Before schema version 15: every business number of ledger_entries must be one debit and
    one credit of the same amount, client and day, or the upgrade stops here (nothing changed,
    the version not recorded) with the business numbers to look at."""
    unpaired = conn.execute(text(_UNPAIRED_ENTRIES)).all()
    if unpaired:
        shown = ", ".join(f"{r.business_no} ({r.entries} entries)" for r in unpaired[:10])
        raise LedgerUpgradeError(
            f"schema V015: {len(unpaired)} business numbers in ledger_entries are not one debit and one "
            f"credit of the same amount, client and day, so they cannot become postings: {shown}"
            f"{' ...' if len(unpaired) > 10 else ''}. Correct or remove those entries, then migrate again."
        )


def migrate_v015(conn: Any) -> None:
    """Follow-up of schema version 15 (sql/schema/V015__ledger_transfers.sql).

    The entries of ledger_entries (paired up: :func:`check_v015`) become postings of
    ledger_transfers, one per business number, renumbered in the order of their first entry.
    Then the table is replaced by the view. PostgreSQL: the posting's key is business_no under
    collation "C" (bytewise, as V014), the id is numbered by its identity sequence 1,000 at a
    time without an index of its own, and the day index is BRIN (as V012); settlement_plan gets
    a BRIN index on record_tid (each chunk reads its own plan rows).
    """
    if conn.dialect.name == "postgresql":
        drops = _drop_constraints(_key_constraints(conn, "ledger_transfers"))
        conn.execute(
            text(
                f'ALTER TABLE ledger_transfers {drops}ALTER COLUMN business_no TYPE TEXT COLLATE "C",'
                " ADD CONSTRAINT ledger_transfers_pkey PRIMARY KEY (business_no)"
            )
        )
        conn.execute(text("ALTER TABLE ledger_transfers ALTER COLUMN transfer_id SET CACHE 1000"))
        conn.execute(text("DROP INDEX ix_ledger_transfers_day"))
        conn.execute(
            text(
                "CREATE INDEX ix_ledger_transfers_day ON ledger_transfers USING brin (business_date, client_id)"
            )
        )
        # Each chunk of a plan reads its own plan rows (a range of record_tid) through this index
        # instead of the whole plan: a plan is appended in plan order, which follows the records'
        # pages closely enough that a block range of the plan covers a narrow range of them.
        conn.execute(
            text("CREATE INDEX ix_settlement_plan_record_tid ON settlement_plan USING brin (record_tid)")
        )
    conn.execute(text(_COPY_ENTRIES_AS_TRANSFERS))
    if conn.dialect.name == "postgresql":
        # The copied postings carry their ids: the sequence continues after them.
        conn.execute(
            text(
                "SELECT setval(pg_get_serial_sequence('ledger_transfers', 'transfer_id'),"
                " COALESCE((SELECT MAX(transfer_id) FROM ledger_transfers), 0) + 1, false)"
            )
        )
    conn.execute(text("DROP TABLE ledger_entries"))
    conn.execute(text(_LEDGER_ENTRIES_VIEW))


def ledger_hash(business_date: str | None = None) -> str:
    """sha256 of the ordered postings (business_no, leg, client, date, account, amount)."""
    digest = hashlib.sha256()
    with db.begin() as conn:
        for r in db.run(conn, "select_ledger_postings", {"business_date": business_date}):
            digest.update("|".join(str(v) for v in r).encode("utf-8") + b"\n")
    return digest.hexdigest()


def _ret_pieces(batches: Iterator[Any]) -> Iterator[bytes]:
    """A result file's bytes, one piece per batch of rows (Arrow record batches of
    ``select_ret_rows``): the header by Python's csv writer, the rows by
    :func:`daybook.arrowcsv.lines` (the same bytes, whole columns at a time), amounts as
    ``whole.frac``."""
    from daybook import arrowcsv, clearing

    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(RET_HEADER)
    yield buf.getvalue().encode("utf-8")
    for batch in batches:
        cells = list(batch.columns)
        cells[4] = clearing.cents_array(clearing.int_values(batch.column(4)))
        yield arrowcsv.lines(cells)


def write_results(business_date: str) -> list[str]:
    """Write ``<stem>.ret.csv`` for every file of the day whose accepted rows are all final.

    The rows stream from the database into the file a batch at a time; the file is marked
    COMPLETED in the same transaction, so a failed write leaves it to the next run."""
    from daybook import clearing

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
            # Rows as Arrow batches (PostgreSQL: one COPY read by Arrow; else a streamed cursor).
            with clearing.arrow_rows(
                conn, "select_ret_rows", {"file_id": f.file_id}, ints=("amount_cents",)
            ) as (
                _,
                batches,
            ):
                landing.put_stream(key, _ret_pieces(batches))
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
