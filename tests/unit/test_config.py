"""Settings read from the environment: DAYBOOK_MAX_FILE_ROWS, the F_TOO_LARGE row limit.

Its ceiling is the contract's, not the code's: a business number ends in the row's line number
written with 6 digits (file-contract.md section 5), so no file can hold more than 999,999 rows.
"""

from __future__ import annotations

import pytest

from daybook.config import ConfigError, settings


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
