"""Sensing and cutoff alerts: complete drops are picked up as they arrive, incomplete ones wait,
and at each client's intake cutoff (profile cutoffs.intake, Asia/Shanghai) the on-call is alerted
for incomplete and missing files, and a control file whose data file never came is answered.
Plus dag.test() runs of intake_daily."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy

from daybook import alerting, db, intake
from s3_fixtures import CLIENT, DAY, DAY8, ctl, drop, pay_csv

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


# ------------------------------------------------------------------ a control file without its data file

STEM = f"{CLIENT}_PAY_{DAY8}_001"
ORPHAN = f"{STEM}.ctl"


def _orphan_answers() -> int:
    with db.begin() as conn:
        q = "SELECT COUNT(*) FROM audit_events WHERE action = 'orphan_control_answered'"
        return int(conn.execute(sqlalchemy.text(q)).scalar_one())


def test_sensor_waits_for_the_data_file_of_a_control_file_until_the_cutoff(business_db, intake_zones):
    z = intake_zones
    z.landing.put(f"{CLIENT}/inbox/{ORPHAN}", ctl(f"{STEM}.csv", 1, "1.00", pay_csv(["1.00"]).encode()))
    assert intake.drops_ready(DAY, BEFORE_ALL) is False, "the data file may still come: wait for it"
    assert intake.drops_ready(DAY, BANKA_PAST) is True, "BANKA's cutoff has passed: go on, alert and answer"


def test_control_file_without_data_file_is_alerted_and_answered_once_at_the_cutoff(business_db, intake_zones):
    z = intake_zones
    control = ctl(f"{STEM}.csv", 1, "1.00", pay_csv(["1.00"]).encode())
    z.landing.put(f"{CLIENT}/inbox/{ORPHAN}", control)
    assert intake.list_drops(DAY) == [], "a control file alone is nothing to answer yet"
    assert intake.alert_at_cutoff(DAY, BEFORE_ALL) == []
    assert z.landing.list(f"{CLIENT}/outbox") == [], "before the cutoff the data file may still come"

    raised = intake.alert_at_cutoff(DAY, BANKA_PAST)
    assert {"kind": "INCOMPLETE_FILE", "client_id": CLIENT, "name": ORPHAN} in raised
    assert ("MISSING_FILE", CLIENT, "PAY") not in {(a["kind"], a["client_id"], a["name"]) for a in raised}, (
        "the PAY file is on its way (its control file is here): incomplete, not missing"
    )
    [(kind, client, message)] = [a for a in _alerts() if ORPHAN in a[2]]
    assert (kind, client) == ("INCOMPLETE_FILE", CLIENT)
    assert f"{STEM}.csv" in message and "data file" in message
    answer = z.landing.get(f"{CLIENT}/outbox/{STEM}.rej").decode("utf-8")
    code, text = answer.rstrip("\n").split("|", 1)
    assert code == "F_CONTROL" and answer.endswith("\n") and answer.count("\n") == 1
    assert ORPHAN in text and f"{STEM}.csv" in text and "intake cutoff 16:00" in text
    assert z.landing.get(f"{CLIENT}/inbox/{ORPHAN}") == control, "kept in the inbox for its data file"

    before = _alerts()
    intake.alert_at_cutoff(DAY, BANKA_PAST)  # the cutoff check reruns (retry, next hourly run)
    intake.alert_at_cutoff(DAY, ALL_PAST)
    assert [a for a in _alerts() if ORPHAN in a[2]] == [a for a in before if ORPHAN in a[2]], "alerted once"
    assert z.landing.get(f"{CLIENT}/outbox/{STEM}.rej").decode("utf-8") == answer
    assert _orphan_answers() == 1, "answered once"
    with db.begin() as conn:
        assert conn.execute(sqlalchemy.text("SELECT COUNT(*) FROM files")).scalar_one() == 0


def test_data_file_after_the_control_files_cutoff_answer_is_processed_as_usual(business_db, intake_zones):
    z = intake_zones
    data = pay_csv(["1.00", "2.50"]).encode()
    z.landing.put(f"{CLIENT}/inbox/{ORPHAN}", ctl(f"{STEM}.csv", 2, "3.50", data))
    intake.alert_at_cutoff(DAY, BANKA_PAST)
    assert z.landing.get(f"{CLIENT}/outbox/{STEM}.rej").startswith(b"F_CONTROL|")

    z.landing.put(f"{CLIENT}/inbox/{STEM}.csv", data)  # the data file comes late, the date still open
    [result] = [intake.process_drop(d, DAY) for d in intake.list_drops(DAY)]
    assert (result["status"], result["code"]) == ("INTAKE_OK", None)
    assert not z.landing.exists(f"{CLIENT}/outbox/{STEM}.rej"), "the provisional answer is withdrawn"
    assert z.landing.get(f"{CLIENT}/processed/{STEM}.csv") == data
    assert z.landing.exists(f"{CLIENT}/processed/{ORPHAN}")
    assert z.landing.list(f"{CLIENT}/inbox") == []
    assert intake.alert_at_cutoff(DAY, ALL_PAST) == [
        {"kind": "MISSING_FILE", "client_id": CLIENT, "name": "LOAN"},
        {"kind": "MISSING_FILE", "client_id": "TRUSTB", "name": "PAY"},
    ], "nothing is incomplete any more"
    assert _orphan_answers() == 1
    assert f"incomplete:{CLIENT}/{ORPHAN}:{DAY}" in alerting.resolve_cleared(), "the pair is registered"


def test_late_data_file_refused_replaces_the_control_files_answer(business_db, intake_zones):
    z = intake_zones
    data = pay_csv(["1.00"]).encode()
    z.landing.put(f"{CLIENT}/inbox/{ORPHAN}", ctl(f"{STEM}.csv", 1, "9.00", data))  # wrong total
    intake.alert_at_cutoff(DAY, BANKA_PAST)
    z.landing.put(f"{CLIENT}/inbox/{STEM}.csv", data)
    [result] = [intake.process_drop(d, DAY) for d in intake.list_drops(DAY)]
    assert result["code"] == "F_TOTAL"
    assert z.landing.get(f"{CLIENT}/outbox/{STEM}.rej").startswith(b"F_TOTAL|")
    intake.alert_at_cutoff(DAY, ALL_PAST)
    assert z.landing.get(f"{CLIENT}/outbox/{STEM}.rej").startswith(b"F_TOTAL|"), "not answered again"
