"""KPI figures against a constructed month (BANKA, March 2026) whose answers were worked out by
hand. BANKA's cutoffs: intake 16:00, settlement 19:00 Asia/Shanghai (08:00 and 11:00 UTC);
expected files PAY and LOAN. Database timestamps are UTC."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from daybook import db, kpi

D1, D2 = "2026-03-02", "2026-03-03"


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


def _file(conn, file_id: int, ftype: str, day: str, received: str) -> None:
    conn.exec_driver_sql(
        "INSERT INTO files (file_id, folder, name, stem, client_id, file_type, business_date, intake_date,"
        " sha256, size_bytes, raw_key, original, status, inbox_done, received_at)"
        " VALUES (?, 'BANKA', ?, ?, 'BANKA', ?, ?, ?, ?, 1, 'raw', 1, 'PUBLISHED', 1, ?)",
        (file_id, f"f{file_id}.csv", f"f{file_id}", ftype, day, day, f"sha{file_id}", received),
    )


def _rec(
    conn, no: str, file_id: int, ftype: str, day: str, ack: str, codes: str = "", tier: str | None = None
):
    conn.exec_driver_sql(
        "INSERT INTO records (business_no, file_id, client_id, file_type, business_date, line_no, client_ref,"
        " ack_status, reason_codes, state, tier, payload) VALUES (?, ?, 'BANKA', ?, ?, ?, ?, ?, ?, 'X', ?, '{}')",
        (no, file_id, ftype, day, int(no[1:]), no, ack, codes, tier),
    )


def _decide(conn, no: str, at: str) -> None:
    conn.exec_driver_sql(
        "INSERT INTO approvals (business_no, level, decision, decided_by, decided_at)"
        " VALUES (?, 1, 'APPROVE', 'alice', ?)",
        (no, at),
    )


def _post(conn, no: str, day: str, at: str) -> None:
    """One posting (its debit and credit entries) of 100 cents at ``at``."""
    conn.exec_driver_sql(
        "INSERT INTO ledger_transfers (business_no, client_id, business_date, debit_account, credit_account,"
        " amount_cents, posted_at) VALUES (?, 'BANKA', ?, 'BANKA:PREFUND', 'BANKA:CLEARING', 100, ?)",
        (no, day, at),
    )


@pytest.fixture
def month(business_db):
    with db.begin() as conn:
        # Day 1: PAY at 15:30 (on time), LOAN at 16:30 (late).
        _file(conn, 1, "PAY", D1, f"{D1} 07:30:00")
        _file(conn, 2, "LOAN", D1, f"{D1} 08:30:00")
        _rec(conn, "r1", 1, "PAY", D1, "ACCEPTED", tier="AUTO")
        _rec(conn, "r2", 1, "PAY", D1, "ACCEPTED", tier="L1")
        _rec(conn, "r3", 1, "PAY", D1, "REJECTED", "R_ACCOUNT")
        _rec(conn, "r4", 1, "PAY", D1, "REJECTED", "R_ACCOUNT;R_AMOUNT")
        _rec(conn, "r5", 2, "LOAN", D1, "ACCEPTED", tier="L1")
        _decide(conn, "r2", f"{D1} 09:00:00")  # 90 minutes after its file came
        _decide(conn, "r5", f"{D1} 08:40:00")  # 10 minutes
        _post(conn, "r1", D1, f"{D1} 10:00:00")  # 18:00 Shanghai: on time
        _post(conn, "r2", D1, f"{D1} 11:30:00")  # 19:30: late
        # Day 2: PAY on time, LOAN never came; one AUTO record settled on time.
        _file(conn, 3, "PAY", D2, f"{D2} 06:00:00")
        _rec(conn, "r6", 3, "PAY", D2, "ACCEPTED", tier="AUTO")
        _post(conn, "r6", D2, f"{D2} 09:00:00")
        conn.exec_driver_sql(
            "INSERT INTO alert_events (dedup_key, kind, severity, client_id, business_date, message, resolved_at)"
            " VALUES ('a1', 'MISSING_FILE', 'warning', 'BANKA', ?, 'm', '2026-03-02 09:00:00'),"
            " ('a2', 'APPROVAL_BACKLOG', 'warning', 'BANKA', ?, 'm', NULL)",
            (D1, D1),
        )


def test_daily_kpis_match_hand_computed_answers(month) -> None:
    d1, d2 = kpi.daily(D1, D2)
    assert (d1["business_date"], d2["business_date"]) == (D1, D2)
    assert d1["on_time_file_rate"] == 0.5  # PAY on time, LOAN late
    assert d1["stp_rate"] == pytest.approx(1 / 3)  # r1 of r1, r2, r5
    assert d1["reject_rate"] == 0.4  # r3, r4 of 5
    assert d1["reject_rate_by_code"] == {"R_ACCOUNT": 0.4, "R_AMOUNT": 0.2}
    assert d1["approval_turnaround_p50_min"] == 10  # nearest rank of [10, 90]: 1st
    assert d1["approval_turnaround_p95_min"] == 90  # ceil(1.9) = 2nd
    assert d1["settlement_on_time_rate"] == 0.5  # r1 at 18:00, r2 at 19:30
    assert (d1["alerts_raised"], d1["alerts_resolved"]) == (2, 1)
    assert d2["on_time_file_rate"] == 0.5  # PAY on time, LOAN missing
    assert (d2["stp_rate"], d2["reject_rate"], d2["settlement_on_time_rate"]) == (1.0, 0.0, 1.0)
    assert d2["approval_turnaround_p50_min"] is None


def test_monthly_sla_pools_the_month(month) -> None:
    [banka] = kpi.monthly_sla("2026-03")
    assert banka["business_dates"] == 2
    assert banka["on_time_file_rate"] == 0.5  # 2 on time of 2 + 1 late + 1 missing
    assert banka["stp_rate"] == 0.5  # r1, r6 of 4 accepted
    assert banka["reject_rate"] == pytest.approx(2 / 6)
    assert banka["settlement_on_time_rate"] == pytest.approx(2 / 3)
    assert (banka["alerts_raised"], banka["alerts_resolved"]) == (2, 1)


def test_nearest_rank_percentile() -> None:
    assert kpi.percentile([], 50) is None
    assert kpi.percentile([7], 95) == 7
    values = list(range(1, 21))  # 1..20: p50 = 10th, p95 = 19th
    assert (kpi.percentile(values, 50), kpi.percentile(values, 95)) == (10, 19)


def test_daily_report_is_kept_with_the_days_outputs(month, zones) -> None:
    key = kpi.write_daily_report(D1)
    html = (zones["outputs"] / key).read_text()
    assert key == f"{D1}/kpi/kpi.html"
    assert html.count("<svg") == 4
    assert "<td>40.0%</td>" in html  # reject rate of D1
    assert "R_ACCOUNT 40.0%, R_AMOUNT 20.0%" in html
    assert "<td>10</td><td>90</td>" in html  # turnaround p50, p95 in minutes (not as a rate)
    monthly = (zones["outputs"] / kpi.write_monthly_report("2026-03")).read_text()
    assert "<td>BANKA</td><td>2</td><td>50.0%</td><td>50.0%</td><td>33.3%</td><td>66.7%</td>" in monthly


def _kpi_client(user: str | None = "op.kim") -> TestClient:
    """The KPI app as ``user`` (None: no login). op.kim is an operator, nobody has no role."""
    from airflow.api_fastapi.core_api.security import get_user

    from daybook.kpi_ui import create_app

    class Someone:
        def get_name(self) -> str:
            return user

    app = create_app()
    if user is not None:
        app.dependency_overrides[get_user] = Someone
    return TestClient(app)


@pytest.fixture(autouse=True)
def _roles(tmp_path, monkeypatch):
    roles = tmp_path / "roles.yaml"
    roles.write_text("users:\n  op.kim: [operator]\n", encoding="utf-8")
    monkeypatch.setenv("DAYBOOK_ROLES", str(roles))


def test_kpi_page_shows_the_last_30_days(month) -> None:
    response = _kpi_client().get("/", params={"end": "2026-03-31"})
    assert response.status_code == 200
    assert "Service KPIs 2026-03-02 to 2026-03-31" in response.text
    assert response.text.count("<svg") == 4  # one chart per rate for the one client
    assert f"<td>{D1}</td><td>BANKA</td>" in response.text and f"<td>{D2}</td><td>BANKA</td>" in response.text
    later = _kpi_client().get("/", params={"end": "2026-04-30"})  # 04-01..04-30: nothing
    assert f"<td>{D1}</td>" not in later.text
    assert "No files or records in these 30 days." in later.text


def test_kpi_page_needs_a_logged_in_airflow_user_with_a_daybook_role(month) -> None:
    anonymous = _kpi_client(user=None).get("/", params={"end": "2026-03-31"})
    assert anonymous.status_code == 401
    assert f"<td>{D1}</td>" not in anonymous.text
    no_role = _kpi_client(user="nobody").get("/", params={"end": "2026-03-31"})
    assert no_role.status_code == 403
    assert f"<td>{D1}</td>" not in no_role.text
