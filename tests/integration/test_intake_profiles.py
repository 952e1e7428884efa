"""A client profile that intake cannot use (does not parse, names another client, an intake cutoff
that is not a time) holds that one client: its inbox is left exactly as it is (nothing copied,
registered, moved or answered: the platform cannot know the client's rules), a PROFILE_INVALID
alert names the profile file and the problem once per profile content and date, and every other
client is sensed, listed, answered and alerted as usual."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy

from daybook import alerting, db, intake
from log_capture import errors_logged
from s3_fixtures import CLIENT, DAY, DAY8, drop, pay_csv

pytest_plugins = ["s3_fixtures"]
pytestmark = pytest.mark.integration
SH = ZoneInfo("Asia/Shanghai")
BEFORE_ALL = datetime(2026, 11, 27, 15, 59, tzinfo=SH)
ALL_PAST = datetime(2026, 11, 27, 17, 30, tzinfo=SH)
ROOT = Path(__file__).resolve().parents[2]
OTHER = "TRUSTB"  # the client whose profile breaks; BANKA (CLIENT) stays well
OTHER_NAME = f"{OTHER}_PAY_{DAY8}_001.csv"
GOOD_NAME = f"{CLIENT}_PAY_{DAY8}_001.csv"

# (profile text, words the alert must show so the on-call knows what to fix)
BROKEN = {
    "names another client": (b"client_id: BANKA\n", "'BANKA'"),
    "does not parse": (b"client_id: TRUSTB\naccepted_currencies: [CNY\n", "not valid YAML"),
    "not a mapping": (b"- client_id: TRUSTB\n", "mapping"),
    "not UTF-8": (b"client_id: TRUSTB\nname: \xb6\xab\xb7\xbd\n", "not UTF-8"),
    # YAML 1.1 reads an unquoted 16:00 as the number 960
    "intake cutoff not a time": (b"client_id: TRUSTB\ncutoffs: {intake: 16:00}\n", "cutoffs.intake"),
}


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


BOTH_DBS = pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)


def _alerts(kind: str | None = None) -> list[dict]:
    with db.begin() as conn:
        rows = conn.execute(sqlalchemy.text("SELECT * FROM alert_events ORDER BY alert_id")).mappings()
        return [dict(r) for r in rows if kind is None or r["kind"] == kind]


def _files_of(folder: str) -> list[dict]:
    with db.begin() as conn:
        q = "SELECT * FROM files WHERE folder = :folder"
        return [dict(r) for r in conn.execute(sqlalchemy.text(q), {"folder": folder}).mappings()]


def _snapshot(store, prefix: str) -> dict[str, bytes]:
    return {k: store.get(k) for k in store.list(prefix)}


def _run_intake() -> list[dict]:
    return [intake.process_drop(d, DAY) for d in intake.list_drops(DAY)]


def _two_clients(z) -> bytes:
    good = drop(z.landing, GOOD_NAME, pay_csv(["1.00"]).encode(), count=1, total="1.00")
    drop(z.landing, OTHER_NAME, pay_csv(["2.00"]).encode(), count=1, total="2.00", folder=OTHER)
    drop(z.landing, f"{OTHER}_PAY_{DAY8}_002.csv", pay_csv(["3.00"]).encode(), folder=OTHER)  # no .ctl
    z.landing.put(f"{OTHER}/inbox/notes.txt", b"a badly named file")
    return good


@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_profile_holds_only_its_own_client(case, business_db, intake_zones, profiles_dir):
    z = intake_zones
    content, problem = BROKEN[case]
    (profiles_dir / f"{OTHER}.yaml").write_bytes(content)
    good = _two_clients(z)
    before = _snapshot(z.landing, OTHER)

    assert intake.drops_ready(DAY, BEFORE_ALL) is True, "BANKA's complete drop is there"
    results = _run_intake()
    assert [(r["folder"], r["name"], r["status"]) for r in results] == [(CLIENT, GOOD_NAME, "INTAKE_OK")]
    assert z.landing.get(f"{CLIENT}/processed/{GOOD_NAME}") == good
    assert _snapshot(z.landing, OTHER) == before, "nothing of the held client is moved or answered"
    assert _files_of(OTHER) == [] and z.raw.list(OTHER) == []

    [alert] = _alerts("PROFILE_INVALID")
    assert alert["severity"] == "critical" and alert["business_date"] == DAY
    assert f"{OTHER}.yaml" in alert["message"] and problem in alert["message"], alert["message"]

    _run_intake()  # the next hourly run: nothing new
    raised = intake.alert_at_cutoff(DAY, ALL_PAST)
    assert sorted((a["kind"], a["client_id"]) for a in raised) == [("MISSING_FILE", CLIENT)], (
        "BANKA's cutoff alerts go out (LOAN missing); the held client gets none but PROFILE_INVALID"
    )
    assert len(_alerts("PROFILE_INVALID")) == 1, "alerted once per profile content and date"
    assert _snapshot(z.landing, OTHER) == before


@BOTH_DBS
def test_profile_alert_once_per_content_and_the_client_resumes_when_fixed(
    business_db, intake_zones, profiles_dir
):
    z = intake_zones
    path = profiles_dir / f"{OTHER}.yaml"
    fixed = path.read_bytes()
    _two_clients(z)
    path.write_bytes(b"client_id: TRUSTC\n")
    _run_intake()
    path.write_bytes(b"client_id: [TRUSTB\n")  # "fixed" into another broken content
    _run_intake()
    _run_intake()
    first, second = _alerts("PROFILE_INVALID")
    assert "'TRUSTC'" in first["message"] and "not valid YAML" in second["message"]
    assert alerting.resolve_cleared() == [first["dedup_key"]], "the first content is gone; the second holds"

    path.write_bytes(fixed)
    results = {r["name"]: r["status"] for r in _run_intake()}
    assert results == {OTHER_NAME: "INTAKE_OK", "notes.txt": "REJECTED"}, "the held files are answered now"
    assert z.landing.exists(f"{OTHER}/processed/{OTHER_NAME}")
    assert alerting.resolve_cleared() == [second["dedup_key"]]


@BOTH_DBS
def test_broken_profile_without_a_landing_folder_does_not_stop_the_cutoff_check(
    business_db, intake_zones, profiles_dir
):
    (profiles_dir / f"{OTHER}.yaml").write_text("client_id: TRUSTB\ncutoffs: {intake: late}\n")
    raised = intake.alert_at_cutoff(DAY, ALL_PAST)
    assert sorted((a["kind"], a["name"]) for a in raised) == [
        ("MISSING_FILE", "LOAN"),
        ("MISSING_FILE", "PAY"),
    ]
    assert {a["client_id"] for a in raised} == {CLIENT}
    [alert] = _alerts("PROFILE_INVALID")
    assert f"{OTHER}.yaml" in alert["message"] and "'late'" in alert["message"]


def test_profile_broken_between_listing_and_answering_leaves_the_file(
    business_db, intake_zones, profiles_dir
):
    z = intake_zones
    _two_clients(z)
    drops = intake.list_drops(DAY)
    assert (OTHER, OTHER_NAME) in {(d["folder"], d["name"]) for d in drops}
    before = _snapshot(z.landing, OTHER)
    (profiles_dir / f"{OTHER}.yaml").write_text("client_id: BANKA\n")
    results = {(r["folder"], r["name"]): r["status"] for r in (intake.process_drop(d, DAY) for d in drops)}
    assert results[(CLIENT, GOOD_NAME)] == "INTAKE_OK"
    assert results[(OTHER, OTHER_NAME)] == "PROFILE_INVALID"
    assert _snapshot(z.landing, OTHER) == before
    assert _files_of(OTHER) == [] and z.raw.list(OTHER) == []
    assert len(_alerts("PROFILE_INVALID")) == 1


@BOTH_DBS
def test_intake_holds_a_client_as_every_stage_does(business_db, intake_zones, profiles_dir):
    """The alert intake raises for a profile it cannot use, exactly, and the error line: the one
    line every stage that holds a client logs (daybook.profiles: client, date, problem, what is
    held), at each look at the client's folder, while the alert is raised once."""
    _two_clients(intake_zones)
    content = b"client_id: TRUSTB\ncutoffs: {intake: 16:00}\n"  # YAML 1.1: the number 960
    (profiles_dir / f"{OTHER}.yaml").write_bytes(content)
    with errors_logged("daybook.profiles") as lines:
        _run_intake()
        intake.alert_at_cutoff(DAY, ALL_PAST)

    problem = 'cutoffs.intake must be a time in quotes, "HH:MM", found 960'
    held = f"the files in {OTHER}/inbox/ are left untouched (not moved, not answered) until it is fixed"
    [alert] = _alerts("PROFILE_INVALID")
    assert alert["message"] == f"client profile {OTHER}.yaml of {OTHER} cannot be used: {problem}; {held}"
    assert alert["dedup_key"] == f"profile-invalid:{OTHER}:{hashlib.sha256(content).hexdigest()[:16]}:{DAY}"
    assert (alert["stage"], alert["client_id"], alert["severity"]) == (None, None, "critical")
    assert lines, "intake logs the hold"
    assert set(lines) == {f"{OTHER} {DAY}: profile {profiles_dir / f'{OTHER}.yaml'}: {problem}; held: {held}"}


@pytest.mark.parametrize("store_kind", ["local"], indirect=True)
def test_intake_daily_dag_run_goes_on_for_other_clients(business_db, intake_zones, profiles_dir, airflow_db):
    from daybook.runner import run_stage

    z = intake_zones
    (profiles_dir / f"{OTHER}.yaml").write_text("client_id: BANKA\n")
    good = _two_clients(z)
    before = _snapshot(z.landing, OTHER)
    assert run_stage("intake", DAY) == "success"
    assert z.landing.get(f"{CLIENT}/processed/{GOOD_NAME}") == good
    assert _snapshot(z.landing, OTHER) == before
    alerts = _alerts()
    assert [a["kind"] for a in alerts].count("PROFILE_INVALID") == 1
    assert all(a["client_id"] != OTHER for a in alerts), "no cutoff alert from a profile that cannot be read"
