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
import json
import logging
import os
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import sqlalchemy.exc
from sqlalchemy import bindparam, text

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
    """Payments applied per transaction at most (``DAYBOOK_SETTLEMENT_CHUNK``, default 1,000,000)."""
    return env_int("DAYBOOK_SETTLEMENT_CHUNK", 1_000_000, 1, None, "payments applied in one transaction")


def workers() -> int:
    """Chunks applied at once on PostgreSQL, each by its own connection
    (``DAYBOOK_SETTLEMENT_WORKERS``, default 2). Sized to the database server's cores: applying
    is the server's CPU work (updating records, writing postings), not the worker's. SQLite has
    one writer at a time: its chunks are applied one after the other."""
    return env_int("DAYBOOK_SETTLEMENT_WORKERS", 2, 1, 64, "database connections applying chunks at once")


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


class _Stale(Exception):
    """A chunk met a record changed since the plan's snapshot (PostgreSQL serialization failure):
    rolled back; the day is planned again."""


# A group's "upto" when every approved payment of it settles (line numbers have six digits).
ALL_LINES = 2_147_483_647
# Rows a heap page can hold at most (8 kB pages): a record row (page, offset) is one position
# page * ROWS_PER_PAGE + offset, so that a range of rows can be cut in equal parts.
ROWS_PER_PAGE = 292
_FIRST_TID, _END_TID = "(0,0)", "(4294967295,65535)"
# Plan rounds at most for a client's day: a round ends early when records changed under it (a
# chunk met a record changed since the plan, or the payments were not the ones screened).
MAX_ROUNDS = 4


@dataclass
class _Plan:
    """What settles of a client's day. ``groups``: one dict per (value date, file) in settlement
    order, its payments up to line ``upto`` settle and the later ones return H_FUNDS. ``planned``:
    the approved payments it moves; ``seen``: the fingerprint of every approved payment of the day
    (what AML screening must have covered), ``finished``: that of the payments settlement already
    moved (settled or returned H_FUNDS); ``returned_before``: (count, cents) returned H_FUNDS
    before; ``rows``: the first and last record rows of the planned payments (PostgreSQL)."""

    groups: list[dict[str, Any]]
    planned: int
    seen: Any
    finished: Any
    returned_before: tuple[int, int]
    rows: tuple[tuple[int, int], tuple[int, int]] | None


def _tid(text_value: str) -> tuple[int, int]:
    page, offset = text_value.strip("()").split(",")
    return int(page), int(offset)


def _plan(conn: Any, key: dict[str, Any], limit_cents: int) -> _Plan:
    """Plan the client's day: which approved payments settle, in the caller's transaction (on
    PostgreSQL a read-only snapshot that the chunks then apply in).

    The order is (value date, file sequence, file, line) and a payment settles while the running
    total fits the prefunded balance left (limit minus the day's PREFUND debits already posted);
    running totals only grow, so after the first payment that does not fit nothing settles (no
    skipping ahead to smaller ones), and nothing settles after a payment an earlier run of the day
    returned H_FUNDS either. Only the outcome's edge needs the payments one by one: the day is read
    as (value date, file) groups (select_settlement_groups_*, one aggregate, in parallel on
    PostgreSQL); the groups before the edge settle whole, those after it return whole, and in the
    group where the balance runs out a running total in line order finds the last line that fits
    (select_settlement_line_cutoff). Nothing is written: a retried or concurrent run plans the
    records as it finds them, and since what earlier runs settled are exactly the payments before
    the edge, and what they returned bounds it, the outcome of every payment is the same.
    """
    from daybook import aml

    rows = db.run(conn, f"select_settlement_groups_{conn.dialect.name}", key).all()
    zero = aml.Fingerprint(0, 0, 0, 0)
    seen, finished = zero, zero
    approved: dict[tuple[str | None, int], Any] = {}
    returned: dict[tuple[str | None, int], Any] = {}
    returned_n = returned_cents = 0
    for r in rows:
        terms = aml.Fingerprint(int(r.payments), int(r.amount_sum), int(r.file_sum), int(r.line_sum))
        if r.state == "APPROVED":
            seen += terms
            approved[(r.value_date, int(r.file_id))] = r
        else:
            finished += terms
            if r.state == "RETURNED":
                returned[(r.value_date, int(r.file_id))] = r
                returned_n, returned_cents = returned_n + int(r.payments), returned_cents + int(r.cents)
    plan = _Plan([], 0, seen, finished, (returned_n, returned_cents), None)
    if not approved:
        return plan
    ids = sorted({fid for _, fid in approved} | {fid for _, fid in returned})
    statement = text(db.sql("select_file_order")).bindparams(bindparam("file_ids", expanding=True))
    files = {int(f.file_id): f for f in conn.execute(statement, {"file_ids": ids})}
    used = int(
        db.run(conn, "select_prefund_used", {**key, "account": f"{key['client_id']}:PREFUND"}).scalar_one()
        or 0
    )
    room, closed = limit_cents - used, False
    first_row: tuple[int, int] | None = None
    last_row: tuple[int, int] | None = None

    def order(k: tuple[str | None, int]) -> tuple:
        # ORDER BY value_date, seq, file_id: NULL value dates last, texts compared by code point.
        value_date, fid = k
        return (value_date is None, value_date or "", str(files[fid].seq or "") if fid in files else "", fid)

    for k in sorted(set(approved) | set(returned), key=order):
        group, stop = approved.get(k), returned.get(k)
        eligible = group is not None and k[1] in files and files[k[1]].status in ("VALIDATED", "COMPLETED")
        if not eligible:
            closed = closed or stop is not None  # nothing after a returned payment settles
            continue
        if closed:
            upto = 0
        elif stop is None and int(group.cents) <= room:
            upto, room = ALL_LINES, room - int(group.cents)
        else:
            upto = int(
                db.run(
                    conn,
                    "select_settlement_line_cutoff",
                    {
                        **key,
                        "file_id": k[1],
                        "value_date": k[0] or "",
                        "room": room,
                        "before_line": int(stop.first_line) if stop is not None else ALL_LINES,
                    },
                ).scalar_one()
            )
            closed = True
        plan.groups.append({"file_id": k[1], "value_date": k[0], "rank": len(plan.groups), "upto": upto})
        plan.planned += int(group.payments)
        if group.first_row is not None:
            lo, hi = _tid(group.first_row), _tid(group.last_row)
            first_row = lo if first_row is None else min(first_row, lo)
            last_row = hi if last_row is None else max(last_row, hi)
    if first_row is not None and last_row is not None:
        plan.rows = (first_row, last_row)
    return plan


# A day is cut into chunks for parallel applying only while each chunk keeps this many payments
# at least: below that, one transaction per chunk_rows() payments (a small day is applied all or
# nothing).
PARALLEL_MIN_ROWS = 100_000


def _chunks(key: dict[str, Any], plan: _Plan) -> list[dict[str, Any]]:
    """PostgreSQL: the chunks (one transaction each) that apply the plan: ranges of records rows
    (tid_lo <= ctid < tid_hi) between the first and the last row of the planned payments, cut in
    equal parts: at least enough for chunk_rows() payments each, and two per worker for a day
    large enough (:data:`PARALLEL_MIN_ROWS` a chunk), so that chunks applied at once by different
    connections never touch the same records page. A day's records are loaded file by file, one
    after the other, so equal ranges of rows hold about as many payments."""
    rows = plan.planned
    count = max(1, -(-rows // chunk_rows()), min(2 * workers(), rows // PARALLEL_MIN_ROWS))
    (lo_page, lo_offset), (hi_page, hi_offset) = plan.rows or ((0, 0), (0, 0))
    lo = lo_page * ROWS_PER_PAGE + lo_offset
    span = hi_page * ROWS_PER_PAGE + hi_offset - lo + 1
    cuts = sorted({lo + -(-span * i // count) for i in range(1, count)})
    edges = [_FIRST_TID, *(f"({p // ROWS_PER_PAGE},{p % ROWS_PER_PAGE})" for p in cuts), _END_TID]
    groups = json.dumps(plan.groups)
    return [{**key, "groups": groups, "tid_lo": a, "tid_hi": b} for a, b in pairwise(edges)]


def _check(bounds: dict[str, Any], settled: int, postings: int) -> None:
    if postings != settled:
        where = f"records rows {bounds['tid_lo']}..{bounds['tid_hi']}" if "tid_lo" in bounds else "a chunk"
        raise SettlementError(
            f"{where} of {bounds['client_id']} {bounds['business_date']}: "
            f"{postings} postings for {settled} settled payments"
        )


def _apply(conn: Any, bounds: dict[str, Any]) -> tuple[int, int, int]:
    """PostgreSQL: apply the plan to one range of records rows in the caller's transaction (which
    runs in the plan's snapshot): one statement moves each approved payment there to SETTLED or
    RETURNED/H_FUNDS and inserts the posting of each settled one (debit and credit in one row of
    ledger_transfers) from the rows the update returns. The postings must be one per settled
    payment, or the chunk is rolled back. Returns (settled, returned, returned cents)."""
    row = db.run(conn, "apply_settlement_range_postgresql", bounds).one()
    _check(bounds, int(row.settled), int(row.postings))
    return int(row.settled), int(row.returned), int(row.returned_cents)


def _apply_next_sqlite(conn: Any, key: dict[str, Any], plan: _Plan, size: int) -> tuple[int, int, int, Any]:
    """SQLite: apply the plan to the next ``size`` approved payments in settlement order, in the
    caller's transaction: the chunk is kept in a temporary table, its postings inserted, its
    records moved; postings and moves must match the chunk, or it is rolled back. Returns
    (settled, returned, returned cents, fingerprint of the chunk)."""
    from daybook import aml

    params = {**key, "groups": json.dumps(plan.groups), "size": size}
    db.run(conn, "create_settlement_chunk_sqlite")
    db.run(conn, "delete_settlement_chunk_sqlite")
    db.run(conn, "insert_settlement_chunk_sqlite", params)
    c = db.run(conn, "select_settlement_chunk_sqlite").one()
    postings = db.run(conn, "insert_ledger_settlement_chunk_sqlite").rowcount
    moved = db.run(conn, "update_records_settlement_chunk_sqlite", key).rowcount
    _check(key, int(c.settled), postings)
    if moved != int(c.payments):
        raise SettlementError(
            f"{key['client_id']} {key['business_date']}: {moved} records moved for a chunk of {c.payments}"
        )
    terms = aml.Fingerprint(int(c.payments), int(c.amount_sum), int(c.file_sum), int(c.line_sum))
    return int(c.settled), int(c.returned), int(c.returned_cents), terms


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


_SNAPSHOT = re.compile(r"[0-9A-F]+-[0-9A-F]+(-[0-9]+)?")


def _serialization_failure(exc: BaseException) -> bool:
    orig = getattr(exc, "orig", None)
    return (getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)) == "40001"


def _apply_chunks(
    chunks: list[dict[str, Any]], snapshot: str, committer: _Committer
) -> tuple[int, int, int, int]:
    """PostgreSQL: apply the chunks, each in a transaction of its own in the plan's snapshot, up
    to :func:`workers` at once. A chunk that meets a record changed since the snapshot is rolled
    back and counted stale (the day is planned again); any other failure rolls its chunk back,
    skips the chunks not started yet, lets the running ones finish and is raised. Returns
    (settled, returned, returned cents, stale chunks)."""
    if not _SNAPSHOT.fullmatch(snapshot):
        raise SettlementError(f"unexpected snapshot id {snapshot!r}")
    stop = threading.Event()

    def one(bounds: dict[str, Any]) -> tuple[int, int, int, int]:
        if stop.is_set():
            return 0, 0, 0, 0
        started = time.perf_counter()
        with db.engine().connect() as plain:
            conn = plain.execution_options(isolation_level="REPEATABLE READ")
            transaction = conn.begin()
            try:
                conn.execute(text(f"SET TRANSACTION SNAPSHOT '{snapshot}'"))
                _tune(conn)
                settled, returned, cents = _apply(conn, bounds)
                committer.commit(transaction)
            except sqlalchemy.exc.OperationalError as exc:
                if transaction.is_active:
                    transaction.rollback()
                if not _serialization_failure(exc):
                    stop.set()
                    raise
                log.warning(
                    "%s %s: records rows %s..%s changed since the plan; rolled back, to be planned again",
                    bounds["client_id"],
                    bounds["business_date"],
                    bounds["tid_lo"],
                    bounds["tid_hi"],
                )
                return 0, 0, 0, 1
            except BaseException:
                stop.set()
                if transaction.is_active:
                    transaction.rollback()
                raise
        log.info(
            "%s %s: records rows %s..%s applied, %d settled, %d returned H_FUNDS (%.1f s)",
            bounds["client_id"],
            bounds["business_date"],
            bounds["tid_lo"],
            bounds["tid_hi"],
            settled,
            returned,
            time.perf_counter() - started,
        )
        return settled, returned, cents, 0

    parallel = min(workers(), len(chunks))
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
    return tuple(sum(r[i] for r in results) for i in range(4))  # type: ignore[return-value]


def post_ledger(business_date: str) -> dict[str, int]:
    """Settle or disburse the day's approved records, exactly once.

    Per client: the payments are planned (:func:`_plan`) and the plan applied in chunks, each
    chunk one transaction that moves its records to SETTLED or RETURNED/H_FUNDS and inserts the
    postings of the settled ones; on PostgreSQL up to :func:`workers` chunks at once, each a range
    of records pages, all in the plan's snapshot (:func:`_settle_round`). Approved loans are
    disbursed (:func:`_disburse`), on PostgreSQL in a transaction of their own on a connection of
    their own while the payments are planned and applied (they touch other records and other
    accounts), on SQLite after the payments.
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
            # settled, and a run after the fix settles it exactly once (the postings are keyed by
            # business number). A client whose AML overrides screening could not read (so it was
            # not screened) is not settled either.
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
            short = _settle_payments(key, _Run(limit_cents, aml_thresholds, committer, counts))
            with db.begin() as conn:
                counts["DISBURSED"] += loans.result() if loans is not None else _disburse(conn, key)
                if conn.dialect.name == "postgresql":
                    # The BRIN index on the day (V012) covers the block ranges just filled once
                    # they are summarized; until then a query of a day reads those ranges in full.
                    db.run(conn, "summarize_ledger_day_postgresql")
                if short[0]:
                    events.alert(
                        conn,
                        "PREFUND_SHORT",
                        f"{short[0]} payments of {client_id} ({format_cents(short[1])}) returned "
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


@dataclass
class _Run:
    """What every round of a client's settlement needs: its prefunded limit, its AML thresholds
    (to check and redo screening), the run's chunk committer and its counts."""

    limit_cents: int
    thresholds: Thresholds
    committer: _Committer
    counts: dict[str, int]


def _settle_payments(key: dict[str, Any], run: _Run) -> tuple[int, int]:
    """Settle the client's approved payments of the day: plan and apply in rounds
    (:func:`_settle_round`) until a round meets no change made by others. Payments that AML
    screening did not cover (screen_aml skipped or cleared on its own, a payment approved or
    released since, a new sanctions list) are screened first (:func:`daybook.aml.screen_client`),
    once; a second miss fails the task with nothing of the round applied. Returns (count, cents)
    of the day's payments returned H_FUNDS (by this run or an earlier one)."""
    from daybook import aml

    client_id, business_date = key["client_id"], key["business_date"]
    screened = False
    for _ in range(MAX_ROUNDS):
        try:
            done, short = _settle_round(key, run)
        except _NotScreened as why:
            if screened:
                raise SettlementError(
                    f"{client_id} {business_date}: approved payments not covered by AML screening even "
                    f"after screening them again ({why}); nothing of the round was applied"
                ) from why
            log.warning("%s %s: %s; screening the day before it is settled", client_id, business_date, why)
            aml.screen_client(client_id, business_date, run.thresholds)
            screened = True
            continue
        if done:
            return short
        log.warning(
            "%s %s: records changed under settlement; planning the rest again", client_id, business_date
        )
    raise SettlementError(
        f"{client_id} {business_date}: records kept changing while they were settled "
        f"({MAX_ROUNDS} rounds); what was applied stands, the rest is still APPROVED"
    )


def _covered(conn: Any, key: dict[str, Any], plan: _Plan, thresholds: Thresholds) -> None:
    """Raise :class:`_NotScreened` unless the last screening of the client's day covered the
    approved payments the plan moves: it recorded exactly them, or them and those settlement has
    moved since (a retried run after some chunks committed)."""
    from daybook import aml

    why = aml.unscreened(conn, key, plan.seen, thresholds)
    if why is None or (
        plan.finished.payments and aml.unscreened(conn, key, plan.seen + plan.finished, thresholds) is None
    ):
        return
    raise _NotScreened(why)


def _settle_round(key: dict[str, Any], run: _Run) -> tuple[bool, tuple[int, int]]:
    """One plan of the client's day and its applying. Returns (no chunk met a change, the day's
    H_FUNDS returns as (count, cents)).

    PostgreSQL: one planner of a client's day at a time (an advisory lock held by a connection of
    its own until the round ends; a second run waits, then plans what is left). The plan is made
    in a read-only REPEATABLE READ transaction whose snapshot is exported; every chunk runs in that
    snapshot, so it moves exactly the payments the plan saw: a payment approved since is not
    seen (a later run settles it), and one changed or moved since fails its chunk with a
    serialization error (rolled back, planned again in the next round). SQLite (one writer at a
    time): each chunk is a transaction that takes the write lock, plans and applies the next
    chunk_rows() payments in settlement order.
    """
    client_id, business_date = key["client_id"], key["business_date"]
    started = time.perf_counter()
    if db.engine().dialect.name != "postgresql":
        return _settle_round_sqlite(key, run)
    with db.engine().connect() as lock:
        db.run(lock, "lock_settlement_day_postgresql", key)
        lock.commit()
        try:
            with db.engine().connect() as plain:
                conn = plain.execution_options(isolation_level="REPEATABLE READ")
                with conn.begin():
                    _tune(conn)
                    snapshot = str(db.run(conn, "export_snapshot_postgresql").scalar_one())
                    plan = _plan(conn, key, run.limit_cents)
                    if plan.planned:
                        _covered(conn, key, plan, run.thresholds)
                    log.info(
                        "%s %s: %d payments planned in %d groups (%.1f s)",
                        client_id,
                        business_date,
                        plan.planned,
                        len(plan.groups),
                        time.perf_counter() - started,
                    )
                    _crash_hook(run.committer.committed)
                    settled = returned = cents = stale = 0
                    if plan.planned:
                        settled, returned, cents, stale = _apply_chunks(
                            _chunks(key, plan), snapshot, run.committer
                        )
        finally:
            db.run(lock, "unlock_settlement_day_postgresql", key)
            lock.commit()
    run.counts["SETTLED"] += settled
    run.counts["RETURNED_FUNDS"] += returned
    return not stale, (plan.returned_before[0] + returned, plan.returned_before[1] + cents)


def _settle_round_sqlite(key: dict[str, Any], run: _Run) -> tuple[bool, tuple[int, int]]:
    """SQLite's round (see :func:`_settle_round`): chunk after chunk, each planned under the write
    lock it applies in. The first chunk's payments must be the ones screening covered; each later
    chunk's must be the first's less those applied since, or the day changed under the round."""
    size = chunk_rows()
    expected = None
    returned_before: tuple[int, int] | None = None
    settled = returned = cents = 0
    while True:
        with db.engine().connect() as conn:
            transaction = conn.begin()
            try:
                db.run(conn, "lock_records_sqlite")  # the write lock, before anything is read
                plan = _plan(conn, key, run.limit_cents)
                if returned_before is None:
                    returned_before = plan.returned_before
                if not plan.planned:
                    transaction.rollback()
                    break
                if expected is None:
                    _covered(conn, key, plan, run.thresholds)
                elif plan.seen != expected:
                    transaction.rollback()
                    return False, (returned_before[0] + returned, returned_before[1] + cents)
                _crash_hook(run.committer.committed)
                s, r, c, terms = _apply_next_sqlite(conn, key, plan, size)
                run.committer.commit(transaction)
            except BaseException:
                if transaction.is_active:
                    transaction.rollback()
                raise
        settled, returned, cents = settled + s, returned + r, cents + c
        expected = plan.seen - terms
        log.info(
            "%s %s: %d payments applied, %d settled, %d returned H_FUNDS",
            key["client_id"],
            key["business_date"],
            s + r,
            s,
            r,
        )
    run.counts["SETTLED"] += settled
    run.counts["RETURNED_FUNDS"] += returned
    before = returned_before or (0, 0)
    return True, (before[0] + returned, before[1] + cents)


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


def migrate_v019(conn: Any) -> None:
    """Follow-up of schema version 19 (sql/schema/V019__settlement_without_plan_rows.sql): payments
    stored before version 13 take their value date column from their payload."""
    extract = (
        "CAST(payload AS json) ->> 'value_date'"
        if conn.dialect.name == "postgresql"
        else "json_extract(payload, '$.value_date')"
    )
    conn.execute(
        text(
            f"UPDATE records SET value_date = {extract} WHERE file_type = 'PAY' AND ack_status = 'ACCEPTED' AND value_date IS NULL"
        )
    )


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
    COMPLETED in the same transaction, so a failed write leaves it to the next run. On
    PostgreSQL the files are written :func:`workers` at a time, each on a connection of its
    own: a file's read is the server's work, its CSV the worker's, and one file's server part
    runs beside another's CSV (SQLite: one after the other)."""
    landing = open_store(settings().landing)
    with db.begin() as conn:
        files = db.run(conn, "select_files_for_results", {"business_date": business_date}).all()
        still_open = {
            int(r.file_id)
            for r in db.run(conn, "select_files_with_open_records", {"business_date": business_date})
        }
        parallel = min(workers(), len(files)) if conn.dialect.name == "postgresql" else 1
    ready = [f for f in files if int(f.file_id) not in still_open]
    if parallel < 2:
        return [_write_result(landing, f) for f in ready]
    with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="results") as pool:
        return list(pool.map(lambda f: _write_result(landing, f), ready))


def _write_result(landing: Any, f: Any) -> str:
    """Write one file's ``<stem>.ret.csv`` and mark the file COMPLETED, in one transaction."""
    from daybook import clearing

    key = f"{f.folder}/outbox/{f.stem}.ret.csv"
    with db.begin() as conn:
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
        with clearing.arrow_rows(conn, "select_ret_rows", {"file_id": f.file_id}, ints=("amount_cents",)) as (
            _,
            batches,
        ):
            landing.put_stream(key, _ret_pieces(batches))
    return key


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
