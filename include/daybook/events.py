"""Audit and alert events: the one function each stage calls to record them.

Alert delivery to people (Slack, email, PagerDuty) routes from ``alert_events``; recording is
idempotent per ``dedup_key`` so a rerun never raises the same alert twice.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection

from daybook import db


def audit(conn: Connection, actor: str, action: str, subject: str, **detail: Any) -> None:
    db.run(
        conn,
        "insert_audit_event",
        {
            "actor": actor,
            "action": action,
            "subject": subject,
            "detail": json.dumps(detail, sort_keys=True, default=str),
        },
    )


def alert(
    conn: Connection,
    kind: str,
    message: str,
    *,
    dedup_key: str,
    severity: str = "warning",
    client_id: str | None = None,
    business_date: str | None = None,
) -> None:
    db.run(
        conn,
        "insert_alert_event",
        {
            "dedup_key": dedup_key,
            "kind": kind,
            "severity": severity,
            "client_id": client_id,
            "business_date": business_date,
            "message": message,
        },
    )
