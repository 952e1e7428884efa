"""profiles.cutoff: a client's stage cutoff on a business date, read from its profile, and the one
description of a cutoff that is not a time "HH:MM" (the PROFILE_INVALID alert's problem)."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from daybook import profiles

SH = ZoneInfo("Asia/Shanghai")
DAY = "2026-11-27"


def _profile(cutoffs) -> profiles.Profile:
    return profiles.Profile(client_id="ACME", version="v1", content="", data={"cutoffs": cutoffs})


@pytest.mark.parametrize(
    ("hhmm", "hour", "minute"),
    [("19:30", 19, 30), ("00:00", 0, 0), ("23:59", 23, 59), ("7:05", 7, 5)],
)
def test_a_time_in_quotes_is_that_time_of_the_business_date_in_shanghai(hhmm, hour, minute):
    got = profiles.cutoff(_profile({"settlement": hhmm}), "settlement", DAY)
    assert got == datetime(2026, 11, 27, hour, minute, tzinfo=SH)
    assert got.utcoffset().total_seconds() == 8 * 3600


def test_only_the_stage_asked_for_is_read():
    broken_intake = {"intake": 960, "approval": "18:30", "settlement": "19:00"}
    assert profiles.cutoff(_profile(broken_intake), "settlement", DAY) == datetime(
        2026, 11, 27, 19, 0, tzinfo=SH
    )


@pytest.mark.parametrize(
    ("cutoffs", "found"),
    [
        ({"settlement": 1140}, "1140"),  # 19:00 unquoted: YAML 1.1 reads it as 19*60
        ({"settlement": "25:00"}, "'25:00'"),
        ({"settlement": "19:60"}, "'19:60'"),
        ({"settlement": "19:00:00"}, "'19:00:00'"),
        ({"settlement": "19h00"}, "'19h00'"),
        ({"settlement": ""}, "''"),
        ({"settlement": None}, "None"),
        ({"intake": "16:00"}, "None"),  # no settlement key at all
        ("19:00", "'19:00'"),  # cutoffs not a mapping
        (["19:00"], "['19:00']"),
        (None, "None"),
    ],
)
def test_anything_else_is_an_invalid_profile_naming_the_key_and_what_was_found(
    tmp_path, monkeypatch, cutoffs, found
):
    monkeypatch.setenv("DAYBOOK_PROFILES", str(tmp_path))
    with pytest.raises(profiles.InvalidProfile) as error:
        profiles.cutoff(_profile(cutoffs), "settlement", DAY)
    assert error.value.problem == f'cutoffs.settlement must be a time in quotes, "HH:MM", found {found}'
    assert (error.value.path, error.value.version) == (tmp_path / "ACME.yaml", "v1")


def test_reading_a_cutoff_imports_nothing_of_airflow():
    """The cutoff is read by code that runs outside Airflow too (the CLI, reports): reading it
    imports no Airflow, and it is in the one business time zone of the package."""
    code = (
        "import sys\n"
        "from daybook import config, profiles\n"
        "p = profiles.Profile('ACME', 'v1', '', {'cutoffs': {'settlement': '19:30'}})\n"
        "at = profiles.cutoff(p, 'settlement', '2026-11-27')\n"
        "assert at.tzinfo is config.BUSINESS_TZ, at.tzinfo\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'airflow'))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
