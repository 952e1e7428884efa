"""## Validation (daily)

Runs the business type's Great Expectations suite over every file that passed intake for the
business date(s), maps failing rows to reason codes, writes `<stem>.ack.csv` (or `<stem>.rej`
with F_ERROR_RATE) and publishes the accepted rows for approval. One mapped task per client
and date: a client's files are validated in sequence order so the earlier file owns a
`client_ref`. Data Docs for each file are kept under the day's outputs. Started by the intake
asset.

Runbook: docs/runbooks/validation.md
"""

from __future__ import annotations

from airflow.sdk import dag, get_current_context, task

from daybook.dag_support import (
    DEFAULT_ARGS,
    INTAKE_DONE,
    PARAMS,
    START_DATE,
    VALIDATED,
    emit,
    heavy_task,
    resolve_business_dates,
)
from daybook.deadlines import deadline_for


@dag(
    dag_id="validation_daily",
    deadline=deadline_for("validation"),
    schedule=[INTAKE_DONE],
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    params=PARAMS,
    doc_md=__doc__,
    tags=["daybook", "validation"],
)
def validation_daily():
    @task
    def resolve_dates() -> list[str]:
        return resolve_business_dates(get_current_context())

    @task
    def list_work(business_dates: list[str]) -> list[dict]:
        from daybook import validation

        return [
            {"client_id": c, "business_date": d} for d in business_dates for c in validation.list_clients(d)
        ]

    @task(map_index_template="{{ work.client_id }} {{ work.business_date }}", **heavy_task())
    def validate_client(work: dict) -> list[dict]:
        from daybook import validation

        return validation.validate_client(work["client_id"], work["business_date"])

    @task(outlets=[VALIDATED], trigger_rule="none_failed")
    def publish_validation(business_dates: list[str], results: list | None = None) -> dict:
        from daybook import db

        files = [f for per_client in results or [] for f in per_client]
        if files:
            db.analyze("records")  # the day's records, for approval's queries
        summary = {
            "files": len(files),
            "rows": sum(f.get("rows", 0) for f in files),
            "rejected_rows": sum(f.get("rejected", 0) for f in files),
        }
        emit(get_current_context(), VALIDATED, business_dates, **summary)
        return summary

    dates = resolve_dates()
    done = validate_client.expand(work=list_work(dates))
    publish_validation(dates, done)


validation_daily()
