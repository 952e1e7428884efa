"""Stage deadlines: Airflow Deadline Alerts on every stage run, and the per-business-date cutoffs
of the client profiles.

Two kinds of lateness, both ending in an alert event (:mod:`daybook.alerting` delivers it):

* **A run that takes too long** - :func:`deadline_for` gives each stage DAG a ``DeadlineAlert``
  (reference: when the run was queued; interval: the stage's budget in :data:`RUN_BUDGET`).
  The scheduler evaluates it; the triggerer runs :func:`deadline_missed`, which records
  ``DEADLINE_MISSED`` and pages at once. Attached only when the one switch
  ``DAYBOOK_DEADLINES=on`` is set (production compose): ``dag.test()`` crashes with
  ``deadline=`` set (apache/airflow#73428) and deadlines never fire under it, so tests leave it off.
* **A business date's cutoff that passed** - :func:`check_cutoffs` (the hourly alerts DAG) looks
  at each client's profile ``cutoffs`` for the date: after ``cutoffs.settlement`` no approved
  record of the client may still wait (``SETTLEMENT_LATE``). The intake cutoff is intake's own
  MISSING_FILE / INCOMPLETE_FILE check, the approval cutoff is approval's backlog and expiry.
"""

from __future__ import annotations

import asyncio
import os
from datetime import date, datetime, timedelta
from typing import Any

SWITCH = "DAYBOOK_DEADLINES"
# How long after a stage run is queued it must be finished.
RUN_BUDGET: dict[str, timedelta] = {
    "intake": timedelta(minutes=45),
    "validation": timedelta(minutes=60),
    "approval": timedelta(hours=10),  # waits for reviewers up to the approval cutoff
    "settlement": timedelta(minutes=60),
    "archive": timedelta(minutes=60),
}


def deadlines_enabled() -> bool:
    """The one switch: deadlines are attached only when ``DAYBOOK_DEADLINES=on``."""
    return os.environ.get(SWITCH, "").strip().lower() in ("on", "1", "true")


def run_budget(stage: str) -> timedelta:
    """How long after it is queued a run of ``stage`` must be finished: ``RUN_BUDGET[stage]``,
    unless ``DAYBOOK_DEADLINE_SECONDS_<STAGE>`` sets it for an environment (or a test): 1 to
    86400 seconds, else :class:`daybook.config.ConfigError`."""
    from daybook.config import env_int

    seconds = env_int(
        f"DAYBOOK_DEADLINE_SECONDS_{stage.upper()}",
        int(RUN_BUDGET[stage].total_seconds()),
        1,
        24 * 3600,
        "seconds a stage run may take after it is queued, at most a day: each stage runs once a business day",
    )
    return timedelta(seconds=seconds)


def deadline_for(stage: str, interval: timedelta | None = None) -> list[Any] | None:
    """The ``deadline=`` argument of a stage DAG: one DeadlineAlert, or None when switched off."""
    if not deadlines_enabled():
        return None
    from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference

    budget = interval if interval is not None else run_budget(stage)
    return [
        DeadlineAlert(
            reference=DeadlineReference.DAGRUN_QUEUED_AT,
            interval=budget,
            callback=AsyncCallback(
                "daybook.deadlines.deadline_missed",
                kwargs={"stage": stage, "budget_minutes": round(budget.total_seconds() / 60, 2)},
            ),
        )
    ]


def record_deadline_miss(stage: str, budget_minutes: int, context: dict[str, Any] | None) -> str:
    """Record DEADLINE_MISSED for the run in ``context`` (the scheduler's simple context) and
    deliver it now. Returns the alert's dedup key."""
    from daybook import alerting, db, events

    run = (context or {}).get("dag_run") or {}
    dag_id = str(run.get("dag_id") or f"{stage}_daily")
    run_id = str(run.get("dag_run_id") or run.get("run_id") or "unknown")
    conf = run.get("conf") or {}
    business_date = conf.get("business_date") if isinstance(conf, dict) else None
    deadline = ((context or {}).get("deadline") or {}).get("deadline_time")
    key = f"deadline:{dag_id}:{run_id}"
    db.migrate()
    with db.begin() as conn:
        events.alert(
            conn,
            "DEADLINE_MISSED",
            f"{dag_id} run {run_id} is not finished {budget_minutes} minutes after it was queued"
            + (f" (deadline {deadline})" if deadline else ""),
            dedup_key=key,
            severity="critical",
            business_date=business_date,
            stage=stage,
            details={"dag_id": dag_id, "run_id": run_id, "budget_minutes": budget_minutes},
            run_url=events.airflow_run_url(dag_id, run_id),
        )
    alerting.deliver(dedup_key=key)
    return key


async def deadline_missed(stage: str, budget_minutes: int, context: dict[str, Any] | None = None) -> str:
    """The DeadlineAlert callback (runs on the triggerer): record and deliver, off the event loop."""
    return await asyncio.to_thread(record_deadline_miss, stage, budget_minutes, context)


def cutoffs(client_id: str, business_date: str) -> dict[str, datetime]:
    """The client's stage cutoffs (intake, approval, settlement) on one business date, as aware
    datetimes (Asia/Shanghai), each read by :func:`profiles.cutoff`: a broken one is the same
    :class:`profiles.InvalidProfile` the stage that reads it raises as PROFILE_INVALID."""
    from daybook import profiles

    profile = profiles.load(client_id)
    return {stage: profiles.cutoff(profile, stage, business_date) for stage in profiles.DEFAULTS["cutoffs"]}


def check_cutoffs(business_date: str, now: datetime) -> list[str]:
    """Raise SETTLEMENT_LATE for each client whose settlement cutoff on ``business_date`` has
    passed while approved records still wait. Returns the dedup keys raised (or already raised)."""
    from daybook import calendar, db, events, profiles

    if not calendar.is_business_day(date.fromisoformat(business_date)):
        return []
    raised: list[str] = []
    for client_id in profiles.known_clients():
        # One client's unusable profile holds that client's check only: every other client is
        # checked, and this hourly run goes on to deliver the alerts. The stage held is
        # settlement (its cutoff, its SETTLEMENT_LATE), though the check runs in alerts_hourly.
        due = profiles.cutoff_or_hold(
            client_id,
            "settlement",
            business_date,
            "its settlement cutoff is not checked (no SETTLEMENT_LATE) until it is fixed",
        )
        if due is None:
            continue
        if now < due:
            continue
        with db.begin() as conn:
            waiting = int(
                db.run(
                    conn,
                    "count_approved_of_client_day",
                    {"client_id": client_id, "business_date": business_date},
                ).scalar_one()
            )
            if not waiting:
                continue
            key = f"settlement-late:{client_id}:{business_date}"
            events.alert(
                conn,
                "SETTLEMENT_LATE",
                f"{waiting} approved records of {client_id} are not settled at the settlement cutoff "
                f"{due:%H:%M} Asia/Shanghai",
                dedup_key=key,
                severity="critical",
                client_id=client_id,
                business_date=business_date,
                details={"approved_waiting": waiting},
            )
            raised.append(key)
    return raised
