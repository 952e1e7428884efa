"""## Alerts (hourly)

Raises the cutoff alerts of the business date (settlement cutoff passed with approved records
waiting; reject spikes), resolves every open alert whose condition cleared, then delivers each
due alert and resolve message once (PagerDuty, Slack, email by severity and client profile).

Routing and the catalogue: docs/alerts.md. Runbook: docs/runbooks/task_failed.md (one per alert kind)
"""

from __future__ import annotations

from airflow.sdk import dag, get_current_context, task

from daybook.dag_support import DEFAULT_ARGS, PARAMS, START_DATE, resolve_business_date


@dag(
    dag_id="alerts_hourly",
    schedule="5 * * * *",
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    params=PARAMS,
    doc_md=__doc__,
    tags=["daybook", "alerts"],
)
def alerts_hourly():
    @task
    def raise_cutoff_alerts() -> dict:
        from datetime import datetime

        from daybook import deadlines, kpi
        from daybook.config import BUSINESS_TZ

        business_date = resolve_business_date(get_current_context())
        return {
            "settlement_late": deadlines.check_cutoffs(business_date, datetime.now(BUSINESS_TZ)),
            "reject_spikes": kpi.check_reject_spikes(business_date),
        }

    @task
    def resolve_cleared(_raised: dict) -> list[str]:
        from daybook import alerting

        return alerting.resolve_cleared()

    @task
    def deliver_alerts(_resolved: list[str]) -> dict:
        from daybook import alerting

        return alerting.deliver()

    deliver_alerts(resolve_cleared(raise_cutoff_alerts()))


alerts_hourly()
