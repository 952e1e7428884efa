"""## Intake (daily)

Picks up complete client drops (data file + control file) from every client folder of the
landing zone for the business date, keeps the exact bytes in the raw zone, registers them,
applies the file-level checks of the client file contract in their order, writes `<stem>.rej`
for a refused file and moves the inbox copy to `processed/` or `rejected/`. One mapped task
per file. Emits the intake asset with the business date, which starts validation.

Sensing: `wait_for_drops` pokes in reschedule mode (no worker slot held while waiting) until a
complete drop is there, nothing is waiting for its other half (a data file for its control file or
the reverse), or a client with such a half reaches its intake cutoff. `alert_cutoff` then records
INCOMPLETE_FILE / MISSING_FILE alert events for clients past their cutoff, and answers a control
file without its data file `<stem>.rej` (F_CONTROL; it stays in the inbox for a late data file).
UNKNOWN_CLIENT is recorded when the inbox is listed; PROFILE_INVALID (a client profile that cannot be
used) wherever intake reads the profile, and only that client's files are left waiting.

Runbook: docs/runbooks/intake.md
"""

from __future__ import annotations

from airflow.sdk import dag, get_current_context, task

from daybook.dag_support import (
    DEFAULT_ARGS,
    INTAKE_DONE,
    PARAMS,
    START_DATE,
    emit,
    heavy_task,
    resolve_business_date,
)
from daybook.deadlines import deadline_for


@dag(
    dag_id="intake_daily",
    deadline=deadline_for("intake"),
    schedule="0 9-16 * * 1-5",
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    params=PARAMS,
    doc_md=__doc__,
    tags=["daybook", "intake"],
)
def intake_daily():
    @task
    def resolve_date() -> str:
        return resolve_business_date(get_current_context())

    @task.sensor(mode="reschedule", poke_interval=120, timeout=12 * 3600)
    def wait_for_drops(business_date: str) -> bool:
        from daybook import intake

        return intake.drops_ready(business_date)

    @task
    def list_drops(business_date: str) -> list[dict]:
        from daybook import intake

        return intake.list_drops(business_date)

    @task(map_index_template="{{ drop.folder }}/{{ drop.name }}", **heavy_task())
    def process_drop(drop: dict, business_date: str) -> dict:
        from daybook import intake

        return intake.process_drop(drop, business_date)

    @task(outlets=[INTAKE_DONE], trigger_rule="none_failed")
    def publish_intake(business_date: str, results: list[dict] | None = None) -> dict:
        outcomes = [r["status"] for r in results or []]
        summary = {
            "files": len(outcomes),
            "accepted": outcomes.count("INTAKE_OK"),
            "rejected": outcomes.count("REJECTED"),
        }
        emit(get_current_context(), INTAKE_DONE, business_date, **summary)
        return summary

    @task(trigger_rule="none_failed")
    def alert_cutoff(business_date: str) -> list[dict]:
        from daybook import intake

        return intake.alert_at_cutoff(business_date)

    day = resolve_date()
    drops = list_drops(day)
    wait_for_drops(day) >> drops
    done = process_drop.partial(business_date=day).expand(drop=drops)
    publish_intake(day, done) >> alert_cutoff(day)


intake_daily()
