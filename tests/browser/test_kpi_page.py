"""The KPI page in the real Airflow UI, driven by a real Chromium.

A local Airflow API server (this repo's plugins, the simple auth manager with one viewer)
serves a business database seeded by hand with two days inside the last 30 and one just
outside. Chromium logs in through Airflow's login page and follows Browse > Service KPIs, like
a person would; the page must show the 30-day window, each seeded day's figures as worked out
below by hand (the same construction as tests/unit/test_kpi_figures.py), no figures of the day
outside the window, and four charts that actually render. Without a login the page gives
nothing away.

Client BANKK's profile: intake cutoff 16:00 and settlement cutoff 19:00 Asia/Shanghai (08:00 and
11:00 UTC), expected files PAY and LOAN. Database timestamps are UTC.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy

from approval_seed import PROFILE

pytestmark = [pytest.mark.browser, pytest.mark.integration]
CLIENT = "BANKK"
TODAY = datetime.now(ZoneInfo("Asia/Shanghai")).date()  # what the page calls "today"
DAY = (TODAY - timedelta(days=3)).isoformat()  # a full day: every figure has a value
LATER = (TODAY - timedelta(days=1)).isoformat()  # a thin day: LOAN missing, one AUTO payment
OLD = (TODAY - timedelta(days=30)).isoformat()  # one day before the 30-day window


def _seed(url: str) -> None:
    eng = sqlalchemy.create_engine(url)
    with eng.begin() as conn:

        def file(file_id: int, ftype: str, day: str, received: str) -> None:
            conn.exec_driver_sql(
                "INSERT INTO files (file_id, folder, name, stem, client_id, file_type, business_date,"
                " intake_date, sha256, size_bytes, raw_key, original, status, inbox_done, received_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1, 'raw', 1, 'PUBLISHED', 1, ?)",
                (
                    file_id,
                    CLIENT,
                    f"f{file_id}.csv",
                    f"f{file_id}",
                    CLIENT,
                    ftype,
                    day,
                    day,
                    f"s{file_id}",
                    received,
                ),
            )

        def rec(no: str, file_id: int, ftype: str, day: str, ack: str, codes: str = "", tier=None) -> None:
            conn.exec_driver_sql(
                "INSERT INTO records (business_no, file_id, client_id, file_type, business_date, line_no,"
                " client_ref, ack_status, reason_codes, state, tier, payload)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'X', ?, '{}')",
                (no, file_id, CLIENT, ftype, day, int(no[1:]), no, ack, codes, tier),
            )

        def decide(no: str, at: str) -> None:
            conn.exec_driver_sql(
                "INSERT INTO approvals (business_no, level, decision, decided_by, decided_at)"
                " VALUES (?, 1, 'APPROVE', 'alice', ?)",
                (no, at),
            )

        def post(no: str, day: str, at: str) -> None:
            """One posting (its debit and credit entries) of 100 cents at ``at``."""
            conn.exec_driver_sql(
                "INSERT INTO ledger_transfers (business_no, client_id, business_date, debit_account,"
                " credit_account, amount_cents, posted_at) VALUES (?, ?, ?, ?, ?, 100, ?)",
                (no, CLIENT, day, f"{CLIENT}:PREFUND", f"{CLIENT}:CLEARING", at),
            )

        # DAY: PAY at 15:30 Shanghai (on time), LOAN at 16:30 (late): on-time 1 of 2.
        file(1, "PAY", DAY, f"{DAY} 07:30:00")
        file(2, "LOAN", DAY, f"{DAY} 08:30:00")
        rec("r1", 1, "PAY", DAY, "ACCEPTED", tier="AUTO")
        rec("r2", 1, "PAY", DAY, "ACCEPTED", tier="L1")
        rec("r3", 1, "PAY", DAY, "REJECTED", "R_ACCOUNT")
        rec("r4", 1, "PAY", DAY, "REJECTED", "R_ACCOUNT;R_AMOUNT")
        rec("r5", 2, "LOAN", DAY, "ACCEPTED", tier="L1")
        decide("r2", f"{DAY} 09:00:00")  # 90 minutes after its file came
        decide("r5", f"{DAY} 08:40:00")  # 10 minutes
        post("r1", DAY, f"{DAY} 10:00:00")  # 18:00 Shanghai: on time
        post("r2", DAY, f"{DAY} 11:30:00")  # 19:30: late
        conn.exec_driver_sql(
            "INSERT INTO alert_events (dedup_key, kind, severity, client_id, business_date, message, resolved_at)"
            " VALUES ('a1', 'MISSING_FILE', 'warning', ?, ?, 'm', ?),"
            " ('a2', 'APPROVAL_BACKLOG', 'warning', ?, ?, 'm', NULL)",
            (CLIENT, DAY, f"{DAY} 09:00:00", CLIENT, DAY),
        )
        # LATER: PAY on time, LOAN never came; one AUTO payment settled on time.
        file(3, "PAY", LATER, f"{LATER} 06:00:00")
        rec("r6", 3, "PAY", LATER, "ACCEPTED", tier="AUTO")
        post("r6", LATER, f"{LATER} 09:00:00")
        # OLD: outside the window; all rejected, so a leak would show as a 100.0% reject rate.
        file(4, "PAY", OLD, f"{OLD} 06:00:00")
        rec("r7", 4, "PAY", OLD, "REJECTED", "R_CURRENCY")
    eng.dispose()


# The table's cells for each day, worked out by hand from the seed above: date, client, files,
# missing, on-time files, records, STP, reject rate, reject rate by code, turnaround p50 and p95
# (minutes, nearest rank), settled on time, alerts raised, alerts resolved.
EXPECTED_ROWS = [
    [DAY, CLIENT, "2", "0", "50.0%", "5", "33.3%", "40.0%", "R_ACCOUNT 40.0%, R_AMOUNT 20.0%"]
    + ["10", "90", "50.0%", "2", "1"],
    [LATER, CLIENT, "1", "1", "50.0%", "1", "100.0%", "0.0%", "-", "-", "-", "100.0%", "0", "0"],
]


@pytest.fixture
def kpi_ui(airflow_api_server, tmp_path, monkeypatch):
    from daybook import db

    url = f"sqlite:///{tmp_path / 'business.db'}"
    monkeypatch.setenv("DAYBOOK_DB_URL", url)
    db.migrate()
    _seed(url)
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / f"{CLIENT}.yaml").write_text(
        PROFILE.format(client=CLIENT) + "expected_files: [PAY, LOAN]\n", encoding="utf-8"
    )
    roles = tmp_path / "roles.yaml"
    roles.write_text("users:\n  op.kim: [operator]\n", encoding="utf-8")
    return airflow_api_server(
        {"op.kim": ("viewer", "kpi-pw")},
        {"DAYBOOK_DB_URL": url, "DAYBOOK_PROFILES": str(profiles), "DAYBOOK_ROLES": str(roles)},
    )


def test_kpi_page_in_the_airflow_ui_shows_the_last_30_days_with_charts(kpi_ui, chromium, log_in, tmp_path):
    from playwright.sync_api import expect

    base = kpi_ui
    anonymous = chromium.new_page()
    response = anonymous.goto(f"{base}/daybook-kpi/")
    assert response.status in (401, 403), response.status
    assert DAY not in anonymous.content()
    anonymous.close()

    page = chromium.new_page(viewport={"width": 1500, "height": 1000})
    page.set_default_timeout(30_000)
    log_in(page, base, "op.kim", "kpi-pw")
    page.get_by_role("button", name="Browse").click()
    page.get_by_role("menuitem", name="Service KPIs").click()
    page.wait_for_url("**/plugin/daybook_kpi")
    kpis = page.frame_locator("iframe")

    first = (TODAY - timedelta(days=29)).isoformat()
    expect(kpis.locator("h1")).to_have_text(f"Service KPIs {first} to {TODAY.isoformat()}")
    rows = kpis.locator("table tbody tr")
    expect(rows).to_have_count(2)  # DAY and LATER; OLD is outside the window
    cells = [rows.nth(i).locator("td").all_inner_texts() for i in range(2)]
    assert [[c.strip() for c in row] for row in cells] == EXPECTED_ROWS
    expect(kpis.locator("body")).not_to_contain_text(OLD)
    expect(kpis.locator("body")).not_to_contain_text("R_CURRENCY")

    # Four charts (one per rate for the one client), each drawn with a real size on the page.
    charts = kpis.locator("svg")
    expect(charts).to_have_count(4)
    for i in range(4):
        box = charts.nth(i).bounding_box()
        assert box and box["width"] > 100 and box["height"] > 40, (i, box)
    # Straight-through: DAY 33.3% and LATER 100.0%: the second bar is three times the first.
    stp = kpis.locator("svg[aria-label='Straight-through: BANKK'] rect")
    expect(stp).to_have_count(2)
    widths = [stp.nth(i).bounding_box()["width"] for i in range(2)]
    assert widths[0] > 0 and widths[1] == pytest.approx(3 * widths[0], rel=0.05), widths

    shots = os.environ.get("DAYBOOK_TEST_SCREENSHOTS") or str(tmp_path)
    page.screenshot(path=f"{shots}/kpi-page.png", full_page=True)
    kpis.locator("body").screenshot(path=f"{shots}/kpi-frame.png")
    page.close()
