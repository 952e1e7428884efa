"""Real-browser tests: Debian's Chromium driven by Playwright (no browser download).

They start an Airflow API server (tens of seconds), so they run only when asked for with
``-m browser``: ``make browser-test``, which ``.ci/run`` calls after ``make test``.

Fixtures shared by the page tests: ``airflow_api_server`` starts a local Airflow API server
(its own AIRFLOW_HOME with a copy of the session's migrated metadata database, this repo's
plugins, the simple auth manager with the users given) and stops it after the test;
``chromium`` is a headless Debian Chromium; ``log_in`` signs a page in through Airflow's login
page, as a person would.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"  # installed by `make browser` (Debian's chromium package)


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives a real Chromium against a locally started Airflow")


def pytest_collection_modifyitems(config, items):
    if "browser" in (config.getoption("markexpr") or ""):
        return
    skipped = [i for i in items if i.get_closest_marker("browser")]
    if skipped:
        config.hook.pytest_deselected(items=skipped)
        items[:] = [i for i in items if not i.get_closest_marker("browser")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"api-server exited: {log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(1)
    raise TimeoutError(f"api-server not healthy after {timeout}s: {log.read_text()[-3000:]}")


@pytest.fixture
def airflow_api_server(airflow_db, tmp_path) -> Iterator[Callable[..., str]]:
    """``start(users={"name": ("role", "password")}, env={...})`` starts an Airflow API server with
    those simple-auth-manager users and extra environment (the business database, profiles...);
    returns its base URL. Stopped at the end of the test."""
    procs: list[subprocess.Popen] = []

    def start(users: dict[str, tuple[str, str]], env: dict[str, str]) -> str:
        home = tmp_path / "airflow"
        home.mkdir()
        # Own AIRFLOW_HOME and metadata DB: a copy of the session's migrated one (saves a migration).
        src = sqlite3.connect(airflow_db / "airflow.db")
        dst = sqlite3.connect(home / "airflow.db")
        src.backup(dst)
        src.close()
        dst.close()
        (home / "passwords.json").write_text(json.dumps({u: pw for u, (_, pw) in users.items()}))
        port = _free_port()
        full_env = {
            **os.environ,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__DAGS_FOLDER": str(tmp_path / "no-dags"),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{u}:{r}" for u, (r, _) in users.items()),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
            **env,
        }
        log = tmp_path / "api-server.log"
        airflow = str(Path(sys.executable).with_name("airflow"))
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [airflow, "api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                env=full_env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        procs.append(proc)
        base = f"http://127.0.0.1:{port}"
        _wait_healthy(f"{base}/api/v2/monitor/health", proc, log)
        return base

    try:
        yield start
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture
def chromium():
    """A headless Debian Chromium under Playwright."""
    from playwright.sync_api import sync_playwright

    assert shutil.which(CHROMIUM), "Chromium missing: run `make browser` (apt-get install chromium)"
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def log_in() -> Callable[..., None]:
    """``log_in(page, base, user, password)``: Airflow's own login page, as a person uses it."""

    def go(page, base: str, user: str, password: str) -> None:
        page.goto(f"{base}/")  # not logged in: Airflow sends us to its login page
        page.wait_for_url("**/auth/login**")
        page.fill("input[name=username]", user)
        page.fill("input[name=password]", password)
        page.click("button[type=submit]")
        page.wait_for_url(lambda u: "/auth/login" not in u)

    return go
