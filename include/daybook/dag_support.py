"""What every daybook DAG shares: owner and retries, the approved tags, the stage assets,
and how a run knows its business date.

A run's business date comes from, in order: the ``business_date`` param (manual and CLI
runs), the business date carried by the asset event that triggered it (the stage chain), or
the latest business day on or before the run's logical date in the business time zone.
It is never taken from the wall clock while a run is working.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pendulum
from airflow.sdk import Asset, Param

from daybook.config import BUSINESS_TZ
from daybook.deadlines import deadline_for, deadlines_enabled  # noqa: F401 - the one deadline switch
from daybook.pii import install_log_masking

# Every task imports this module through its DAG file: daybook's log lines are masked there.
install_log_masking()

OWNER = "daybook-ops"
# Every DAG's start date: the first of 2026 in the business time zone (catchup is off everywhere).
START_DATE = pendulum.datetime(2026, 1, 1, tz=BUSINESS_TZ.key)


def record_task_failure(context: dict[str, Any]) -> None:
    """``on_failure_callback`` of every task: a task failed after all its retries.

    Records one critical TASK_FAILED alert per task instance (a cleared task that fails again
    does not page twice); :mod:`daybook.alerting` delivers it. Never raises.
    """
    try:
        from daybook import alerting, db, events

        ti = context["ti"]
        map_index = getattr(ti, "map_index", -1)
        try:
            dates = resolve_business_dates(context)
        except Exception:  # noqa: BLE001 - a failure before the date is known still alerts
            dates = []
        error = context.get("exception")
        what = alerting.mask(f"{type(error).__name__}: {error}"[:200]) if error else "unknown error"
        with db.begin() as conn:
            events.alert(
                conn,
                "TASK_FAILED",
                f"{ti.dag_id}.{ti.task_id}"
                + (f"[{map_index}]" if map_index >= 0 else "")
                + f" failed after {max(int(getattr(ti, 'try_number', 1) or 1), 1)} tries: {what}",
                dedup_key=f"task-failed:{ti.dag_id}:{ti.run_id}:{ti.task_id}:{map_index}",
                severity="critical",
                business_date=dates[-1] if dates else None,
                stage=ti.dag_id.split("_")[0],
                details={"dag_id": ti.dag_id, "run_id": ti.run_id, "task_id": ti.task_id},
                run_url=events.airflow_run_url(ti.dag_id, ti.run_id),
            )
    except Exception:  # noqa: BLE001 - a failing alert must not hide the task's own failure
        import logging

        logging.getLogger(__name__).exception("could not record the task failure alert")


def heavy_task() -> dict[str, Any]:
    """Task arguments of a task whose work grows with the rows: the DB pool and the heavy queue.

    The queue (DAYBOOK_HEAVY_QUEUE, default ``default``) lets production send these tasks to
    dedicated Celery workers (``airflow celery worker --queues heavy``) while light tasks stay
    on the others. Read from the environment at parse time: no database, no network.
    """
    from daybook.config import DB_POOL, settings

    return {"pool": DB_POOL, "queue": settings().heavy_queue}


DEFAULT_ARGS: dict[str, Any] = {
    "owner": OWNER,
    "retries": 2,
    "retry_delay": timedelta(seconds=30),
    "on_failure_callback": record_task_failure,
}
APPROVED_TAGS = frozenset(
    {
        "daybook",
        "intake",
        "validation",
        "approval",
        "settlement",
        "archive",
        "alerts",
        "report",
        "offboarding",
    }
)

INTAKE_DONE = Asset("daybook://stage/intake")
VALIDATED = Asset("daybook://stage/validation")
APPROVED = Asset("daybook://stage/approval")
SETTLED = Asset("daybook://stage/settlement")
ARCHIVED = Asset("daybook://stage/archive")

PARAMS = {
    "business_date": Param(
        None,
        type=["null", "string"],
        format="date",
        description="Business date YYYY-MM-DD; empty = from the triggering stage or the schedule.",
    )
}


def resolve_business_dates(context: dict[str, Any]) -> list[str]:
    """The business dates this run works on, as sorted YYYY-MM-DD strings.

    One date for a manual or scheduled run. A run started by assets works on every business
    date carried by the events that triggered it: Airflow may fold several upstream events
    (say, two days replayed close together) into one downstream run, and none may be lost.
    """
    explicit = (context.get("params") or {}).get("business_date")
    if explicit:
        return [date.fromisoformat(str(explicit)).isoformat()]
    triggering = context.get("triggering_asset_events") or {}
    dates: set[str] = set()
    for events in triggering.values():
        for ev in events:
            extra = ev.extra or {}
            dates.update(str(d) for d in extra.get("business_dates", []))
            if extra.get("business_date"):
                dates.add(str(extra["business_date"]))
    if dates:
        return sorted(date.fromisoformat(d).isoformat() for d in dates)
    from daybook.calendar import previous_business_day

    logical = context.get("logical_date") or context.get("dag_run").run_after
    return [previous_business_day(logical.astimezone(BUSINESS_TZ).date()).isoformat()]


def resolve_business_date(context: dict[str, Any]) -> str:
    """The one business date of a run that works on a single date (intake)."""
    dates = resolve_business_dates(context)
    if len(dates) != 1:
        raise ValueError(f"this run works on one business date, it was given {dates}")
    return dates[0]


def emit(context: dict[str, Any], asset: Asset, business_dates: str | list[str], **extra: Any) -> None:
    """Record the stage's asset event with the business dates for the next stage."""
    dates = [business_dates] if isinstance(business_dates, str) else list(business_dates)
    context["outlet_events"][asset].extra = {"business_dates": dates, **extra}
