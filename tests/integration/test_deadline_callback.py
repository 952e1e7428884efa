"""Deadlines: the one switch, and the DeadlineAlert callback run the way the triggerer runs it
(CallbackTrigger with the scheduler's simple context), delivering one page."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from alert_receivers import start
from daybook import alerting, db
from daybook.deadlines import deadline_for

pytestmark = pytest.mark.integration


def test_deadlines_are_off_unless_switched_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DAYBOOK_DEADLINES", raising=False)
    assert deadline_for("settlement") is None
    monkeypatch.setenv("DAYBOOK_DEADLINES", "on")
    from airflow.sdk.definitions.deadline import DagRunQueuedAtDeadline

    [alert] = deadline_for("settlement")
    assert isinstance(alert.reference, DagRunQueuedAtDeadline)
    assert alert.interval == timedelta(minutes=60)
    assert alert.callback.path == "daybook.deadlines.deadline_missed"
    assert alert.callback.kwargs == {"stage": "settlement", "budget_minutes": 60}


@pytest.mark.parametrize("backend", ["sqlite"])
def test_deadline_callback_records_and_pages_once(business_db, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.triggers.callback import CallbackTrigger

    received, stop = start(monkeypatch)
    try:
        context = {
            "dag_run": {
                "dag_id": "settlement_daily",
                "dag_run_id": "manual__2026-11-27",
                "conf": {"business_date": "2026-11-27"},
            },
            "deadline": {"id": "d1", "deadline_time": "2026-11-27T11:00:00+00:00"},
        }

        async def run_trigger() -> list:
            trigger = CallbackTrigger(
                "daybook.deadlines.deadline_missed",
                {"stage": "settlement", "budget_minutes": 60, "context": dict(context)},
            )
            return [event.payload async for event in trigger.run()]

        payloads = asyncio.run(run_trigger())
        assert [p["state"] for p in payloads] == ["running", "success"]
        key = "deadline:settlement_daily:manual__2026-11-27"
        assert payloads[1]["body"] == key
        [page] = received.pagerduty
        assert (page["dedup_key"], page["event_action"], page["routing_key"]) == (
            key,
            "trigger",
            "ops-routing-key",
        )
        assert page["payload"]["summary"].startswith("[CRITICAL] DEADLINE_MISSED - 2026-11-27")
        [slack] = received.slack
        assert "Stage: settlement" in slack["body"]["text"]
        assert "Runbook: docs/runbooks/deadline_missed.md" in slack["body"]["text"]
        assert (
            "Airflow run: http://localhost:8080/dags/settlement_daily/runs/manual__2026-11-27"
            in slack["body"]["text"]
        )

        asyncio.run(run_trigger())  # a second miss of the same run: no second page
        assert alerting.deliver() == {"sent": 0, "failed": 0}
        assert len(received.pagerduty) == 1
        with db.begin() as conn:
            assert (
                conn.exec_driver_sql(
                    "SELECT COUNT(*) FROM alert_events WHERE kind = 'DEADLINE_MISSED'"
                ).scalar()
                == 1
            )
    finally:
        stop()
