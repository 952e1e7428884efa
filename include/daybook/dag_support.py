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
from zoneinfo import ZoneInfo

from airflow.sdk import Asset, Param

BUSINESS_TZ = ZoneInfo("Asia/Shanghai")
OWNER = "daybook-ops"
DEFAULT_ARGS: dict[str, Any] = {
    "owner": OWNER,
    "retries": 2,
    "retry_delay": timedelta(seconds=30),
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


def resolve_business_date(context: dict[str, Any]) -> str:
    """The business date of this run, as YYYY-MM-DD."""
    explicit = (context.get("params") or {}).get("business_date")
    if explicit:
        return date.fromisoformat(str(explicit)).isoformat()
    triggering = context.get("triggering_asset_events") or {}
    dates = sorted(
        {
            str(ev.extra["business_date"])
            for events in triggering.values()
            for ev in events
            if ev.extra and ev.extra.get("business_date")
        }
    )
    if dates:
        return dates[-1]
    from daybook.calendar import previous_business_day

    logical = context.get("logical_date") or context.get("dag_run").run_after
    return previous_business_day(logical.astimezone(BUSINESS_TZ).date()).isoformat()


def emit(context: dict[str, Any], asset: Asset, business_date: str, **extra: Any) -> None:
    """Record the stage's asset event with the business date for the next stage."""
    context["outlet_events"][asset].extra = {"business_date": business_date, **extra}
