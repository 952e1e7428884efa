"""## KPI report (daily)

After the archive of a business date: the day's service KPIs per client (on-time files, STP,
reject rate by reason code, approval turnaround p50/p95, settlement on time, alerts raised and
resolved) as an HTML report with charts, kept with the day's outputs (`<date>/kpi/kpi.html`).

Definitions: docs/kpi.md. Runbook: docs/runbooks/day_not_closed.md (a report before the day closed
is provisional).
"""

from __future__ import annotations

from airflow.sdk import dag, get_current_context, task

from daybook.dag_support import ARCHIVED, DEFAULT_ARGS, PARAMS, START_DATE, resolve_business_dates


@dag(
    dag_id="report_daily",
    schedule=[ARCHIVED],
    start_date=START_DATE,
    catchup=False,
    default_args=DEFAULT_ARGS,
    params=PARAMS,
    doc_md=__doc__,
    tags=["daybook", "report"],
)
def report_daily():
    @task
    def write_kpi_report() -> list[str]:
        from daybook import kpi

        return [kpi.write_daily_report(d) for d in resolve_business_dates(get_current_context())]

    write_kpi_report()


report_daily()
