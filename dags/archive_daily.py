"""## Archive (daily)

Writes one package per client for the business date (exact original bytes, return files and a
sha256 manifest) to the archive root, then closes the business date once every client's files
are final. One mapped task per client. Started by the settlement asset.

Runbook: docs/runbooks/archive.md
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, get_current_context, task

from daybook.dag_support import ARCHIVED, DEFAULT_ARGS, PARAMS, SETTLED, emit, resolve_business_date


@dag(
    dag_id="archive_daily",
    schedule=[SETTLED],
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    params=PARAMS,
    doc_md=__doc__,
    tags=["daybook", "archive"],
)
def archive_daily():
    @task
    def resolve_date() -> str:
        return resolve_business_date(get_current_context())

    @task
    def list_clients(business_date: str) -> list[str]:
        from daybook import archive

        return archive.list_clients(business_date)

    @task(map_index_template="{{ client_id }}")
    def build_package(client_id: str, business_date: str) -> dict:
        from daybook import archive

        return archive.build_package(client_id, business_date)

    @task(outlets=[ARCHIVED], trigger_rule="none_failed")
    def close_day(business_date: str, packages: list | None = None) -> dict:
        from daybook import archive

        closed = archive.close_day(business_date)
        emit(get_current_context(), ARCHIVED, business_date, closed=closed)
        return {"packages": len(packages or []), "closed": closed}

    day = resolve_date()
    packages = build_package.partial(business_date=day).expand(client_id=list_clients(day))
    close_day(day, packages)


archive_daily()
