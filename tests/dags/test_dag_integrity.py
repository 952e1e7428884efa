"""Every DAG imports cleanly, follows the house rules, and touches nothing at parse time."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

from daybook.dag_support import APPROVED_TAGS

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"
STAGE_DAGS = {"intake_daily", "validation_daily", "approval_daily", "settlement_daily", "archive_daily"}


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_DIR))


def test_dags_import_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) >= STAGE_DAGS


def test_every_dag_follows_the_house_rules(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert re.fullmatch(r"[a-z]+_(daily|hourly|weekly|monthly|adhoc)", dag_id), dag_id
        assert dag.tags and set(dag.tags) <= APPROVED_TAGS, (dag_id, dag.tags)
        assert "daybook" in dag.tags, dag_id
        assert dag.doc_md and "Runbook: docs/runbooks/" in dag.doc_md, dag_id
        runbook = re.search(r"Runbook: (docs/runbooks/\S+\.md)", dag.doc_md).group(1)
        assert (DAGS_DIR.parent / runbook).is_file(), f"{dag_id} links a missing runbook {runbook}"
        for t in dag.tasks:
            assert t.owner == "daybook-ops", (dag_id, t.task_id)
            assert t.retries >= 1, (dag_id, t.task_id)
            assert re.fullmatch(r"[a-z]+(_[a-z]+)+", t.task_id), (dag_id, t.task_id)


def test_stages_are_chained_by_assets(dagbag):
    """Each stage after intake is scheduled on the asset the previous stage emits."""
    from daybook import dag_support as ds

    chain = [
        ("validation_daily", ds.INTAKE_DONE),
        ("approval_daily", ds.VALIDATED),
        ("settlement_daily", ds.APPROVED),
        ("archive_daily", ds.SETTLED),
    ]
    for dag_id, upstream in chain:
        schedule = dagbag.dags[dag_id].schedule
        assert [a.uri for a in schedule] == [upstream.uri], (dag_id, schedule)


def test_settlement_runs_side_by_side_what_does_not_depend_on_each_other(dagbag):
    """After posting: the large-value report beside the holds' expiry; the result files and the
    clearing file after the expiry (every accepted row final), reconciliation after the clearing
    file; publishing after all of them."""
    dag = dagbag.dags["settlement_daily"]

    def upstream(task_id):
        return set(dag.get_task(task_id).upstream_task_ids) - {"resolve_dates"}

    assert upstream("post_ledger") == {"screen_aml"}
    assert upstream("report_large_value") == {"post_ledger"}
    assert upstream("expire_aml_holds") == {"post_ledger"}
    assert upstream("write_results") == {"expire_aml_holds"}
    assert upstream("write_clearing") == {"expire_aml_holds"}
    assert upstream("reconcile_day") == {"write_clearing"}
    assert upstream("publish_settlement") == {"report_large_value", "write_results", "reconcile_day"}


def test_parsing_touches_no_database_file_or_network(tmp_path, monkeypatch):
    """Importing DAG files must not open the business DB, the landing zone or a socket."""
    import importlib.util

    import sqlalchemy

    home = tmp_path / "must-not-exist"
    monkeypatch.setenv("DAYBOOK_HOME", str(home))

    def refuse(*_a, **_k):
        raise AssertionError("network or database access at parse time")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(sqlalchemy, "create_engine", refuse)
    for path in sorted(DAGS_DIR.glob("*.py")):
        spec = importlib.util.spec_from_file_location(f"parse_check_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    assert not home.exists()


def test_every_stage_dag_takes_its_deadline_from_the_one_switch(monkeypatch):
    """With DAYBOOK_DEADLINES=on every stage DAG carries a DeadlineAlert; off (tests, dag.test) none."""
    from airflow.dag_processing.dagbag import DagBag

    for switch, expected in (("on", True), ("off", False)):
        monkeypatch.setenv("DAYBOOK_DEADLINES", switch)
        bag = DagBag(dag_folder=str(DAGS_DIR))
        assert bag.import_errors == {}
        for dag_id in sorted(STAGE_DAGS):
            assert bool(bag.dags[dag_id].deadline) is expected, (dag_id, switch, bag.dags[dag_id].deadline)
