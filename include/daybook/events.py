"""Audit and alert events: the one function each stage calls to record them.

Alert delivery to people (Slack, email, PagerDuty) routes from ``alert_events`` (see
:mod:`daybook.alerting`); recording is idempotent per ``dedup_key`` so a rerun never raises the
same alert twice. An alert recorded inside an Airflow task remembers that task's run, so the
message can link to it.
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import quote

from sqlalchemy import Connection

from daybook import audit_chain, db


def audit(conn: Connection, actor: str, action: str, subject: str, **detail: Any) -> None:
    """Append one audit event to its client's hash chain (see :mod:`daybook.audit_chain`)."""
    audit_many(
        conn,
        [
            {
                "actor": actor,
                "action": action,
                "subject": subject,
                "detail": json.dumps(detail, sort_keys=True, default=str),
            }
        ],
    )


def audit_many(conn: Connection, events: list[dict[str, str]]) -> None:
    """Append several audit events (``detail`` already JSON text) in one go, chained per client."""
    audit_chain.append(conn, events)


def airflow_run_url(dag_id: str, run_id: str) -> str:
    """The Airflow UI page of one DAG run."""
    base = os.environ.get("AIRFLOW__API__BASE_URL", "").strip() or "http://localhost:8080"
    return f"{base.rstrip('/')}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"


def _current_run() -> dict[str, str]:
    """dag_id, run_id and task_id of the running Airflow task, or {} outside a task."""
    try:
        from airflow.sdk import get_current_context

        context = get_current_context()
    except Exception:  # noqa: BLE001 - outside a task there is no context
        return {}
    ti = context.get("ti") or context.get("task_instance")
    dag_run = context.get("dag_run")
    dag_id = getattr(ti, "dag_id", None) or getattr(dag_run, "dag_id", None)
    run_id = getattr(ti, "run_id", None) or getattr(dag_run, "run_id", None)
    if not dag_id or not run_id:
        return {}
    return {"dag_id": str(dag_id), "run_id": str(run_id), "task_id": str(getattr(ti, "task_id", ""))}


def alert(
    conn: Connection,
    kind: str,
    message: str,
    *,
    dedup_key: str,
    severity: str = "warning",
    client_id: str | None = None,
    business_date: str | None = None,
    stage: str | None = None,
    details: dict[str, Any] | None = None,
    run_url: str | None = None,
) -> None:
    """Record one alert event (once per ``dedup_key``).

    ``details`` holds counts and what the condition is about (say ``{"returned": 3}``); they
    appear in the delivered message and let :mod:`daybook.alerting` tell when it clears.
    ``stage`` defaults to the kind's stage in the catalogue. Never put personal data (names,
    ID, card, account or phone numbers) in ``message`` or ``details``: delivery masks long
    digit runs, but names cannot be recognised.
    """
    detail = dict(details or {})
    run = _current_run()
    if run:
        detail.setdefault("dag_id", run["dag_id"])
        detail.setdefault("run_id", run["run_id"])
        if run["task_id"]:
            detail.setdefault("task_id", run["task_id"])
    if run_url is None and detail.get("dag_id") and detail.get("run_id"):
        run_url = airflow_run_url(str(detail["dag_id"]), str(detail["run_id"]))
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
            "stage": stage,
            "details": json.dumps(detail, sort_keys=True, default=str),
            "run_url": run_url,
        },
    )
