"""## Approval (daily)

Routes the business date's accepted rows by the client's rules: approved automatically, or
waiting for one (L1) or two distinct (L2) reviewers. Reviewers decide with
`daybook approvals approve|decline`. The run waits (reschedule mode: no worker slot held)
until nothing is waiting or each waiting client's approval cutoff has passed; undecided rows
then become final with A_EXPIRED. Started by the validation asset.

Runbook: docs/runbooks/approval.md
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, get_current_context, task

from daybook.dag_support import APPROVED, DEFAULT_ARGS, PARAMS, VALIDATED, emit, resolve_business_dates


@dag(
    dag_id="approval_daily",
    schedule=[VALIDATED],
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    params=PARAMS,
    doc_md=__doc__,
    tags=["daybook", "approval"],
)
def approval_daily():
    @task
    def resolve_dates() -> list[str]:
        return resolve_business_dates(get_current_context())

    @task
    def apply_rules(business_dates: list[str]) -> dict:
        from daybook import approval

        return {d: approval.assess(d) for d in business_dates}

    @task
    def demo_reviewers(business_dates: list[str]) -> int:
        from daybook import approval

        return sum(approval.demo_decide(d) for d in business_dates)

    @task.sensor(poke_interval=60, timeout=24 * 3600, mode="reschedule")
    def wait_for_decisions(business_dates: list[str]) -> bool:
        from daybook import approval

        return all(approval.decisions_complete(d) for d in business_dates)

    @task
    def expire_undecided(business_dates: list[str]) -> int:
        from daybook import approval

        return sum(approval.expire(d) for d in business_dates)

    @task(outlets=[APPROVED])
    def publish_approval(business_dates: list[str]) -> None:
        emit(get_current_context(), APPROVED, business_dates)

    day = resolve_dates()
    (
        apply_rules(day)
        >> demo_reviewers(day)
        >> wait_for_decisions(day)
        >> expire_undecided(day)
        >> publish_approval(day)
    )


approval_daily()
