"""profiles.cutoff: a client's stage cutoff on a business date, read from its profile, and the one
description of a cutoff that is not a time "HH:MM" (the PROFILE_INVALID alert's problem)."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daybook import profiles

SH = ZoneInfo("Asia/Shanghai")
DAY = "2026-11-27"


def _profile(cutoffs) -> profiles.Profile:
    return profiles.Profile(client_id="ACME", version="v1", content="", data={"cutoffs": cutoffs})


@pytest.mark.parametrize(
    ("hhmm", "hour", "minute"),
    [("19:30", 19, 30), ("00:00", 0, 0), ("23:59", 23, 59), ("07:05", 7, 5), ("7:05", 7, 5), ("0:00", 0, 0)],
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


@pytest.mark.parametrize(
    "loose",
    [
        "7:5",  # one-digit minute
        "19:0",
        "019:00",  # three digits
        "19:000",
        " 19:00",  # spaces
        "19:00 ",
        "19: 00",
        "19:00\n",
        "+19:00",  # signs
        "19:-0",
        "-0:00",
        "1_9:00",  # digit grouping
        "19:0_0",
        "\uff11\uff19:\uff10\uff10",  # full-width digits
        "\u0661\u0669:\u0660\u0660",  # Arabic-Indic digits
        "\u0967\u096f:\u0966\u0966",  # Devanagari digits
    ],
)
def test_a_time_written_loosely_is_refused_not_guessed(tmp_path, monkeypatch, loose):
    """int() would read every one of these as a time; a cutoff is exactly HH:MM, so each is an
    invalid profile that names what was found, like any other cutoff that is not a time."""
    monkeypatch.setenv("DAYBOOK_PROFILES", str(tmp_path))
    with pytest.raises(profiles.InvalidProfile) as error:
        profiles.cutoff(_profile({"settlement": loose}), "settlement", DAY)
    assert error.value.problem == f'cutoffs.settlement must be a time in quotes, "HH:MM", found {loose!r}'


# The 1440 minutes of a day, as "HH:MM", and the hours before 10 also as "H:MM".
EVERY_HHMM = {f"{h:02d}:{m:02d}" for h in range(24) for m in range(60)} | {
    f"{h}:{m:02d}" for h in range(10) for m in range(60)
}
# Hour and minute parts as people might type them: digits of several scripts, signs, spaces, "_".
_PART = st.text(alphabet="0123456789+-_ \t\uff10\uff11\u0661\u0969", min_size=1, max_size=3)


@given(
    st.one_of(
        st.sampled_from(sorted(EVERY_HHMM)),
        st.builds(lambda hours, minutes: f"{hours}:{minutes}", _PART, _PART),
        st.text(max_size=7),
    )
)
def test_a_cutoff_is_read_exactly_when_it_is_one_of_the_minutes_of_a_day(text):
    try:
        got = profiles.cutoff(_profile({"settlement": text}), "settlement", DAY)
    except profiles.InvalidProfile:
        assert text not in EVERY_HHMM
    else:
        assert text in EVERY_HHMM and got.strftime("%H:%M") == text.zfill(5) and got.tzinfo == SH


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
