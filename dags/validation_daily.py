"""## Validation (daily)

Runs the business type's Great Expectations suite over every file that passed intake for the
business date, maps failing rows to reason codes, writes `<stem>.ack.csv` (or `<stem>.rej`
with F_ERROR_RATE) and publishes the accepted rows for approval. One mapped task per client:
a client's files are validated in sequence order so the earlier file owns a `client_ref`.
Data Docs for each file are kept under the day's outputs. Started by the intake asset.

Runbook: docs/runbooks/validation.md
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, get_current_context, task

from daybook.dag_support import DEFAULT_ARGS, INTAKE_DONE, PARAMS, VALIDATED, emit, resolve_business_date


@dag(
    dag_id="validation_daily",
    schedule=[INTAKE_DONE],
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    params=PARAMS,
    doc_md=__doc__,
    tags=["daybook", "validation"],
)
def validation_daily():
    @task
    def resolve_date() -> str:
        return resolve_business_date(get_current_context())

    @task
    def list_clients(business_date: str) -> list[str]:
        from daybook import validation

        return validation.list_clients(business_date)

    @task(map_index_template="{{ client_id }}")
    def validate_client(client_id: str, business_date: str) -> list[dict]:
        from daybook import validation

        return validation.validate_client(client_id, business_date)

    @task(outlets=[VALIDATED], trigger_rule="none_failed")
    def publish_validation(business_date: str, results: list | None = None) -> dict:
        files = [f for per_client in results or [] for f in per_client]
        summary = {
            "files": len(files),
            "rows": sum(f.get("rows", 0) for f in files),
            "rejected_rows": sum(f.get("rejected", 0) for f in files),
        }
        emit(get_current_context(), VALIDATED, business_date, **summary)
        return summary

    day = resolve_date()
    done = validate_client.partial(business_date=day).expand(client_id=list_clients(day))
    publish_validation(day, done)


validation_daily()
