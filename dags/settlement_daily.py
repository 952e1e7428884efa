"""## Settlement (daily)

Screens the day's approved payments for AML (sanctions list, structuring: hits are held for a
four-eyes decision), posts the business date's approved rows to the double-entry ledger exactly once (the business
number is the idempotency key), settling payments in value-date order while the client's
prefunded balance lasts (the rest return with H_FUNDS), disburses approved loans, and writes the
large-value report, returns holds still open at the settlement cutoff (M_AML_HOLD), writes
`<stem>.ret.csv` for every file whose accepted rows are all final, the outbound clearing file per
client, and reconciles (breaks stop the archive). Started by the approval asset.

Runbook: docs/runbooks/settlement.md
"""

from __future__ import annotations

from airflow.sdk import dag, get_current_context, task

from daybook.dag_support import (
    APPROVED,
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
    dag_id="settlement_daily",
    schedule=[APPROVED],
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    deadline=deadline_for("settlement"),
    default_args=DEFAULT_ARGS,
    params=PARAMS,
    doc_md=__doc__,
    tags=["daybook", "settlement"],
)
def settlement_daily():
    @task
    def resolve_dates() -> list[str]:
        return resolve_business_dates(get_current_context())

    @task(**heavy_task())
    def screen_aml(business_dates: list[str]) -> dict:
        from daybook import aml

        return {d: aml.screen(d) for d in business_dates}

    @task(**heavy_task())
    def post_ledger(business_dates: list[str]) -> dict:
        from daybook import settlement

        return {d: settlement.post_ledger(d) for d in business_dates}

    @task
    def report_large_value(business_dates: list[str]) -> list[str]:
        from daybook import aml

        return [key for d in business_dates for key in aml.large_value_report(d)]

    @task
    def expire_aml_holds(business_dates: list[str]) -> int:
        from daybook import aml

        return sum(aml.expire_holds(d) for d in business_dates)

    @task
    def write_results(business_dates: list[str]) -> list[str]:
        from daybook import settlement

        return [key for d in business_dates for key in settlement.write_results(d)]

    @task
    def write_clearing(business_dates: list[str]) -> list[str]:
        from daybook import clearing

        return [key for d in business_dates for key in clearing.write(d)]

    @task
    def reconcile_day(business_dates: list[str]) -> dict:
        from daybook import reconciliation

        return {d: reconciliation.reconcile(d) for d in business_dates}

    @task(outlets=[SETTLED])
    def publish_settlement(business_dates: list[str]) -> None:
        emit(get_current_context(), SETTLED, business_dates)

    day = resolve_dates()
    posted = post_ledger(day)
    screen_aml(day) >> posted
    # After posting, what does not depend on each other runs side by side on a cluster's
    # workers: the large-value report reads the settled payments; the result files and the
    # clearing file wait for the holds expired at the cutoff (every accepted row final), and
    # reconciliation for the clearing file it checks.
    report, expired = report_large_value(day), expire_aml_holds(day)
    results, clearing_file, reconciled = write_results(day), write_clearing(day), reconcile_day(day)
    posted >> [report, expired]
    expired >> [results, clearing_file]
    clearing_file >> reconciled
    [report, results, reconciled] >> publish_settlement(day)


settlement_daily()
