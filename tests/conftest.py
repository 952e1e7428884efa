"""Test session set-up: every session gets its own DAYBOOK_HOME and AIRFLOW_HOME.

The Airflow variables must be set before anything imports airflow, so they are set here at
collection time. The business database backend is chosen per test: SQLite files always,
PostgreSQL at DAYBOOK_TEST_PG_URL (a fresh database per test). When DAYBOOK_REQUIRE_PG=1
(CI), an unreachable PostgreSQL fails the PostgreSQL tests instead of skipping them.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_SESSION_HOME = Path(tempfile.mkdtemp(prefix="daybook-test-"))
_AIRFLOW_HOME = _SESSION_HOME / "airflow"
os.environ.update(
    {
        "DAYBOOK_HOME": str(_SESSION_HOME / "home"),
        "AIRFLOW_HOME": str(_AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "GX_ANALYTICS_ENABLED": "False",
    }
)
for key in list(os.environ):
    if (
        key.startswith("DAYBOOK_")
        and key != "DAYBOOK_HOME"
        and not key.startswith("DAYBOOK_TEST_")
        and key != "DAYBOOK_REQUIRE_PG"
    ):
        del os.environ[key]

PG_URL = os.environ.get("DAYBOOK_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _pg_admin():
    import sqlalchemy

    return sqlalchemy.create_engine(PG_URL, isolation_level="AUTOCOMMIT")


def _pg_available() -> str | None:
    try:
        import sqlalchemy

        with _pg_admin().connect() as conn:
            conn.execute(sqlalchemy.text("SELECT 1"))
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        return str(exc).splitlines()[0]


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def business_db(backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A fresh, migrated business database on the requested backend; yields its URL."""
    import sqlalchemy

    from daybook import db

    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'business.db'}"
        monkeypatch.setenv("DAYBOOK_DB_URL", url)
        db.migrate()
        yield url
        db._engine_for(url).dispose()
        return
    problem = _pg_available()
    if problem:
        if os.environ.get("DAYBOOK_REQUIRE_PG") == "1":
            pytest.fail(f"PostgreSQL required but unreachable at {PG_URL}: {problem}")
        pytest.skip(f"PostgreSQL unreachable at {PG_URL}: {problem}")
    name = f"daybook_t_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin()
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    url = sqlalchemy.make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    monkeypatch.setenv("DAYBOOK_DB_URL", url)
    db.migrate()
    yield url
    db._engine_for(url).dispose()
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def zones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Local landing, raw, outputs and archive folders for one test."""
    paths = {name: tmp_path / name for name in ("landing", "raw", "outputs", "archive")}
    for name, path in paths.items():
        path.mkdir()
        monkeypatch.setenv(f"DAYBOOK_{name.upper()}", str(path))
    return paths


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Airflow's metadata database for this session, migrated once."""
    from daybook.runner import prepare_airflow

    prepare_airflow()
    return _AIRFLOW_HOME


@pytest.fixture
def profiles_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The sample profiles (config/profiles), in a folder of this test's own."""
    import shutil

    folder = tmp_path / "profiles"
    shutil.copytree(ROOT / "config" / "profiles", folder)
    monkeypatch.setenv("DAYBOOK_PROFILES", str(folder))
    return folder
