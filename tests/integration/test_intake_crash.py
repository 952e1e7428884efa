"""Crash safety and concurrency of intake: a run killed between any two steps is finished by the
next run with nothing lost and nothing registered twice; two runs racing on the same drops
register each file exactly once (database uniqueness, not luck).

The kill uses the documented test hook ``DAYBOOK_CRASH_AT=<step>``: intake SIGKILLs its own
process at that step boundary (see ``intake.CRASH_STEPS``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
import sqlalchemy

from daybook import db, intake
from s3_fixtures import CLIENT, DAY, DAY8, drop, pay_csv, sha

pytest_plugins = ["s3_fixtures"]
pytestmark = pytest.mark.integration

GOOD = f"{CLIENT}_PAY_{DAY8}_001.csv"  # answered first (names are processed in order)
BAD = f"{CLIENT}_PAY_{DAY8}_002.csv"  # F_TOTAL
RUN_INTAKE = (
    "import sys; from daybook import intake; "
    "[intake.process_drop(d, sys.argv[1]) for d in intake.list_drops(sys.argv[1])]"
)


def _subprocess_intake(extra_env: dict[str, str] | None = None) -> subprocess.Popen:
    env = {**os.environ, **(extra_env or {})}
    return subprocess.Popen([sys.executable, "-c", RUN_INTAKE, DAY], env=env, stderr=subprocess.PIPE)


def _receipts() -> list[dict]:
    with db.begin() as conn:
        q = "SELECT name, sha256, status, reason_code, inbox_done, original FROM files ORDER BY file_id"
        return [dict(r) for r in conn.execute(sqlalchemy.text(q)).mappings()]


def _judged_events() -> int:
    with db.begin() as conn:
        q = "SELECT COUNT(*) FROM audit_events WHERE action = 'file_judged'"
        return conn.execute(sqlalchemy.text(q)).scalar_one()


def _two_drops(landing) -> dict[str, bytes]:
    good = drop(landing, GOOD, pay_csv(["1.00", "2.00"]).encode(), count=2, total="3.00")
    bad = drop(landing, BAD, pay_csv(["5.00"]).encode(), count=1, total="4.00")
    return {GOOD: good, BAD: bad}


def _assert_each_answered_once(z, sent: dict[str, bytes]) -> None:
    receipts = _receipts()
    assert sorted((r["name"], r["status"], r["reason_code"], r["inbox_done"]) for r in receipts) == [
        (GOOD, "INTAKE_OK", None, 1),
        (BAD, "REJECTED", "F_TOTAL", 1),
    ], "exactly one receipt per file"
    assert {r["name"]: r["sha256"] for r in receipts} == {n: sha(d) for n, d in sent.items()}
    assert _judged_events() == 2, "each file judged (and audited) once"
    assert z.landing.list(f"{CLIENT}/inbox") == [], "nothing left behind"
    assert z.landing.get(f"{CLIENT}/processed/{GOOD}") == sent[GOOD]
    assert z.landing.get(f"{CLIENT}/rejected/{BAD}") == sent[BAD]
    assert z.landing.exists(f"{CLIENT}/processed/{GOOD.replace('.csv', '.ctl')}")
    assert z.landing.exists(f"{CLIENT}/rejected/{BAD.replace('.csv', '.ctl')}")
    assert z.landing.get(f"{CLIENT}/outbox/{BAD[:-4]}.rej").decode().startswith("F_TOTAL|")
    assert not z.landing.exists(f"{CLIENT}/outbox/{GOOD[:-4]}.rej")
    for name, data in sent.items():
        assert z.raw.get(f"{CLIENT}/{sha(data)}/{name}") == data, "raw zone holds the exact bytes"


# Local folders: every step; S3: three representative steps (each case starts a Python process).
CRASHES = [("local", step) for step in intake.CRASH_STEPS] + [
    ("s3", step) for step in ("after_raw_copy", "after_judge", "between_moves")
]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("store_kind", "step"), CRASHES, indirect=["store_kind"])
def test_killed_at_any_step_then_rerun_loses_and_duplicates_nothing(business_db, intake_zones, step):
    z = intake_zones
    sent = _two_drops(z.landing)
    proc = _subprocess_intake({"DAYBOOK_CRASH_AT": step})
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL, err.decode()[-2000:]
    assert z.landing.list(f"{CLIENT}/inbox") or _receipts(), "the kill happened mid-intake"
    for name, data in sent.items():  # nothing lost: each file is in the inbox or moved, bytes intact
        where = [k for k in z.landing.list(CLIENT) if k.endswith("/" + name)]
        assert len(where) == 1 and z.landing.get(where[0]) == data, (name, where)
    intake.list_drops(DAY)  # a restart sees the same world
    results = [intake.process_drop(d, DAY) for d in intake.list_drops(DAY)]
    assert all(r["status"] in ("INTAKE_OK", "REJECTED") for r in results), results
    _assert_each_answered_once(z, sent)
    assert [intake.process_drop(d, DAY) for d in intake.list_drops(DAY)] == [], (
        "a third run has nothing to do"
    )
    _assert_each_answered_once(z, sent)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)
@pytest.mark.parametrize("store_kind", ["local"], indirect=True)
def test_two_concurrent_runs_register_each_file_once(business_db, intake_zones):
    z = intake_zones
    sent = _two_drops(z.landing)
    for seq in range(3, 9):  # more files so the two runs overlap
        name = f"{CLIENT}_PAY_{DAY8}_{seq:03d}.csv"
        sent[name] = drop(z.landing, name, pay_csv([f"{seq}.01"]).encode(), count=1, total=f"{seq}.01")
    runs = [_subprocess_intake() for _ in range(2)]
    for proc in runs:
        _, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err.decode()[-3000:]
    receipts = _receipts()
    assert sorted(r["name"] for r in receipts) == sorted(sent), "each file registered exactly once"
    assert all(r["inbox_done"] == 1 for r in receipts)
    assert {r["name"]: r["reason_code"] for r in receipts if r["status"] == "REJECTED"} == {BAD: "F_TOTAL"}
    assert _judged_events() == len(sent)
    assert z.landing.list(f"{CLIENT}/inbox") == []
    for name, data in sent.items():
        target = "rejected" if name == BAD else "processed"
        assert z.landing.get(f"{CLIENT}/{target}/{name}") == data


# The two windows the concurrent test above met under load, made to happen on purpose: the other
# run answers the pair while this one is reading it, or finishes the receipt this one's insert
# met before this one looks it up. Either way this run leaves the file to the other, no error.


@pytest.mark.parametrize("store_kind", ["local", "s3"], indirect=True)
def test_a_pair_answered_by_another_run_while_this_one_reads_it_is_left_to_that_run(
    business_db, intake_zones, monkeypatch
):
    z = intake_zones
    sent = _two_drops(z.landing)
    [drop_good, _] = intake.list_drops(DAY)
    real_hash = intake._hash

    def hash_then_the_other_run_answers(store, key):
        out = real_hash(store, key)
        if key.endswith(".csv"):  # the other run answers the pair between data and control file
            monkeypatch.setattr(intake, "_hash", real_hash)
            other = intake.process_drop(drop_good, DAY)
            assert other["status"] == "INTAKE_OK"
        return out

    monkeypatch.setattr(intake, "_hash", hash_then_the_other_run_answers)
    assert intake.process_drop(drop_good, DAY) == {"folder": CLIENT, "name": GOOD, "status": "GONE"}
    assert [(r["name"], r["status"], r["inbox_done"]) for r in _receipts()] == [(GOOD, "INTAKE_OK", 1)]
    assert z.landing.get(f"{CLIENT}/processed/{GOOD}") == sent[GOOD]


# PostgreSQL only: on SQLite this run's transaction holds the one write lock from its first write
# (the profile version) to its commit, so no other run can register or finish anything between
# this run's insert and its look-up.
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
@pytest.mark.parametrize("store_kind", ["local"], indirect=True)
def test_a_receipt_finished_by_another_run_after_this_ones_insert_is_left_to_that_run(
    business_db, intake_zones, monkeypatch
):
    z = intake_zones
    _two_drops(z.landing)
    [drop_good, _] = intake.list_drops(DAY)
    real_run = db.run
    finished = []

    def run(conn, name, params=None):
        if name == "insert_pending_receipt" and not finished:
            # The other run registered the same bytes first (its unfinished receipt makes this
            # insert a no-op) ...
            with db.begin() as other:
                real_run(other, name, params)
        result = real_run(conn, name, params)
        if name == "insert_pending_receipt" and not finished:
            # ... and answers them before this run looks its receipt up.
            with db.begin() as other:
                other.execute(sqlalchemy.text("UPDATE files SET inbox_done = 1, status = 'INTAKE_OK'"))
            finished.append(True)
        return result

    monkeypatch.setattr(db, "run", run)
    assert intake.process_drop(drop_good, DAY) == {"folder": CLIENT, "name": GOOD, "status": "GONE"}
    assert [(r["name"], r["inbox_done"]) for r in _receipts()] == [(GOOD, 1)]
    assert z.landing.exists(f"{CLIENT}/inbox/{GOOD}")  # the other run moves it, not this one
