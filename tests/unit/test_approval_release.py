"""The day's batch is released by a supervisor (Airflow HITL) unless the named demo switch is set."""

from __future__ import annotations

from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"


@pytest.fixture(scope="module")
def dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS / "approval_daily.py"))
    assert bag.import_errors == {}
    return bag.dags["approval_daily"]


def test_release_is_a_human_in_the_loop_approval_that_gates_publishing(dag):
    from airflow.providers.standard.operators.hitl import ApprovalOperator

    release = dag.get_task("release_batch")
    assert isinstance(release, ApprovalOperator)
    assert release.ignore_downstream_trigger_rules is True  # Reject skips publishing entirely
    assert "publish_approval" in {t.task_id for t in release.get_flat_relatives(upstream=False)}
    assert dag.get_task("publish_approval").trigger_rule == "none_failed_min_one_success"


def test_only_the_named_demo_approver_bypasses_the_supervisor(dag, monkeypatch):
    choose = dag.get_task("choose_release").python_callable
    monkeypatch.delenv("DAYBOOK_DEMO_APPROVER", raising=False)
    assert choose() == "release_batch"
    monkeypatch.setenv("DAYBOOK_DEMO_APPROVER", "demo.reviewer.wang")
    assert choose() == "release_by_demo_approver"
