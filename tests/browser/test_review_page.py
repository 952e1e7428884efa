"""The review page in the real Airflow UI, driven by a real Chromium.

A local Airflow API server (its own AIRFLOW_HOME, this repo's plugins, the simple auth
manager with a reviewer user) serves a business database with four records waiting for one
reviewer. Chromium logs in through Airflow's login page, opens Browse > Approval queue,
approves one record, declines another with an opinion, then ticks the last two and approves
them together; the database must show exactly that.
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
from pathlib import Path

import pytest

from approval_seed import DAY, pay, query, seed_file, write_profiles

pytestmark = [pytest.mark.browser, pytest.mark.integration]
CHROMIUM = "/usr/bin/chromium"  # installed by `make browser` (Debian's chromium package)
ROLES = "users:\n  li.wei: [approver]\n"


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
def airflow_ui(airflow_db, tmp_path, monkeypatch):
    """A business DB with waiting records and an Airflow API server showing them; yields (url, db, nos)."""
    from daybook import approval, db

    url = f"sqlite:///{tmp_path / 'business.db'}"
    monkeypatch.setenv("DAYBOOK_DB_URL", url)
    profiles = write_profiles(tmp_path / "profiles", monkeypatch, "BANKX")
    db.migrate()
    # 60000.00 .. 90000.00: above the 50000.00 automatic limit, one reviewer each (L1).
    _, numbers = seed_file(
        url, "BANKX", "PAY", [pay(6_000_000), pay(7_000_000), pay(8_000_000), pay(9_000_000)]
    )
    approval.assess(DAY)

    home = tmp_path / "airflow"
    home.mkdir()
    # Own AIRFLOW_HOME and metadata DB: a copy of the session's migrated one (saves a migration).
    src = sqlite3.connect(airflow_db / "airflow.db")
    dst = sqlite3.connect(home / "airflow.db")
    src.backup(dst)
    src.close()
    dst.close()
    (home / "passwords.json").write_text(json.dumps({"li.wei": "review-pw"}))
    roles = tmp_path / "roles.yaml"
    roles.write_text(ROLES)
    port = _free_port()
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__DAGS_FOLDER": str(tmp_path / "no-dags"),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "li.wei:viewer",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "DAYBOOK_DB_URL": url,
        "DAYBOOK_PROFILES": str(profiles),
        "DAYBOOK_ROLES": str(roles),
    }
    log = tmp_path / "api-server.log"
    airflow = str(Path(sys.executable).with_name("airflow"))
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [airflow, "api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_healthy(f"{base}/api/v2/monitor/health", proc, log)
        yield base, url, numbers
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_reviewer_approves_and_declines_in_the_airflow_ui(airflow_ui):
    from playwright.sync_api import expect, sync_playwright

    assert shutil.which(CHROMIUM), "Chromium missing: run `make browser` (apt-get install chromium)"
    base, url, (first, second, third, fourth) = airflow_ui
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = browser.new_page()
            page.set_default_timeout(30_000)
            page.goto(f"{base}/")  # not logged in: Airflow sends us to its login page
            page.wait_for_url("**/auth/login**")
            page.fill("input[name=username]", "li.wei")
            page.fill("input[name=password]", "review-pw")
            page.click("button[type=submit]")
            page.wait_for_url(lambda u: "/auth/login" not in u)

            page.get_by_role("button", name="Browse").click()
            page.get_by_role("menuitem", name="Approval queue").click()
            page.wait_for_url("**/plugin/daybook_approvals")
            review = page.frame_locator("iframe")
            expect(review.locator("#who")).to_contain_text("li.wei")
            expect(review.locator("#queue tbody tr.item")).to_have_count(4)

            review.locator(f"tr[data-business-no='{first}']").click()
            expect(review.locator("#d-title")).to_contain_text(first)
            review.locator("#opinion").fill("payee and amount checked")
            review.locator("#approve").click()
            expect(review.locator("#message")).to_contain_text(f"APPROVE {first} by li.wei: now APPROVED")

            review.locator(f"tr[data-business-no='{second}']").click()
            expect(review.locator("#d-title")).to_contain_text(second)
            review.locator("#decline").click()  # no opinion yet: the page refuses
            expect(review.locator("#message")).to_contain_text("needs an opinion")
            review.locator("#opinion").fill("payee name does not match the account")
            review.locator("#decline").click()
            expect(review.locator("#message")).to_contain_text(f"DECLINE {second} by li.wei: now RETURNED")
            expect(review.locator("#queue tbody tr.item")).to_have_count(2)

            # Approve selected: tick both remaining rows (ticking does not open the record).
            review.locator(f"tr[data-business-no='{third}'] input.pick").check()
            review.locator(f"tr[data-business-no='{fourth}'] input.pick").check()
            expect(review.locator("#d-title")).to_contain_text(second)
            review.locator("#batch-opinion").fill("routine amounts, payees known")
            review.locator("#approve-selected").click()
            expect(review.locator("#message")).to_contain_text("APPROVE by li.wei: 2 decided")
            expect(review.locator("#queue tbody")).to_contain_text("nothing waiting")
        finally:
            browser.close()

    assert query(
        url, "SELECT business_no, level, decision, decided_by, opinion FROM approvals ORDER BY approval_id"
    ) == [
        (first, 1, "APPROVE", "li.wei", "payee and amount checked"),
        (second, 1, "DECLINE", "li.wei", "payee name does not match the account"),
        (third, 1, "APPROVE", "li.wei", "routine amounts, payees known"),
        (fourth, 1, "APPROVE", "li.wei", "routine amounts, payees known"),
    ]
    assert query(url, "SELECT business_no, state, final_code FROM records ORDER BY business_no") == [
        (first, "APPROVED", None),
        (second, "RETURNED", "A_DECLINED"),
        (third, "APPROVED", None),
        (fourth, "APPROVED", None),
    ]
