"""Payloads of records written straight into the business database by tests (plain SQL, not the
code under test). Since schema version 16 (sql/schema/V016__record_payloads.sql) a record's
payload is a row of record_payloads with the record's file_id, line_no, client_id and
business_date; a database migrated only to an older version still keeps it in records.payload."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy

INSERT_PAYLOAD = sqlalchemy.text(
    "INSERT INTO record_payloads (file_id, line_no, client_id, business_date, payload)"
    " VALUES (:file_id, :line_no, :client_id, :business_date, :payload)"
)


def records_hold_payload(conn: sqlalchemy.Connection) -> bool:
    """True on a database migrated only to a version before 16: records still has its payload column."""
    return any(c["name"] == "payload" for c in sqlalchemy.inspect(conn).get_columns("records"))


def add_payloads(conn: sqlalchemy.Connection, rows: Iterable[Mapping[str, Any]]) -> None:
    """Insert one record_payloads row per mapping (keys file_id, line_no, client_id,
    business_date, payload), in the caller's transaction."""
    rows = [dict(r) for r in rows]
    if rows:
        conn.execute(INSERT_PAYLOAD, rows)
