"""## Archive retention (daily)

Finds archive packages past their retention date (default 10 years per record class), skips
those under a legal hold, asks a person to approve the deletion (Airflow human-in-the-loop:
*Required Actions*), then deletes them and writes a deletion certificate for each (what, when,
hashes, who approved). The date that decides expiry is the run's business date, never the clock.

Runbook: docs/runbooks/retention.md
"""

from __future__ import annotations

from datetime import timedelta

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import dag, get_current_context, task

from daybook.dag_support import DEFAULT_ARGS, PARAMS, START_DATE, resolve_business_date


@dag(
    dag_id="retention_daily",
    schedule="0 6 * * *",
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    params=PARAMS,
    doc_md=__doc__,
    tags=["daybook", "archive"],
)
def retention_daily():
    @task
    def resolve_today() -> str:
        return resolve_business_date(get_current_context())

    @task.short_circuit
    def list_expired(today: str) -> str:
        from daybook import retention

        pkgs = [p for p in retention.expired(today) if not p["holds"]]
        if not pkgs:
            return ""
        return "\n".join(
            f"- {p['client_id']} {p['business_date']} (kept until {p['retain_until']})" for p in pkgs
        )

    approve_deletion = ApprovalOperator(
        task_id="approve_deletion",
        subject="Delete archive packages past their retention date",
        body="{{ ti.xcom_pull(task_ids='list_expired') }}",
        response_timeout=timedelta(days=7),
    )

    @task
    def delete_expired(today: str) -> dict:
        from daybook import retention

        answer = get_current_context()["ti"].xcom_pull(task_ids="approve_deletion") or {}
        user = answer.get("responded_by_user") or {}
        return retention.delete_expired(today, approved_by=user.get("name") or user.get("id") or "unknown")

    today = resolve_today()
    list_expired(today) >> approve_deletion >> delete_expired(today)


retention_daily()
