"""## Client offboarding (ad hoc)

Triggered by hand with the leaving client's id (param `client_id`; `as_of` defaults to the
latest business day of the run). Builds the handover package (every original, return file,
row, approval, ledger posting, audit event and profile version, in CSV/JSON/Parquet with a
sha256 manifest), then waits for a person to sign off (Airflow human-in-the-loop: *Required
Actions*). Approved: the client's live data is deleted (row payloads, landing, raw zone, Data
Docs; archive packages stay until their retention ends) and an OFFBOARDING certificate is
written (what, when, hashes, who approved). Rejected: nothing is deleted.

Runbook: docs/runbooks/offboarding.md
"""

from __future__ import annotations

from datetime import timedelta

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import Param, dag, get_current_context, task

from daybook.dag_support import DEFAULT_ARGS, START_DATE, resolve_business_date


@dag(
    dag_id="offboarding_adhoc",
    schedule=None,
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    params={
        "client_id": Param(
            "", type="string", pattern="^[A-Z0-9]+$", description="The leaving client's id (its folder)."
        ),
        "as_of": Param(
            None,
            type=["null", "string"],
            format="date",
            description="Date the handover is made as of (YYYY-MM-DD); empty = latest business day.",
        ),
    },
    doc_md=__doc__,
    tags=["daybook", "offboarding"],
)
def offboarding_adhoc():
    @task
    def resolve_client() -> dict:
        context = get_current_context()
        params = context["params"]
        if not params.get("client_id"):
            raise ValueError("give the leaving client's id in the client_id param")
        return {
            "client_id": params["client_id"],
            "as_of": params.get("as_of") or resolve_business_date(context),
        }

    @task
    def build_handover(work: dict) -> dict:
        from daybook import offboarding

        return offboarding.build_handover(work["client_id"], work["as_of"])

    @task
    def describe_handover(handover: dict) -> str:
        from daybook import offboarding

        return offboarding.handover_summary(handover)

    approve_offboarding = ApprovalOperator(
        task_id="approve_offboarding",
        subject="Offboard {{ params.client_id }}: delete its live data after the handover",
        body="{{ ti.xcom_pull(task_ids='describe_handover') }}",
        ignore_downstream_trigger_rules=True,
        response_timeout=timedelta(days=7),
    )

    @task
    def purge_live_data(work: dict) -> dict:
        from daybook import offboarding

        answer = get_current_context()["ti"].xcom_pull(task_ids="approve_offboarding") or {}
        user = answer.get("responded_by_user") or {}
        responded_at = answer.get("responded_at")
        return offboarding.purge_live_data(
            work["client_id"],
            work["as_of"],
            approved_by=user.get("name") or user.get("id") or "unknown",
            approved_at=str(responded_at) if responded_at else None,
        )

    work = resolve_client()
    handover = build_handover(work)
    describe_handover(handover) >> approve_offboarding >> purge_live_data(work)


offboarding_adhoc()
