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
from collections.abc import Iterator
from typing import Any

from sqlalchemy import text

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


FETCH_ROWS = 20_000


class _Rendered:
    """The data file's bytes as a stream of pieces (one per fetched batch), with its row count,
    total in cents and sha256 taken on the way (known once the stream is consumed)."""

    def __init__(self, result: Any) -> None:
        self.result = result
        self.count = 0
        self.total_cents = 0
        self.sha256 = hashlib.sha256()

    def __iter__(self) -> Iterator[bytes]:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(HEADER)
        while rows := self.result.fetchmany(FETCH_ROWS):
            cents = [int(r[9]) for r in rows]
            self.count += len(rows)
            self.total_cents += sum(cents)
            writer.writerows(
                (r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], format_cents(c), r[10])
                for r, c in zip(rows, cents, strict=True)
            )
            yield self._take(buf)
        if buf.tell():
            yield self._take(buf)

    def _take(self, buf: io.StringIO) -> bytes:
        data = buf.getvalue().encode("utf-8")
        buf.seek(0)
        buf.truncate()
        self.sha256.update(data)
        return data


def control_line(data_name: str, sha256_hex: str, count: int, total_cents: int) -> bytes:
    return f"{data_name}|{count}|{format_cents(total_cents)}|{sha256_hex}\n".encode()


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
            result = conn.execute(
                text(db.sql(f"select_clearing_rows_{conn.dialect.name}")),
                key,
                execution_options={"stream_results": True, "yield_per": FETCH_ROWS},
            )
            data = _Rendered(result)
            out.put_stream(data_key, data)
        ctl = control_line(data_key.rsplit("/", 1)[-1], data.sha256.hexdigest(), data.count, data.total_cents)
        out.put(ctl_key, ctl)
        written.append(data_key)
    return written
