"""Run a business day through the real DAGs in-process (``dag.test()``), stage by stage.

This is not a second code path: each stage is the same DAG the scheduler runs, executed by
Airflow on the configured metadata database, with the business date passed as a run param.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

from daybook.config import DB_POOL, PROJECT_ROOT, settings

log = logging.getLogger(__name__)
STAGES = ("intake", "validation", "approval", "settlement", "archive")


def airflow_env(home: Path | None = None) -> dict[str, str]:
    """Airflow settings for the embedded default, unless the environment already sets them."""
    home = home or settings().home
    airflow_home = home / "airflow"
    return {
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home / 'airflow.db'}",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
    }


def prepare_airflow() -> None:
    """Point Airflow at the project (if not configured), migrate its metadata DB, create the pool.

    Done once per metadata database and pool size (a marker file remembers both)."""
    for key, value in airflow_env().items():
        os.environ.setdefault(key, value)
    home = Path(os.environ["AIRFLOW_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    marker = home / ".daybook-migrated"
    slots = settings().db_pool_slots
    done = f"{os.environ['AIRFLOW__DATABASE__SQL_ALCHEMY_CONN']} pool={slots}"
    if marker.exists() and marker.read_text() == done:
        return
    airflow = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow, "db", "migrate"], check=True, stdout=subprocess.DEVNULL)
    ensure_pool(slots)
    marker.write_text(done)


def ensure_pool(slots: int) -> None:
    """Create or resize the business-DB pool (``airflow pools set`` is idempotent)."""
    airflow = str(Path(sys.executable).with_name("airflow"))
    description = "daybook: row-scaling tasks working on the business database at once"
    subprocess.run(
        [airflow, "pools", "set", DB_POOL, str(slots), description],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def run_stage(stage: str, business_date: str) -> str:
    """Run one stage's DAG for the business date; returns the run's final state."""
    prepare_airflow()
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags" / f"{stage}_daily.py"))
    if bag.import_errors:
        raise RuntimeError(f"DAG import errors: {bag.import_errors}")
    dag = bag.dags[f"{stage}_daily"]
    run = dag.test(run_conf={"business_date": business_date})
    state = str(run.state.value if hasattr(run.state, "value") else run.state)
    log.info("%s_daily for %s: %s", stage, business_date, state)
    return state


def run_day(business_date: str, through: str = "archive") -> dict[str, str]:
    """Run the stages from intake through ``through``; stops at the first failed stage."""
    from daybook import db

    if through not in STAGES:
        raise ValueError(f"unknown stage {through!r}; one of {', '.join(STAGES)}")
    db.migrate()
    states: dict[str, str] = {}
    for stage in STAGES[: STAGES.index(through) + 1]:
        states[stage] = run_stage(stage, business_date)
        if states[stage] != "success":
            break
    return states
