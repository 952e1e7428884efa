"""docker-compose.yml checked statically (no Docker engine here): it parses, has the
production topology, sets every setting the code reads, and its references are consistent."""

from __future__ import annotations

import importlib.util
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

# PostgreSQL's production server settings: the postgres service's `-c name=value` arguments.
# full_page_writes and synchronous_commit stay at their safe defaults (not set at all).
POSTGRES_SETTINGS = {
    "shared_buffers": "4GB",
    "effective_cache_size": "12GB",
    "max_wal_size": "8GB",
    "checkpoint_timeout": "30min",
    "wal_buffers": "64MB",
    "work_mem": "64MB",
    "maintenance_work_mem": "1GB",
    "wal_compression": "off",
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


def _postgres_command_settings(command: list[str]) -> dict[str, str]:
    assert command[0] == "postgres", command
    flags, pairs = command[1::2], command[2::2]
    assert flags == ["-c"] * len(pairs), f"postgres arguments that are not -c name=value pairs: {command}"
    assert all("=" in p for p in pairs), pairs
    settings = dict(p.split("=", 1) for p in pairs)
    assert len(settings) == len(pairs), f"a setting is given twice: {pairs}"
    return settings


def test_postgres_runs_with_the_production_server_settings(compose):
    command = compose["services"]["postgres"]["command"]
    assert isinstance(command, list), "the postgres command is a list of arguments"
    settings = _postgres_command_settings(command)
    assert settings == POSTGRES_SETTINGS
    for safe_default in ("full_page_writes", "synchronous_commit", "fsync"):
        assert safe_default not in settings, f"{safe_default} stays at its safe default"


def test_the_benchmark_server_runs_with_the_compose_settings(compose, tmp_path):
    """bench/pgserver.py starts its private server with exactly the compose settings, so that the
    benchmarks measure the production configuration; a drift between the two fails here."""
    spec = importlib.util.spec_from_file_location("bench_pgserver", ROOT / "bench" / "pgserver.py")
    pgserver = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pgserver)
    settings = _postgres_command_settings(compose["services"]["postgres"]["command"])
    assert pgserver.compose_settings() == settings == POSTGRES_SETTINGS
    options = pgserver.server_options(pgserver.compose_settings(), 15432, tmp_path)
    assert options[::2] == ["-c"] * (len(options) // 2)
    started = dict(o.split("=", 1) for o in options[1::2])
    assert {k: started[k] for k in settings} == settings
    assert set(started) - set(settings) == {"listen_addresses", "port", "unix_socket_directories"}
    assert started["listen_addresses"] == "127.0.0.1"
    # The parser follows the compose file it is given: a changed setting is read, not assumed.
    changed = tmp_path / "docker-compose.yml"
    text = (ROOT / "docker-compose.yml").read_text()
    changed.write_text(text.replace("shared_buffers=4GB", "shared_buffers=2GB"))
    assert pgserver.compose_settings(changed)["shared_buffers"] == "2GB"


def test_image_is_built_on_official_airflow_33_with_the_lock_file():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM apache/airflow:3\.3\.\d+-python3\.11$", dockerfile, re.M)
    assert "requirements.lock" in dockerfile
