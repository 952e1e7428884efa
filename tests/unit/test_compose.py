"""docker-compose.yml checked statically (no Docker engine here): it parses, has the
production topology, sets every setting the code reads, and its references are consistent."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
REQUIRED_SERVICES = {
    "postgres",
    "redis",
    "minio",
    "mailpit",
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
    "airflow-worker-heavy",
}
AIRFLOW_SERVICES = {s for s in REQUIRED_SERVICES if s.startswith("airflow-")}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _code_settings() -> set[str]:
    """Every DAYBOOK_* setting the package reads (config.settings or the environment)."""
    text = "\n".join(p.read_text() for p in (ROOT / "include" / "daybook").glob("*.py"))
    return set(re.findall(r"""["'](DAYBOOK_[A-Z_]+)["']""", text))


# What production must set explicitly (the rest has production-safe defaults).
PRODUCTION_SETTINGS = {
    "DAYBOOK_DB_URL",
    "DAYBOOK_LANDING",
    "DAYBOOK_RAW",
    "DAYBOOK_OUTPUTS",
    "DAYBOOK_ARCHIVE",
    "DAYBOOK_PROFILES",
    "DAYBOOK_CALENDAR",
    "DAYBOOK_DEADLINES",
    "DAYBOOK_ARCHIVE_REQUIRE_KEY",
}


def test_compose_has_the_production_topology(compose):
    assert REQUIRED_SERVICES <= set(compose["services"])
    for name in REQUIRED_SERVICES - {"airflow-init"}:
        assert "healthcheck" in compose["services"][name], f"{name} has no health check"
    commands = {name: compose["services"][name].get("command") for name in AIRFLOW_SERVICES}
    assert commands["airflow-worker"] == "celery worker"
    # The heavy queue the tasks are sent to has workers of its own.
    heavy = compose["services"]["airflow-worker-heavy"]
    assert heavy["command"] == f"celery worker --queues {heavy['environment']['DAYBOOK_HEAVY_QUEUE']}"
    assert "healthcheck" in heavy
    assert commands["airflow-scheduler"] == "scheduler"
    assert commands["airflow-dag-processor"] == "dag-processor"
    assert commands["airflow-triggerer"] == "triggerer"
    assert commands["airflow-apiserver"] == "api-server"


def test_every_setting_the_code_reads_is_set_and_none_is_misspelt(compose):
    code = _code_settings()
    assert PRODUCTION_SETTINGS <= code, PRODUCTION_SETTINGS - code
    for name in AIRFLOW_SERVICES:
        env = compose["services"][name]["environment"]
        daybook = {k for k in env if k.startswith("DAYBOOK_")}
        assert PRODUCTION_SETTINGS <= daybook, (name, PRODUCTION_SETTINGS - daybook)
        assert daybook <= code, (name, daybook - code)
        assert "DAYBOOK_DEMO_APPROVER" not in daybook, "the demo approver never runs in production"
        for conn in ("AIRFLOW_CONN_DAYBOOK_SMTP", "AIRFLOW_CONN_DAYBOOK_ARCHIVE_KEY"):
            assert conn in env, (name, conn)
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert env["AWS_ENDPOINT_URL"].startswith("http://minio:")
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
        assert env["DAYBOOK_LANDING"].startswith("s3://") and env["DAYBOOK_ARCHIVE"].startswith("s3://")
        assert env["DAYBOOK_DB_URL"].startswith("postgresql")


def test_references_are_consistent(compose):
    services = compose["services"]
    declared_volumes = set(compose.get("volumes") or {})
    host_ports: list[str] = []
    for name, svc in services.items():
        for dep in svc.get("depends_on") or {}:
            assert dep in services, f"{name} depends on unknown {dep}"
        for vol in svc.get("volumes") or []:
            source = vol.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in declared_volumes, f"{name} uses undeclared volume {source}"
        host_ports += [str(p).split(":")[0] for p in svc.get("ports") or [] if ":" in str(p)]
    assert len(host_ports) == len(set(host_ports)), f"host ports used twice: {host_ports}"
    env_example = {
        line.split("=", 1)[0]
        for line in (ROOT / ".env.example").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    }
    used = set(re.findall(r"(?<!\$)\$\{([A-Z_]+)(?::-[^}]*)?\}", (ROOT / "docker-compose.yml").read_text()))
    assert used <= env_example, f"variables without a default in .env.example: {used - env_example}"


def test_image_is_built_on_official_airflow_33_with_the_lock_file():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM apache/airflow:3\.3\.\d+-python3\.11$", dockerfile, re.M)
    assert "requirements.lock" in dockerfile
