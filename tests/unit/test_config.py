"""Settings read from the environment as numbers: DAYBOOK_MAX_FILE_ROWS, the F_TOO_LARGE row
limit, then every other one (byte limit, pool slots, retention, purge window, deadline budgets).

The row limit's ceiling is the contract's, not the code's: a business number ends in the row's line number
written with 6 digits (file-contract.md section 5), so no file can hold more than 999,999 rows.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daybook.config import ConfigError, env_int, settings


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, 999_999),  # not set: the contract's ceiling
        ("", 999_999),  # set empty: as not set, like every other setting
        ("999999", 999_999),
        ("1", 1),
        ("3", 3),
        (" 500000 ", 500_000),  # surrounding spaces are trimmed, like every other setting
    ],
)
def test_max_file_rows_within_one_and_the_six_digit_ceiling(monkeypatch, value, expected):
    if value is None:
        monkeypatch.delenv("DAYBOOK_MAX_FILE_ROWS", raising=False)
    else:
        monkeypatch.setenv("DAYBOOK_MAX_FILE_ROWS", value)
    assert settings().max_file_rows == expected


@pytest.mark.parametrize(
    "value",
    [
        "1000000",  # one row more than a 6-digit line number can count
        "2000000",
        "0",  # no file could ever be accepted
        "-1",
        "abc",
        "1e6",
        "1_000",  # Python's int() would take it; a setting is plain digits
        "+5",
        "12.0",
        "１２",  # full-width digits
    ],
)
def test_max_file_rows_outside_one_to_999999_is_a_configuration_error(monkeypatch, value):
    monkeypatch.setenv("DAYBOOK_MAX_FILE_ROWS", value)
    with pytest.raises(ConfigError) as error:
        settings()
    message = str(error.value)
    assert message.startswith("DAYBOOK_MAX_FILE_ROWS must be a whole number from 1 to 999999 ("), message
    assert "6-digit line number" in message and repr(value) in message
    assert isinstance(error.value, ValueError)


# --------------------------------------------------------------------------- every other number
# Each setting read as a number gives, for a value it cannot run with, a ConfigError that names
# the setting, the whole numbers it takes and why, and the value found: never a bare ValueError
# from int() (which names neither), and never a 0 or a negative number taken silently.


def _max_file_bytes() -> int:
    return settings().max_file_bytes


def _db_pool_slots() -> int:
    return settings().db_pool_slots


def _retention_years_of_pay() -> int:
    from daybook import archive

    return archive.retention_years("PAY")


def _purge_after_days() -> int:
    from daybook import archive

    return archive.purge_after_days()


def _approval_budget_seconds() -> int:
    from daybook import deadlines

    return int(deadlines.run_budget("approval").total_seconds())


# setting, how the platform reads it, its value when not set, what the error says it takes, a
# word of the reason given
NUMBERS = [
    ("DAYBOOK_MAX_FILE_BYTES", _max_file_bytes, 2_147_483_648, "of at least 1", "F_TOO_LARGE"),
    ("DAYBOOK_DB_POOL_SLOTS", _db_pool_slots, 4, "of at least 1", "pool"),
    ("DAYBOOK_RETENTION_YEARS", _retention_years_of_pay, 10, "from 1 to 100", "archive package"),
    ("DAYBOOK_RETENTION_YEARS_PAY", _retention_years_of_pay, 10, "from 1 to 100", "archive package"),
    ("DAYBOOK_PURGE_AFTER_DAYS", _purge_after_days, 90, "from 0 to 36500", "payload"),
    ("DAYBOOK_DEADLINE_SECONDS_APPROVAL", _approval_budget_seconds, 36_000, "from 1 to 86400", "queued"),
]
NUMBER_IDS = [n[0] for n in NUMBERS]


@pytest.fixture
def no_number_settings(monkeypatch):
    for name, *_ in NUMBERS:
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(("name", "read", "default", "_takes", "_why"), NUMBERS, ids=NUMBER_IDS)
@pytest.mark.parametrize("unset", [None, "", "  "])
def test_a_number_setting_not_set_or_empty_takes_its_default(
    monkeypatch, no_number_settings, name, read, default, _takes, _why, unset
):
    if unset is not None:
        monkeypatch.setenv(name, unset)
    assert read() == default


@pytest.mark.parametrize(
    ("name", "read", "values"),
    [
        ("DAYBOOK_MAX_FILE_BYTES", _max_file_bytes, {"1": 1, "100": 100, " 4096 ": 4096}),
        ("DAYBOOK_DB_POOL_SLOTS", _db_pool_slots, {"1": 1, "8": 8, "64": 64}),
        ("DAYBOOK_RETENTION_YEARS", _retention_years_of_pay, {"1": 1, "5": 5, "100": 100}),
        ("DAYBOOK_RETENTION_YEARS_PAY", _retention_years_of_pay, {"1": 1, "7": 7, "100": 100}),
        ("DAYBOOK_PURGE_AFTER_DAYS", _purge_after_days, {"0": 0, "30": 30, "36500": 36_500}),
        ("DAYBOOK_DEADLINE_SECONDS_APPROVAL", _approval_budget_seconds, {"1": 1, "3": 3, "86400": 86_400}),
    ],
    ids=NUMBER_IDS,
)
def test_a_number_setting_within_its_range_is_taken(monkeypatch, no_number_settings, name, read, values):
    for text, expected in values.items():
        monkeypatch.setenv(name, text)
        assert read() == expected, text


def test_the_class_retention_comes_before_the_general_one(monkeypatch, no_number_settings):
    from daybook import archive

    monkeypatch.setenv("DAYBOOK_RETENTION_YEARS", "12")
    monkeypatch.setenv("DAYBOOK_RETENTION_YEARS_PAY", "15")
    assert (archive.retention_years("PAY"), archive.retention_years("LOAN")) == (15, 12)
    # A bad general value does not matter to a class that has its own, and is named for the others.
    monkeypatch.setenv("DAYBOOK_RETENTION_YEARS", "ten")
    assert archive.retention_years("PAY") == 15
    with pytest.raises(ConfigError, match=r"^DAYBOOK_RETENTION_YEARS must be .*'ten'"):
        archive.retention_years("LOAN")


BAD_NUMBERS = ["abc", "-1", "1e6", "1_000", "+5", "12.0", "１２", "0x10", "4 096"]
# Values each setting's range leaves out (on top of BAD_NUMBERS).
OUT_OF_RANGE = {
    "DAYBOOK_MAX_FILE_BYTES": ["0"],
    "DAYBOOK_DB_POOL_SLOTS": ["0"],
    "DAYBOOK_RETENTION_YEARS": ["0", "101", "10000"],
    "DAYBOOK_RETENTION_YEARS_PAY": ["0", "101"],
    "DAYBOOK_PURGE_AFTER_DAYS": ["36501", "99999999999"],
    "DAYBOOK_DEADLINE_SECONDS_APPROVAL": ["0", "86401", "99999999999999999999"],
}


@pytest.mark.parametrize(
    ("name", "read", "value", "takes", "why"),
    [
        (name, read, value, takes, why)
        for name, read, _default, takes, why in NUMBERS
        for value in BAD_NUMBERS + OUT_OF_RANGE[name]
    ],
)
def test_a_number_setting_outside_its_range_is_a_configuration_error_naming_it(
    monkeypatch, no_number_settings, name, read, value, takes, why
):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as error:
        read()
    message = str(error.value)
    assert message.startswith(f"{name} must be a whole number {takes} ("), message
    assert why in message and message.endswith(f"got {value!r}"), message


# Any text an environment variable can hold (no NUL, no lone surrogate), and digit strings.
ENV_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)


@given(text=ENV_TEXT | st.from_regex(r"\A\s?[0-9]{1,4}\s?\Z"), low=st.integers(0, 50))
def test_env_int_takes_plain_digits_within_the_range_and_names_the_setting_otherwise(text, low):
    high = low + 500
    stripped = text.strip()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAYBOOK_SOME_NUMBER", text)
        if not stripped:
            assert env_int("DAYBOOK_SOME_NUMBER", low, low, high, "a reason") == low
        elif re.fullmatch(r"[0-9]+", stripped) and low <= int(stripped) <= high:
            assert env_int("DAYBOOK_SOME_NUMBER", low, low, high, "a reason") == int(stripped)
        else:
            with pytest.raises(ConfigError) as error:
                env_int("DAYBOOK_SOME_NUMBER", low, low, high, "a reason")
            assert str(error.value) == (
                f"DAYBOOK_SOME_NUMBER must be a whole number from {low} to {high} (a reason), "
                f"got {stripped!r}"
            )


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("DAYBOOK_SETTLEMENT_CHUNK", "", 1_000_000),
        ("DAYBOOK_SETTLEMENT_CHUNK", "250000", 250_000),
        ("DAYBOOK_SETTLEMENT_WORKERS", "", 2),
        ("DAYBOOK_SETTLEMENT_WORKERS", "4", 4),
    ],
)
def test_settlement_sizes_read_their_settings(monkeypatch, name, value, expected):
    from daybook import settlement

    monkeypatch.setenv(name, value)
    read = settlement.chunk_rows if name.endswith("CHUNK") else settlement.workers
    assert read() == expected


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DAYBOOK_SETTLEMENT_CHUNK", "0"),
        ("DAYBOOK_SETTLEMENT_CHUNK", "1e6"),
        ("DAYBOOK_SETTLEMENT_CHUNK", "-5"),
        ("DAYBOOK_SETTLEMENT_WORKERS", "0"),
        ("DAYBOOK_SETTLEMENT_WORKERS", "65"),
        ("DAYBOOK_SETTLEMENT_WORKERS", "two"),
    ],
)
def test_settlement_sizes_out_of_range_name_the_setting(monkeypatch, name, value):
    from daybook import settlement

    monkeypatch.setenv(name, value)
    read = settlement.chunk_rows if name.endswith("CHUNK") else settlement.workers
    with pytest.raises(ConfigError, match=name):
        read()


@pytest.mark.parametrize(("value", "expected"), [("", 2), ("1", 1), ("3", 3)])
def test_validation_workers_read_their_setting(monkeypatch, value, expected):
    from daybook import validation

    monkeypatch.setenv("DAYBOOK_VALIDATION_WORKERS", value)
    assert validation.workers() == expected


@pytest.mark.parametrize("value", ["0", "65", "two", "1.5"])
def test_validation_workers_out_of_range_name_the_setting(monkeypatch, value):
    from daybook import validation

    monkeypatch.setenv("DAYBOOK_VALIDATION_WORKERS", value)
    with pytest.raises(ConfigError, match="DAYBOOK_VALIDATION_WORKERS"):
        validation.workers()
