"""A client profile that breaks after intake (or whose validation settings cannot be read) holds
that one client at validation: its files stay INTAKE_OK with no row published and no answer
written, a PROFILE_INVALID alert names the client, the profile and the problem, and the task does
not fail, so the other clients' files are validated and published (validation_daily's publish
step runs only when no mapped task failed). After the fix a rerun validates the held files once.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy

from daybook import db, intake, validation
from s3_fixtures import CLIENT, DAY, DAY8, drop, pay_csv

pytest_plugins = ["s3_fixtures"]
pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
OTHER = "TRUSTB"
GOOD_NAME = f"{CLIENT}_PAY_{DAY8}_001.csv"
OTHER_NAME = f"{OTHER}_PAY_{DAY8}_001.csv"

# (what breaks in TRUSTB's profile after intake, words the alert must show)
BROKEN = {
    "does not parse": ("client_id: TRUSTB\naccepted_currencies: [CNY\n", "not valid YAML"),
    "threshold not a number": ('client_id: TRUSTB\nerror_rate_threshold: "twenty"\n', "error_rate_threshold"),
    "threshold a percentage": ("client_id: TRUSTB\nerror_rate_threshold: 20\n", "share from 0 to 1"),
    "currencies not a list": ("client_id: TRUSTB\naccepted_currencies: CNY\n", "accepted_currencies"),
    "relaxations not a mapping": ("client_id: TRUSTB\nrelaxations: [x]\n", "luhn_off_card_prefixes"),
}


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


def _taken_in(z) -> None:
    drop(z.landing, GOOD_NAME, pay_csv(["1.00", "2.00"]).encode(), count=2, total="3.00")
    drop(z.landing, OTHER_NAME, pay_csv(["4.00"]).encode(), count=1, total="4.00", folder=OTHER)
    results = [intake.process_drop(d, DAY) for d in intake.list_drops(DAY)]
    assert sorted((r["folder"], r["status"]) for r in results) == [
        (CLIENT, "INTAKE_OK"),
        (OTHER, "INTAKE_OK"),
    ]


def _validate_day() -> dict[str, list[dict]]:
    """validation_daily's mapped tasks, one per client, as the DAG calls them."""
    return {c: validation.validate_client(c, DAY) for c in validation.list_clients(DAY)}


def _file_states() -> dict[str, tuple[str, int]]:
    with db.begin() as conn:
        rows = conn.execute(
            sqlalchemy.text(
                "SELECT f.folder, f.status, (SELECT COUNT(*) FROM records AS r WHERE r.file_id = f.file_id)"
                " FROM files AS f ORDER BY f.folder"
            )
        ).all()
    return {r[0]: (r[1], int(r[2])) for r in rows}


def _profile_alerts() -> list[dict]:
    with db.begin() as conn:
        rows = conn.execute(
            sqlalchemy.text("SELECT * FROM alert_events WHERE kind = 'PROFILE_INVALID' ORDER BY alert_id")
        ).mappings()
        return [dict(r) for r in rows]


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_profile_broken_after_intake_holds_only_its_client_at_validation(
    case, business_db, intake_zones, profiles_dir
):
    z = intake_zones
    _taken_in(z)
    path = profiles_dir / f"{OTHER}.yaml"
    fixed = path.read_bytes()
    content, problem = BROKEN[case]
    path.write_text(content, encoding="utf-8")

    results = _validate_day()  # does not raise
    assert [r["status"] for r in results[CLIENT]] == ["VALIDATED"]
    assert [(r["status"], r.get("held")) for r in results[OTHER]] == [("HELD", True)]
    assert _file_states() == {CLIENT: ("VALIDATED", 2), OTHER: ("INTAKE_OK", 0)}
    assert z.landing.exists(f"{CLIENT}/outbox/{CLIENT}_PAY_{DAY8}_001.ack.csv")
    assert z.landing.list(f"{OTHER}/outbox/") == [], "nothing is answered for the held client"
    [alert] = _profile_alerts()
    assert alert["severity"] == "critical" and alert["business_date"] == DAY
    assert f"{OTHER}.yaml" in alert["message"] and problem in alert["message"], alert["message"]
    assert "not validated" in alert["message"]

    _validate_day()  # a rerun while still broken: nothing moves, no second alert
    assert _file_states() == {CLIENT: ("VALIDATED", 2), OTHER: ("INTAKE_OK", 0)}
    assert len(_profile_alerts()) == 1

    path.write_bytes(fixed)
    results = _validate_day()
    assert [r["status"] for r in results[OTHER]] == ["VALIDATED"]
    assert _file_states() == {CLIENT: ("VALIDATED", 2), OTHER: ("VALIDATED", 1)}, "each row once"
    ack = z.landing.get(f"{OTHER}/outbox/{OTHER}_PAY_{DAY8}_001.ack.csv").decode("utf-8").splitlines()
    assert ack[0] == "line_no,client_ref,business_no,status,reason_codes"
    assert [line.split(",")[3] for line in ack[1:]] == ["ACCEPTED"]


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_files_validated_before_the_profile_broke_keep_their_answer_on_a_rerun(
    business_db, intake_zones, profiles_dir
):
    z = intake_zones
    _taken_in(z)
    _validate_day()
    ack = f"{OTHER}/outbox/{OTHER}_PAY_{DAY8}_001.ack.csv"
    answered = z.landing.get(ack)
    (profiles_dir / f"{OTHER}.yaml").write_text("client_id: [TRUSTB\n", encoding="utf-8")
    results = _validate_day()
    assert [r["status"] for r in results[OTHER]] == ["VALIDATED"], "already validated: not held"
    assert _file_states() == {CLIENT: ("VALIDATED", 2), OTHER: ("VALIDATED", 1)}
    assert z.landing.get(ack) == answered
