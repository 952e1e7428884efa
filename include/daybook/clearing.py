"""Outbound clearing file (清算文件): the day's settled payments of a client, for the clearing system.

One data file and one control file per client and business date, in the outputs zone, in the
platform's own inbound contract style (docs/settlement.md, "Clearing file"):

    clearing/<CLIENT>/<CLIENT>_CLR_<YYYYMMDD>_001.csv
    clearing/<CLIENT>/<CLIENT>_CLR_<YYYYMMDD>_001.ctl   <data file name>|<count>|<total>|<sha256>

UTF-8, LF line ends, rows ordered by business number, no wall-clock time: a rerun writes the same
bytes. The file is written only once every accepted payment of the client and day is final
(no open AML hold), so it never changes after it is first written.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
from typing import Any

from daybook import db
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


def render(rows: list[Any]) -> tuple[bytes, int, int]:
    """The data file's bytes, its row count and total in cents."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(HEADER)
    total = 0
    for r in rows:
        p = json.loads(r.payload)
        total += int(r.amount_cents)
        writer.writerow(
            [
                r.business_no,
                r.client_ref,
                p["value_date"],
                p["payer_account"],
                p["payer_name"],
                p["payee_account_type"],
                p["payee_account"],
                p["payee_name"],
                p["payee_bank_code"],
                format_cents(int(r.amount_cents)),
                r.currency or p.get("currency", ""),
            ]
        )
    return buf.getvalue().encode("utf-8"), len(rows), total


def control_line(data_name: str, data: bytes, count: int, total_cents: int) -> bytes:
    return f"{data_name}|{count}|{format_cents(total_cents)}|{hashlib.sha256(data).hexdigest()}\n".encode()


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
        with db.begin() as conn:
            if db.run(conn, "count_open_pay_of_client_day", key).scalar_one():
                log.info("clearing file of %s %s waits: payments not final", client_id, business_date)
                continue
            rows = db.run(conn, "select_pay_records_of_day", {**key, "state": "SETTLED"}).all()
        data, count, total = render(rows)
        data_key, ctl_key = names(client_id, business_date)
        out.put(data_key, data)
        out.put(ctl_key, control_line(data_key.rsplit("/", 1)[-1], data, count, total))
        written.append(data_key)
    return written
