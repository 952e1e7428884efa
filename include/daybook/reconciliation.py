"""Reconciliation (对账) per client and business date, after settlement.

Four figures must agree (docs/settlement.md, "Reconciliation"):

- inbound control totals: each file's control record count and amount total against its
  records (accepted amounts plus the contract total of the rejected rows' amount cells);
- accepted instructions that reached SETTLED / DISBURSED against the ledger: every one has
  its debit and credit of its amount, no posting belongs to anything else, counts and totals
  equal the debits of ``PREFUND`` / ``LOANS``;
- the ledger balances per client and day (debits = credits);
- the outbound clearing file (count, total, and its control file's count, total, sha256)
  against the ``PREFUND`` debits.

Each disagreement is a break: a row in ``recon_breaks``, a line in the breaks report
``reconciliation/<CLIENT>/<date>/<CLIENT>_BRK_<YYYYMMDD>.csv`` (outputs zone), and an alert.
An operator may explain a break (:func:`explain`); the archive refuses a client's day while an
unexplained break remains (:func:`unexplained_breaks`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from daybook import clearing, csvsafe, db, events
from daybook.config import settings
from daybook.fileformat import amount_total_cents
from daybook.settlement import format_cents
from daybook.storage import open_store

log = logging.getLogger(__name__)
DEBIT_ACCOUNT = {"PAY": "PREFUND", "LOAN": "LOANS"}
REPORT_HEADER = ["kind", "subject", "expected", "actual", "explained_by", "explanation"]


def _pair(count: int, cents: int) -> str:
    return f"{count} / {format_cents(cents)}"


class _Chunks(io.RawIOBase):
    """A readable stream over byte pieces, each piece hashed as it is read."""

    def __init__(self, chunks: Iterable[bytes], digest: Any) -> None:
        self._chunks = iter(chunks)
        self._digest = digest
        self._piece = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._piece:
            piece = next(self._chunks, None)
            if piece is None:
                return 0
            self._digest.update(piece)
            self._piece = memoryview(piece)
        n = min(len(buffer), len(self._piece))
        buffer[:n] = self._piece[:n]
        self._piece = self._piece[n:]
        return n


def _clearing_count_total(chunks: Iterable[bytes], digest: Any) -> tuple[int, int]:
    """Data rows and amount total (cents) of a clearing file read as a stream; its bytes go
    through ``digest`` on the way (the whole file is read)."""
    reader = csv.reader(
        io.TextIOWrapper(io.BufferedReader(_Chunks(chunks, digest)), encoding="utf-8", newline="")
    )
    next(reader, None)  # header
    amount = clearing.HEADER.index("amount")
    count = 0

    def amounts() -> Iterator[str]:
        nonlocal count
        for r in reader:
            count += 1
            yield r[amount]

    total = amount_total_cents(amounts())
    return count, total


def _read_clearing(client_id: str, business_date: str) -> tuple[int, int, str, list[str]] | None:
    """The client's clearing file of the day read through: (data rows, amount total in cents,
    sha256 of its bytes, the fields of its control file); None when either file is missing."""
    out_store = open_store(settings().outputs)
    data_key, ctl_key = clearing.names(client_id, business_date)
    if not out_store.exists(data_key) or not out_store.exists(ctl_key):
        return None
    digest = hashlib.sha256()
    count, total = _clearing_count_total(out_store.iter_chunks(data_key), digest)
    ctl = out_store.get(ctl_key).decode("utf-8").strip().split("|")
    return count, total, digest.hexdigest(), ctl


def _breaks(conn: Any, client_id: str, business_date: str) -> list[dict[str, str]]:
    """The day's breaks. The clearing file is read through (in this process) while the database
    answers the other checks' queries (in the server), on a thread of its own."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="recon-clearing") as pool:
        clearing_read = pool.submit(_read_clearing, client_id, business_date)
        return _breaks_given(conn, client_id, business_date, clearing_read)


def _breaks_given(
    conn: Any,
    client_id: str,
    business_date: str,
    clearing_read: Future[tuple[int, int, str, list[str]] | None],
) -> list[dict[str, str]]:
    key = {"client_id": client_id, "business_date": business_date}
    out: list[dict[str, str]] = []

    def brk(kind: str, subject: str, expected: str, actual: str) -> None:
        out.append({"kind": kind, "subject": subject, "expected": expected, "actual": actual})

    # 1. inbound control totals vs records
    for f in db.run(conn, "select_recon_files", key):
        if f.record_count is not None and int(f.records) != int(f.record_count):
            brk("INBOUND_COUNT", f.stem, str(f.record_count), str(f.records))
        if f.amount_total_cents is not None:
            rejected = [
                json.loads(r.payload).get("amount", json.loads(r.payload).get("loan_amount", ""))
                for r in db.run(conn, "select_rejected_payloads", {"file_id": f.file_id})
            ]
            total = int(f.accepted_cents) + amount_total_cents(rejected)
            if total != int(f.amount_total_cents):
                brk("INBOUND_TOTAL", f.stem, format_cents(int(f.amount_total_cents)), format_cents(total))

    # 2. accepted and done vs ledger; 3. entries without their record. (Debits equal credits by
    # construction since V015: a posting is one row with one amount for both of its entries.)
    ledger = {(r.account.split(":", 1)[1], r.leg): r for r in db.run(conn, "select_recon_ledger", key)}
    for r in db.run(conn, "select_recon_done_vs_ledger", key):
        debit = ledger.get((DEBIT_ACCOUNT[r.file_type], "D"))
        posted = _pair(int(debit.entries), int(debit.cents)) if debit else _pair(0, 0)
        expected = _pair(int(r.records), int(r.record_cents))
        if posted != expected or int(r.unposted):
            brk("ACCEPTED_VS_LEDGER", r.file_type, expected, f"{posted} ({int(r.unposted)} unposted)")
    for (account, leg), r in sorted(ledger.items()):
        if int(r.orphans):
            brk("LEDGER_ORPHAN", f"{account}/{leg}", "0", str(int(r.orphans)))

    # 4. clearing file vs ledger
    prefund = ledger.get(("PREFUND", "D"))
    want = _pair(int(prefund.entries), int(prefund.cents)) if prefund else _pair(0, 0)
    data_key, ctl_key = clearing.names(client_id, business_date)
    read = clearing_read.result()
    if read is None:
        if prefund:
            brk("CLEARING_MISSING", data_key.rsplit("/", 1)[-1], want, "no clearing file")
        return out
    count, total, sha256, ctl = read
    got = _pair(count, total)
    if got != want:
        brk("CLEARING_VS_LEDGER", data_key.rsplit("/", 1)[-1], want, got)
    actual_ctl = f"{count}|{format_cents(total)}|{sha256}"
    if len(ctl) != 4 or "|".join(ctl[1:]) != actual_ctl:
        brk("CLEARING_CONTROL", ctl_key.rsplit("/", 1)[-1], "|".join(ctl[1:]), actual_ctl)
    return out


def _fingerprint(rows: list[Any]) -> str:
    return hashlib.sha256(repr([tuple(r) for r in rows]).encode()).hexdigest()[:16]


def reconcile(business_date: str) -> dict[str, int]:
    """Reconcile every client of the day; returns the unexplained breaks per client."""
    db.migrate()
    out_store = open_store(settings().outputs)
    result: dict[str, int] = {}
    with db.begin() as conn:
        clients = sorted(
            {
                r.client_id
                for t in ("PAY", "LOAN")
                for r in db.run(
                    conn, "select_clients_of_day", {"business_date": business_date, "file_type": t}
                )
            }
        )
    for client_id in clients:
        key = {"client_id": client_id, "business_date": business_date}
        with db.begin() as conn:
            found = _breaks(conn, client_id, business_date)
            db.run(conn, "delete_unexplained_breaks", key)
            if found:
                db.run(conn, "insert_recon_break", [{**key, **b} for b in found])
            rows = db.run(conn, "select_recon_breaks", key).all()
            open_breaks = [r for r in rows if r.explained_by is None]
            if open_breaks:
                events.alert(
                    conn,
                    "RECON_BREAK",
                    f"{client_id} {business_date}: {len(open_breaks)} reconciliation breaks ("
                    + ", ".join(sorted({r.kind for r in open_breaks}))
                    + "); the day is not archived until each is fixed or explained",
                    dedup_key=f"recon-break:{client_id}:{business_date}:{_fingerprint(open_breaks)}",
                    severity="critical",
                    client_id=client_id,
                    business_date=business_date,
                )
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(REPORT_HEADER)
        writer.writerows(
            [
                csvsafe.row(
                    [r.kind, r.subject, r.expected, r.actual, r.explained_by or "", r.explanation or ""]
                )
                for r in rows
            ]
        )
        out_store.put(
            f"reconciliation/{client_id}/{business_date}/{client_id}_BRK_{business_date.replace('-', '')}.csv",
            buf.getvalue().encode("utf-8"),
        )
        result[client_id] = len(open_breaks)
    log.info("reconciliation for %s: unexplained breaks %s", business_date, result)
    return result


def unexplained_breaks(client_id: str, business_date: str) -> list[dict[str, Any]]:
    """The client's breaks of the day that nobody explained (the archive gate)."""
    db.migrate()
    with db.begin() as conn:
        rows = db.run(
            conn, "select_recon_breaks", {"client_id": client_id, "business_date": business_date}
        ).mappings()
        return [dict(r) for r in rows if r["explained_by"] is None]


def explain(client_id: str, business_date: str, kind: str, subject: str, user: str, explanation: str) -> None:
    """Record a person's explanation of a break; it then no longer stops the archive."""
    if not user.strip() or not explanation.strip():
        raise ValueError("an explanation needs a person and a text")
    with db.begin() as conn:
        n = db.run(
            conn,
            "update_recon_break_explained",
            {
                "client_id": client_id,
                "business_date": business_date,
                "kind": kind,
                "subject": subject,
                "explained_by": user,
                "explanation": explanation,
            },
        ).rowcount
        if not n:
            raise LookupError(f"no break {kind} {subject} for {client_id} {business_date}")
        events.audit(
            conn,
            user,
            "recon_break_explained",
            f"{client_id}/{business_date}",
            kind=kind,
            break_subject=subject,
            explanation=explanation,
        )
