"""## SLA report (monthly)

On the 1st of each month: the previous month's SLA report per client (the month's on-time file,
STP, reject and settlement-on-time rates over all its files and records; alerts raised and
resolved), kept in the outputs under `monthly/<YYYY-MM>/sla.html`.

Definitions: docs/kpi.md. Runbook: docs/runbooks/day_not_closed.md
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, get_current_context, task

from daybook.config import BUSINESS_TZ
from daybook.dag_support import DEFAULT_ARGS, START_DATE


@dag(
    dag_id="report_monthly",
    schedule="0 8 1 * *",
    start_date=START_DATE,
    catchup=False,
    default_args=DEFAULT_ARGS,
    doc_md=__doc__,
    tags=["daybook", "report"],
)
def report_monthly():
    @task
    def write_sla_report() -> str:
        from daybook import kpi

        context = get_current_context()
        logical = context.get("logical_date") or context["dag_run"].run_after
        first = logical.astimezone(BUSINESS_TZ).date().replace(day=1)
        previous = (first - pendulum.duration(days=1)).strftime("%Y-%m")
        return kpi.write_monthly_report(previous)

    write_sla_report()


report_monthly()
