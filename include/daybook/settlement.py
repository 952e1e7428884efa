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
import io
import json
import logging
from typing import Any

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


def _legs(record: Any) -> list[dict[str, Any]]:
    debit, credit = ("PREFUND", "CLEARING") if record["file_type"] == "PAY" else ("LOANS", "DISBURSEMENT")
    base = {
        "business_no": record["business_no"],
        "client_id": record["client_id"],
        "business_date": record["business_date"],
        "amount_cents": record["amount_cents"],
    }
    return [
        {**base, "leg": "D", "account": f"{record['client_id']}:{debit}"},
        {**base, "leg": "C", "account": f"{record['client_id']}:{credit}"},
    ]


def post_ledger(business_date: str) -> dict[str, int]:
    """Settle or disburse the day's approved records, exactly once."""
    db.migrate()
    counts = {"SETTLED": 0, "DISBURSED": 0, "RETURNED_FUNDS": 0}
    with db.begin() as conn:
        clients = [
            r.client_id
            for r in db.run(
                conn, "select_clients_with_state", {"business_date": business_date, "state": "APPROVED"}
            )
        ]
    for client_id in clients:
        profile = profiles.load(client_id)
        with db.begin() as conn:
            used = db.run(
                conn,
                "select_prefund_used",
                {"client_id": client_id, "account": f"{client_id}:PREFUND", "business_date": business_date},
            ).scalar_one()
            approved = [
                dict(r._mapping)
                for r in db.run(
                    conn, "select_approved_records", {"client_id": client_id, "business_date": business_date}
                )
            ]
            pays = sorted(
                (r for r in approved if r["file_type"] == "PAY"),
                key=lambda r: (json.loads(r["payload"])["value_date"], r["seq"], r["file_id"], r["line_no"]),
            )
            available = profile.prefund_limit_cents - int(used or 0)
            settle, short = [], []
            for r in pays:
                if r["amount_cents"] <= available:
                    available -= r["amount_cents"]
                    settle.append(r)
                else:
                    short.append(r)
            loans = [r for r in approved if r["file_type"] == "LOAN"]
            postings = [leg for r in settle + loans for leg in _legs(r)]
            if postings:
                db.run(conn, "insert_ledger_entry", postings)
            finals = [
                *({"business_no": r["business_no"], "state": "SETTLED", "final_code": None} for r in settle),
                *({"business_no": r["business_no"], "state": "DISBURSED", "final_code": None} for r in loans),
                *(
                    {"business_no": r["business_no"], "state": "RETURNED", "final_code": "H_FUNDS"}
                    for r in short
                ),
            ]
            if finals:
                db.run(
                    conn,
                    "update_record_final",
                    [{**f, "final_date": business_date, "expected": "APPROVED"} for f in finals],
                )
            if short:
                events.alert(
                    conn,
                    "PREFUND_SHORT",
                    f"{len(short)} payments of {client_id} returned H_FUNDS: prefunded balance "
                    f"{format_cents(profile.prefund_limit_cents)} exhausted",
                    dedup_key=f"prefund-short:{client_id}:{business_date}",
                    severity="critical",
                    client_id=client_id,
                    business_date=business_date,
                )
        counts["SETTLED"] += len(settle)
        counts["DISBURSED"] += len(loans)
        counts["RETURNED_FUNDS"] += len(short)
    log.info("settlement for %s: %s", business_date, counts)
    return counts


def _ret_bytes(rows: list[Any]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(RET_HEADER)
    for r in rows:
        writer.writerow(
            [
                r.client_ref,
                r.business_no,
                r.state,
                r.final_code or "",
                format_cents(r.amount_cents),
                r.final_date,
            ]
        )
    return buf.getvalue().encode("utf-8")


def write_results(business_date: str) -> list[str]:
    """Write ``<stem>.ret.csv`` for every file of the day whose accepted rows are all final."""
    landing = open_store(settings().landing)
    written = []
    with db.begin() as conn:
        files = db.run(conn, "select_files_for_results", {"business_date": business_date}).all()
    for f in files:
        with db.begin() as conn:
            open_rows = db.run(conn, "count_open_records", {"file_id": f.file_id}).scalar_one()
            if open_rows:
                continue
            rows = db.run(conn, "select_ret_rows", {"file_id": f.file_id}).all()
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
        key = f"{f.folder}/outbox/{f.stem}.ret.csv"
        landing.put(key, _ret_bytes(rows))
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


__all__ = ["FINAL_STATES", "business_types", "ledger_totals", "post_ledger", "write_results"]
