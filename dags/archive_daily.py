"""## Archive (daily)

Writes one package per client for the business date (exact original bytes, return files, rows
with their final states as Parquet, approval audit, ledger postings, Data Docs, profile versions
and a sha256 manifest; sealed with the archive key, SSE on S3), reads it back and verifies it,
and only then purges staging payloads older than the purge window; then closes the business
date once every client's files are final. One mapped task per client and date. Started by the
settlement asset. Layout: docs/archive.md.

Runbook: docs/runbooks/archive.md
"""

from __future__ import annotations

from airflow.sdk import dag, get_current_context, task

from daybook.dag_support import (
    ARCHIVED,
    DEFAULT_ARGS,
    PARAMS,
    SETTLED,
    START_DATE,
    emit,
    heavy_task,
    resolve_business_dates,
)
from daybook.deadlines import deadline_for


@dag(
    dag_id="archive_daily",
    deadline=deadline_for("archive"),
    schedule=[SETTLED],
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    params=PARAMS,
    doc_md=__doc__,
    tags=["daybook", "archive"],
)
def archive_daily():
    @task
    def resolve_dates() -> list[str]:
        return resolve_business_dates(get_current_context())

    @task
    def list_work(business_dates: list[str]) -> list[dict]:
        from daybook import archive

        return [{"client_id": c, "business_date": d} for d in business_dates for c in archive.list_clients(d)]

    @task(map_index_template="{{ work.client_id }} {{ work.business_date }}", **heavy_task())
    def build_package(work: dict) -> dict:
        from daybook import archive

        return archive.build_package(work["client_id"], work["business_date"])

    @task(outlets=[ARCHIVED], trigger_rule="none_failed")
    def close_day(business_dates: list[str], packages: list | None = None) -> dict:
        from daybook import archive

        closed = [d for d in business_dates if archive.close_day(d)]
        emit(get_current_context(), ARCHIVED, business_dates, closed=closed)
        return {"packages": len(packages or []), "closed": closed}

    dates = resolve_dates()
    packages = build_package.expand(work=list_work(dates))
    close_day(dates, packages)


archive_daily()
