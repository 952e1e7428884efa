"""## Approval (daily)

Routes the business date's accepted rows by the client's rules: PAY by amount and risk flags,
LOAN by credit policy (declined at once with A_POLICY, approved by rule, or sent to people);
waiting rows need one (L1) or two distinct (L2) reviewers, who decide in the Airflow UI
(*Browse > Approval queue*), through the plugin's REST API or with `daybook approvals`.
The run waits (reschedule mode: no worker slot held) until nothing is waiting or each waiting
client's approval cutoff has passed, raising a backlog alert shortly before the cutoff;
undecided rows then become final with A_EXPIRED. Finally a supervisor releases the day's
batch to settlement (Airflow human-in-the-loop: *Required Actions*). In the demo only, the
named demo approver (`DAYBOOK_DEMO_APPROVER`) answers instead, recorded as such in the audit.

Runbook: docs/runbooks/approval.md
"""

from __future__ import annotations

from datetime import timedelta

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import dag, get_current_context, task

from daybook.dag_support import (
    APPROVED,
    DEFAULT_ARGS,
    PARAMS,
    START_DATE,
    VALIDATED,
    emit,
    resolve_business_dates,
)
from daybook.deadlines import deadline_for


@dag(
    dag_id="approval_daily",
    deadline=deadline_for("approval"),
    schedule=[VALIDATED],
    start_date=START_DATE,
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

        return all([approval.poke_decisions(d) for d in business_dates])  # every date's alerts, each poke

    @task
    def expire_undecided(business_dates: list[str]) -> int:
        from daybook import approval

        return sum(approval.expire(d) for d in business_dates)

    @task
    def summarize_batch(business_dates: list[str]) -> str:
        from daybook import approval

        return approval.batch_summary(business_dates)

    @task.branch
    def choose_release() -> str:
        from daybook.config import settings

        # Named demo switch, never a silent auto-approve: see release_by_demo_approver.
        return "release_by_demo_approver" if settings().demo_approver else "release_batch"

    release_batch = ApprovalOperator(
        task_id="release_batch",
        subject="Release the settlement batch of {{ ti.xcom_pull(task_ids='resolve_dates') | join(', ') }}",
        body="{{ ti.xcom_pull(task_ids='summarize_batch') }}",
        ignore_downstream_trigger_rules=True,
        response_timeout=timedelta(hours=12),
    )

    @task
    def record_release(business_dates: list[str]) -> str:
        from daybook import approval

        answer = get_current_context()["ti"].xcom_pull(task_ids="release_batch") or {}
        user = answer.get("responded_by_user") or {}
        name = user.get("name") or user.get("id") or "unknown"
        approval.record_release(business_dates, name, "airflow human-in-the-loop")
        return name

    @task
    def release_by_demo_approver(business_dates: list[str]) -> str:
        from daybook import approval
        from daybook.config import settings

        name = settings().demo_approver.split(",")[0].strip()
        approval.record_release(business_dates, name, "demo approver (DAYBOOK_DEMO_APPROVER)")
        return name

    @task(outlets=[APPROVED], trigger_rule="none_failed_min_one_success")
    def publish_approval(business_dates: list[str]) -> None:
        emit(get_current_context(), APPROVED, business_dates)

    day = resolve_dates()
    branch = choose_release()
    (
        apply_rules(day)
        >> demo_reviewers(day)
        >> wait_for_decisions(day)
        >> expire_undecided(day)
        >> summarize_batch(day)
        >> branch
    )
    human = record_release(day)
    demo = release_by_demo_approver(day)
    branch >> release_batch >> human
    branch >> demo
    [human, demo] >> publish_approval(day)


approval_daily()
