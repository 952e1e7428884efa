"""The production topology as processes on 127.0.0.1, driven only by the scheduler.

PostgreSQL (Airflow metadata + business DB), Redis (Celery broker), a loopback S3 endpoint
(moto server) for landing, raw zone, outputs and archive, and Airflow's api-server,
scheduler, dag-processor, triggerer and a Celery worker. A business day is dropped into the
S3 landing, intake is triggered through the REST API, and the asset chain runs the rest by
itself (no dag.test()). The test follows the runs through /api/v2 and checks the outbox,
the ledger and the archive; every process is torn down by its process group id.

Run with ``make stack-test`` (part of .ci/run). Not part of ``make test``: it needs the
machine's PostgreSQL and Redis and takes a few minutes.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from datetime import date
from pathlib import Path

import pytest
import requests
import sqlalchemy

pytestmark = pytest.mark.stack
ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DAY = date(2026, 11, 26)  # a Thursday, a business day
STAGES = ["intake_daily", "validation_daily", "approval_daily", "settlement_daily", "archive_daily"]
PG = os.environ.get("DAYBOOK_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("DAYBOOK_TEST_REDIS_URL", "redis://127.0.0.1:6379")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_http(url: str, seconds: float, procs: dict[str, subprocess.Popen]) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for name, p in procs.items():
            if p.poll() is not None:
                raise RuntimeError(f"{name} exited with {p.returncode} while waiting for {url}")
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(1)
    raise TimeoutError(url)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("stack")
    suffix = uuid.uuid4().hex[:8]
    admin = sqlalchemy.create_engine(PG, isolation_level="AUTOCOMMIT")
    af_db, biz_db = f"daybook_stack_af_{suffix}", f"daybook_stack_biz_{suffix}"
    with admin.connect() as conn:
        for name in (af_db, biz_db):
            conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    base = sqlalchemy.make_url(PG)
    af_url = base.set(drivername="postgresql+psycopg2", database=af_db).render_as_string(hide_password=False)
    biz_url = base.set(database=biz_db).render_as_string(hide_password=False)
    api_port, s3_port = _free_port(), _free_port()
    password = uuid.uuid4().hex
    (tmp / "passwords.json").write_text(json.dumps({"admin": password}))
    redis_db = 8 + int(suffix, 16) % 8
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "DAYBOOK_"))},
        "AIRFLOW_HOME": str(tmp / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CORE__PARALLELISM": "8",
        # Only the five stage DAGs are unpaused (through the API): the hourly alerts, reports and
        # retention DAGs would compete for the two worker slots without being under test here.
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": af_url,
        "AIRFLOW__CELERY__BROKER_URL": f"{REDIS}/{redis_db}",
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + af_url.replace("+psycopg2", ""),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(tmp / "passwords.json"),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "600",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(_free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(_free_port()),
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
        "DAYBOOK_DB_URL": biz_url,
        "DAYBOOK_LANDING": "s3://daybook-stack/landing",
        "DAYBOOK_RAW": "s3://daybook-stack/raw",
        "DAYBOOK_OUTPUTS": "s3://daybook-stack/outputs",
        "DAYBOOK_ARCHIVE": "s3://daybook-stack-archive/archive",
        "DAYBOOK_HOME": str(tmp / "home"),
        "DAYBOOK_DEMO_APPROVER": "stack.reviewer.a,stack.reviewer.b",
        # Row-scaling tasks go to the "heavy" queue and the daybook_db pool (3 slots), as in
        # docker-compose.yml; the one worker here listens to both queues.
        "DAYBOOK_HEAVY_QUEUE": "heavy",
        "DAYBOOK_DB_POOL_SLOTS": "3",
        # Deadline Alerts on, with a validation budget no run can meet: the scheduler must fire it.
        "DAYBOOK_DEADLINES": "on",
        "DAYBOOK_DEADLINE_SECONDS_VALIDATION": "3",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{s3_port}",
        "AWS_ACCESS_KEY_ID": "stack",
        "AWS_SECRET_ACCESS_KEY": "stack",
        "AWS_DEFAULT_REGION": "us-east-1",
        "NO_PROXY": "127.0.0.1,localhost",
    }
    procs: dict[str, subprocess.Popen] = {}
    logs = tmp / "logs"
    logs.mkdir()

    def start(name: str, *args: str) -> None:
        out = open(logs / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        procs[name] = subprocess.Popen(
            list(args), env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=tmp
        )

    try:
        start("s3", str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(s3_port))
        subprocess.run(
            [str(BIN / "airflow"), "db", "migrate"], env=env, check=True, cwd=tmp, stdout=subprocess.DEVNULL
        )
        subprocess.run(
            [str(BIN / "daybook"), "init"], env=env, check=True, cwd=tmp, stdout=subprocess.DEVNULL
        )
        start(
            "api-server", str(BIN / "airflow"), "api-server", "--port", str(api_port), "--host", "127.0.0.1"
        )
        start("scheduler", str(BIN / "airflow"), "scheduler")
        start("dag-processor", str(BIN / "airflow"), "dag-processor")
        start("triggerer", str(BIN / "airflow"), "triggerer")
        start(
            "worker",
            str(BIN / "airflow"),
            "celery",
            "worker",
            "--concurrency",
            "2",
            "--queues",
            "default,heavy",
        )
        _wait_http(f"http://127.0.0.1:{s3_port}/", 60, procs)
        _wait_http(f"http://127.0.0.1:{api_port}/api/v2/version", 180, procs)
        yield {
            "env": env,
            "api": f"http://127.0.0.1:{api_port}",
            "password": password,
            "biz_url": biz_url,
            "procs": procs,
            "logs": logs,
        }
    finally:
        for p in procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for p in procs.values():
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        with admin.connect() as conn:
            for name in (af_db, biz_db):
                conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class Api:
    def __init__(self, base: str, password: str) -> None:
        self.base = base
        token = requests.post(
            f"{base}/auth/token", json={"username": "admin", "password": password}, timeout=30
        )
        token.raise_for_status()
        self.headers = {"Authorization": f"Bearer {token.json()['access_token']}"}

    def get(self, path: str, **params) -> dict:
        r = requests.get(f"{self.base}/api/v2{path}", headers=self.headers, params=params, timeout=30)
        r.raise_for_status()
        return r.json()

    def patch(self, path: str, body: dict) -> dict:
        r = requests.patch(f"{self.base}/api/v2{path}", headers=self.headers, json=body, timeout=30)
        r.raise_for_status()
        return r.json()

    def post(self, path: str, body: dict) -> dict:
        r = requests.post(f"{self.base}/api/v2{path}", headers=self.headers, json=body, timeout=30)
        r.raise_for_status()
        return r.json()


def _s3(env: dict[str, str]):
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        aws_access_key_id="stack",
        aws_secret_access_key="stack",
        region_name="us-east-1",
    )


def _tail(logs: Path) -> str:
    return "\n".join(
        f"--- {p.name}\n" + p.read_text(errors="replace")[-3000:] for p in sorted(logs.glob("*.log"))
    )


def _day_closed(url: str) -> bool:
    eng = sqlalchemy.create_engine(url)
    try:
        with eng.connect() as conn:
            status = conn.execute(
                sqlalchemy.text("SELECT status FROM business_days WHERE business_date = :d"),
                {"d": DAY.isoformat()},
            ).scalar()
        return status == "CLOSED"
    except sqlalchemy.exc.ProgrammingError:  # schema not there yet
        return False
    finally:
        eng.dispose()


def test_scheduler_runs_the_whole_day_on_celery_postgres_and_s3(stack, monkeypatch):
    env = stack["env"]
    s3 = _s3(env)
    for bucket in ("daybook-stack", "daybook-stack-archive"):
        s3.create_bucket(Bucket=bucket)
    for key, value in env.items():
        if key.startswith(("DAYBOOK_", "AWS_")):
            monkeypatch.setenv(key, value)
    from daybook import sample
    from daybook.storage import open_store

    sample.generate_day(open_store(env["DAYBOOK_LANDING"]), DAY)

    api = Api(stack["api"], stack["password"])
    deadline = time.monotonic() + 120
    while set(STAGES) - {d["dag_id"] for d in api.get("/dags", limit=100)["dags"]}:
        assert time.monotonic() < deadline, "DAGs not parsed in time\n" + _tail(stack["logs"])
        time.sleep(3)
    for dag_id in STAGES:
        api.patch(f"/dags/{dag_id}", {"is_paused": False})
    api.post("/dags/intake_daily/dagRuns", {"logical_date": None, "conf": {"business_date": DAY.isoformat()}})

    deadline = time.monotonic() + 1800
    while True:
        runs = {dag_id: api.get(f"/dags/{dag_id}/dagRuns", limit=20)["dag_runs"] for dag_id in STAGES}
        failed = [(d, r["dag_run_id"]) for d, rs in runs.items() for r in rs if r["state"] == "failed"]
        assert not failed, f"failed runs {failed}\n" + _tail(stack["logs"])
        # The scheduler may also start a scheduled intake for another date; this day is done
        # when its archive closed it, and every stage has a successful run.
        if all(any(r["state"] == "success" for r in runs[d]) for d in STAGES) and _day_closed(
            stack["biz_url"]
        ):
            break
        assert time.monotonic() < deadline, f"chain not finished: {runs}\n" + _tail(stack["logs"])
        time.sleep(5)

    # The downstream runs were started by assets, not by hand.
    for dag_id in STAGES[1:]:
        assert any(r["run_type"] == "asset_triggered" for r in runs[dag_id]), (dag_id, runs[dag_id])

    # Row-scaling tasks ran on the heavy queue inside the business-DB pool; the rest did not.
    assert api.get("/pools/daybook_db")["slots"] == 3
    for dag_id, task_id in (("validation_daily", "validate_client"), ("settlement_daily", "post_ledger")):
        run_id = next(r["dag_run_id"] for r in runs[dag_id] if r["state"] == "success")
        tis = api.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", limit=100)["task_instances"]
        heavy = [t for t in tis if t["task_id"] == task_id]
        assert heavy and all((t["queue"], t["pool"]) == ("heavy", "daybook_db") for t in heavy), heavy
        light = [t for t in tis if t["task_id"] == "resolve_dates"]
        assert light and all((t["queue"], t["pool"]) == ("default", "default_pool") for t in light), light

    def keys(bucket: str, prefix: str) -> set[str]:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return {o["Key"] for page in pages for o in page.get("Contents", [])}

    outbox = keys("daybook-stack", "landing/")
    d8 = f"{DAY:%Y%m%d}"
    for stem in (f"BANKA_PAY_{d8}_001", f"BANKA_LOAN_{d8}_001", f"TRUSTB_PAY_{d8}_001"):
        client = stem.split("_")[0]
        assert f"landing/{client}/outbox/{stem}.ack.csv" in outbox
        assert f"landing/{client}/outbox/{stem}.ret.csv" in outbox
    rej = s3.get_object(Bucket="daybook-stack", Key=f"landing/TRUSTB/outbox/TRUSTB_PAY_{d8}_002.rej")[
        "Body"
    ].read()
    assert rej.startswith(b"F_TOTAL|")
    assert not {k for k in outbox if "/inbox/" in k}, "every inbox file was answered and moved"

    archive = keys("daybook-stack-archive", "archive/")
    for client in ("BANKA", "TRUSTB"):
        assert f"archive/{client}/{DAY.isoformat()}/manifest.json" in archive

    # The Celery workers' real task log files hold none of the day's identity, card, account or
    # phone numbers (read from the raw zone: the exact bytes dropped).
    from pii_scan import numbers_in_csv, scan

    numbers: set[str] = set()
    for key in keys("daybook-stack", "raw/"):
        if key.endswith(".csv"):
            body = s3.get_object(Bucket="daybook-stack", Key=key)["Body"].read()
            numbers |= numbers_in_csv(body.decode("utf-8-sig", errors="replace"))
    assert len(numbers) > 20, numbers
    task_logs = {
        str(p): p.read_text(errors="replace")
        for p in (Path(env["AIRFLOW_HOME"]) / "logs").rglob("*")
        if p.is_file() and "dag_id=" in str(p)
    }
    assert any("validate_client" in where for where in task_logs), sorted(task_logs)[:20]
    assert scan(task_logs, numbers) == []

    eng = sqlalchemy.create_engine(stack["biz_url"])
    with eng.connect() as conn:
        debit, credit = conn.execute(
            sqlalchemy.text(
                "SELECT SUM(CASE WHEN leg = 'D' THEN amount_cents END), SUM(CASE WHEN leg = 'C' THEN amount_cents END)"
                " FROM ledger_entries WHERE business_date = :d"
            ),
            {"d": DAY.isoformat()},
        ).one()
        open_states = conn.execute(
            sqlalchemy.text(
                "SELECT COUNT(*) FROM records WHERE business_date = :d AND state NOT IN"
                " ('REJECTED', 'SETTLED', 'RETURNED', 'DISBURSED', 'DECLINED')"
            ),
            {"d": DAY.isoformat()},
        ).scalar_one()
        closed = conn.execute(
            sqlalchemy.text("SELECT status FROM business_days WHERE business_date = :d"),
            {"d": DAY.isoformat()},
        ).scalar_one()
    eng.dispose()
    assert debit and debit == credit
    assert open_states == 0
    assert closed == "CLOSED"

    # The scheduler evaluated the validation run's DeadlineAlert and the triggerer ran the
    # callback, which recorded the miss in the business database (no dag.test() involved).
    deadline = time.monotonic() + 180
    while True:
        with eng.connect() as conn:
            missed = conn.execute(
                sqlalchemy.text(
                    "SELECT kind, severity, message FROM alert_events WHERE kind = 'DEADLINE_MISSED'"
                    " AND message LIKE 'validation_daily %'"
                )
            ).all()
        if missed:
            break
        assert time.monotonic() < deadline, "no DeadlineAlert fired\n" + _tail(stack["logs"])
        time.sleep(5)
    eng.dispose()
    assert missed[0].severity == "critical"
