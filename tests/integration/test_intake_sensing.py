"""Sensing and cutoff alerts: complete drops are picked up as they arrive, incomplete ones wait,
and at each client's intake cutoff (profile cutoffs.intake, Asia/Shanghai) the on-call is alerted
for incomplete and missing files. Plus one dag.test() run of intake_daily."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy

from daybook import db, intake
from s3_fixtures import CLIENT, DAY, DAY8, drop, pay_csv

pytest_plugins = ["s3_fixtures"]
pytestmark = pytest.mark.integration
SH = ZoneInfo("Asia/Shanghai")
BEFORE_ALL = datetime(2026, 11, 27, 15, 59, tzinfo=SH)
BANKA_PAST = datetime(2026, 11, 27, 16, 30, tzinfo=SH)  # BANKA cutoff 16:00, TRUSTB default 17:00
ALL_PAST = datetime(2026, 11, 27, 17, 0, tzinfo=SH)


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


def _alerts() -> list[tuple[str, str | None, str]]:
    with db.begin() as conn:
        q = "SELECT kind, client_id, message FROM alert_events ORDER BY alert_id"
        return [tuple(r) for r in conn.execute(sqlalchemy.text(q))]


def test_sensor_goes_on_at_once_when_nothing_waits(business_db, intake_zones):
    assert intake.drops_ready(DAY, BEFORE_ALL) is True


def test_sensor_waits_for_a_control_file_until_the_cutoff(business_db, intake_zones):
    z = intake_zones
    data = pay_csv(["1.00"]).encode()
    drop(z.landing, f"{CLIENT}_PAY_{DAY8}_001.csv", data)  # no control file yet
    assert intake.drops_ready(DAY, BEFORE_ALL) is False
    assert intake.drops_ready(DAY, BANKA_PAST) is True, "BANKA's cutoff (16:00) has passed: go on and alert"
    drop(z.landing, f"{CLIENT}_PAY_{DAY8}_002.csv", pay_csv(["2.00"]).encode(), count=1, total="2.00")
    assert intake.drops_ready(DAY, BEFORE_ALL) is True, "a complete drop arrived: pick it up now"


def test_cutoff_alerts_incomplete_and_missing_per_client_cutoff(business_db, intake_zones):
    z = intake_zones
    incomplete = f"{CLIENT}_PAY_{DAY8}_001.csv"
    drop(z.landing, incomplete, pay_csv(["1.00"]).encode())
    assert intake.alert_at_cutoff(DAY, BEFORE_ALL) == []
    assert _alerts() == []

    raised = intake.alert_at_cutoff(DAY, BANKA_PAST)
    # BANKA (cutoff 16:00, expects PAY and LOAN): PAY is there but incomplete, LOAN never came.
    # TRUSTB (cutoff 17:00) is not yet due.
    assert sorted((a["kind"], a["client_id"], a["name"]) for a in raised) == [
        ("INCOMPLETE_FILE", "BANKA", incomplete),
        ("MISSING_FILE", "BANKA", "LOAN"),
    ]
    intake.alert_at_cutoff(DAY, ALL_PAST)
    kinds = sorted((k, c) for k, c, _ in _alerts())
    assert kinds == [("INCOMPLETE_FILE", "BANKA"), ("MISSING_FILE", "BANKA"), ("MISSING_FILE", "TRUSTB")], (
        "each alert recorded once; TRUSTB's PAY is missing at its own cutoff"
    )
    assert z.landing.exists(f"{CLIENT}/inbox/{incomplete}"), "an incomplete file is never read or moved"


def test_a_received_file_is_not_missing_even_if_refused(business_db, intake_zones):
    z = intake_zones
    drop(z.landing, f"{CLIENT}_PAY_{DAY8}_001.csv", pay_csv(["1.00"]).encode(), count=1, total="9.00")
    drop(z.landing, f"{CLIENT}_LOAN_{DAY8}_001.csv", b"garbage", count=1, total="1.00")
    [intake.process_drop(d, DAY) for d in intake.list_drops(DAY)]
    assert intake.alert_at_cutoff(DAY, ALL_PAST) == [
        {"kind": "MISSING_FILE", "client_id": "TRUSTB", "name": "PAY"}
    ]


@pytest.mark.parametrize("store_kind", ["local"], indirect=True)
def test_intake_daily_dag_run_answers_complete_drops_and_leaves_incomplete(
    business_db, intake_zones, airflow_db
):
    from daybook.runner import run_stage

    z = intake_zones
    good = drop(
        z.landing, f"{CLIENT}_PAY_{DAY8}_001.csv", pay_csv(["1.00", "2.00"]).encode(), count=2, total="3.00"
    )
    drop(z.landing, f"{CLIENT}_PAY_{DAY8}_002.csv", pay_csv(["4.00"]).encode(), count=1, total="5.00")
    drop(z.landing, f"{CLIENT}_PAY_{DAY8}_003.csv", pay_csv(["6.00"]).encode())  # incomplete
    assert run_stage("intake", DAY) == "success"
    assert z.landing.get(f"{CLIENT}/processed/{CLIENT}_PAY_{DAY8}_001.csv") == good
    assert z.landing.get(f"{CLIENT}/outbox/{CLIENT}_PAY_{DAY8}_002.rej").decode().startswith("F_TOTAL|")
    assert z.landing.list(f"{CLIENT}/inbox") == [f"{CLIENT}/inbox/{CLIENT}_PAY_{DAY8}_003.csv"]
