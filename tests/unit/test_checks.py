"""Unit and property tests for daybook.checks (contract section 4 cell rules).

Expected values are written by hand or come from python-stdnum (the oracle); never from checks.py.
"""

from __future__ import annotations

import datetime as dt
from importlib import resources

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum import luhn
from stdnum.cn import ric, uscc

from daybook import checks

BD = dt.date(2025, 6, 30)  # business date used by the RIC tests
PAY_MAX_CENTS = 99999999999999
FW = "\uff11\uff12\uff13"  # full-width digits "123"
DIGITS = "0123456789"
PROPS = settings(max_examples=200, deadline=None, database=None)


def one(fn, value: str, *args, **kwargs):
    """Apply a predicate to a one-cell Series and return the cell's result."""
    out = fn(pd.Series([value], dtype="str"), *args, **kwargs)
    assert out.dtype == bool
    assert len(out) == 1
    return bool(out.iloc[0])


def ric_with_check(first17: str) -> str:
    """A RIC with its check character computed by stdnum (the oracle)."""
    return first17 + ric.calc_check_digit(first17 + "0")


def uscc_with_check(first17: str) -> str:
    """A USCC with its check character computed by stdnum (the oracle)."""
    return first17 + uscc.calc_check_digit(first17 + "0")


# --------------------------------------------------------------------------- shape of results


ALL_PREDICATES = [
    lambda s: checks.plain_decimal(s),
    lambda s: checks.decimal_scale_ok(s, 2),
    lambda s: checks.amount_ok(s, PAY_MAX_CENTS),
    lambda s: checks.amount_ok(s, None),
    lambda s: checks.plain_integer(s),
    lambda s: checks.int_in_range(s, 1, 360),
    lambda s: checks.decimal_ge(s, 0, False),
    lambda s: checks.digits_len(s, 8, 32),
    lambda s: checks.luhn_ok(s),
    lambda s: checks.card_ok(s),
    lambda s: checks.card_ok(s, luhn=False),
    lambda s: checks.cnaps_ok(s),
    lambda s: checks.mobile_ok(s),
    lambda s: checks.date_in_window(s, dt.date(2025, 1, 1), dt.date(2025, 12, 31)),
    lambda s: checks.ric_ok(s, BD),
    lambda s: checks.ric_form_ok(s),
    lambda s: checks.uscc_ok(s),
    lambda s: checks.uscc_form_ok(s),
    lambda s: checks.max_chars(s, 5),
    lambda s: checks.len_between(s, 1, 5),
    lambda s: checks.client_ref_ok(s),
    lambda s: checks.in_set(s, ["CNY"]),
]

MIXED = [
    "",
    "12",
    "1.50",
    "11010519491231002X",
    "91110000600037341L",
    "4111111111111111",
    "2025-03-01",
    "CNY",
    "x y",
    "\u5f20\u4e09",
]


@pytest.mark.parametrize("fn", ALL_PREDICATES)
@pytest.mark.parametrize("storage", ["pyarrow", "python", "object"])
def test_result_is_bool_series_aligned_to_index(fn, storage):
    index = pd.Index([7, 7, 3, 100, -1, 5, 6, 8, 9, 0])  # non-default and duplicated labels
    if storage == "object":
        s = pd.Series(MIXED, index=index, dtype=object)
    else:
        s = pd.Series(MIXED, index=index, dtype=pd.StringDtype(storage, na_value=np.nan))
    reference = fn(pd.Series(MIXED, dtype="str"))
    out = fn(s)
    assert out.dtype == bool
    assert out.index.equals(index)
    assert out.tolist() == reference.tolist()


@pytest.mark.parametrize("fn", ALL_PREDICATES)
def test_empty_series(fn):
    out = fn(pd.Series([], dtype="str"))
    assert out.dtype == bool
    assert len(out) == 0


def test_sliced_arrow_series_uses_right_rows():
    # A slice of an arrow array starts at a nonzero offset; the byte matrix must follow it.
    s = pd.Series(["X" * 18, "11010519491231002X", "110105194912310021", "91110000600037341L"], dtype="str")
    assert checks.ric_ok(s.iloc[1:3], BD).tolist() == [True, False]
    assert checks.uscc_ok(s.iloc[3:]).tolist() == [True]


# --------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    "value, expected",
    [
        ("0", True),
        ("-0", True),
        ("007", True),
        ("1.5", True),
        ("-12.345", True),
        ("0.000", True),
        ("1.", False),
        (".5", False),
        ("-.5", False),
        ("+1", False),
        ("1e5", False),
        ("1E5", False),
        (" 1", False),
        ("1 ", False),
        ("1\n", False),
        ("1,000", False),
        ("1_000", False),
        ("--1", False),
        ("-", False),
        ("", False),
        (FW, False),
        ("\u0661", False),  # Arabic-Indic one: a Unicode digit, not ASCII
        ("1.2.3", False),
        ("NaN", False),
        ("inf", False),
        ("0x10", False),
    ],
)
def test_plain_decimal(value, expected):
    assert one(checks.plain_decimal, value) is expected


@pytest.mark.parametrize(
    "value, max_scale, expected",
    [
        ("1", 2, True),
        ("1.2", 2, True),
        ("1.23", 2, True),
        ("1.230", 2, False),
        ("1.234", 2, False),
        ("-1.23", 2, True),
        ("1.", 2, False),
        ("1", 0, True),
        ("1.0", 0, False),
        ("1.2345", 4, True),
        ("1.23456", 4, False),
        ("1e2", 2, False),
        ("", 2, False),
    ],
)
def test_decimal_scale_ok(value, max_scale, expected):
    assert one(checks.decimal_scale_ok, value, max_scale) is expected


@pytest.mark.parametrize(
    "value, expected",
    [
        ("0", 0),
        ("-0", 0),
        ("-0.00", 0),
        ("1", 100),
        ("1.5", 150),
        ("1.05", 105),
        ("0.01", 1),
        ("0012.30", 1230),
        ("-12.34", -1234),
        ("999999999999.99", 99999999999999),
        ("1000000000000.00", 100000000000000),
        ("9999999999999999.99", 999999999999999999),
        ("0000000000000000000000000001.10", 110),
        ("1.234", None),
        ("1.", None),
        (".5", None),
        ("1e5", None),
        ("+1", None),
        ("", None),
        (FW, None),
        ("10000000000000000.00", None),  # needs 19 digits of cents: <NA>, never wrapped
        ("99999999999999999999999", None),
    ],
)
def test_to_cents(value, expected):
    out = checks.to_cents(pd.Series([value], dtype="str"))
    assert out.dtype == "Int64"
    if expected is None:
        assert out.isna().iloc[0]
    else:
        assert out.iloc[0] == expected


def _cents_oracle(text: str) -> int | None:
    """Exact cents by the standard library: a plain decimal with at most 2 decimals, |cents| < 10**18."""
    import re
    from decimal import Decimal

    if not re.fullmatch(r"-?[0-9]+(\.[0-9]{1,2})?", text):
        return None
    cents = int(Decimal(text) * 100)
    return cents if abs(cents) < 10**18 else None


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.from_regex(r"-?[0-9]{1,20}(\.[0-9]{1,3})?", fullmatch=True),
            st.sampled_from(["", "1.", ".5", "+1", "1e5", " 1", "0.00", "-0", "１"]),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_to_cents_matches_decimal_arithmetic(values: list[str]):
    out = checks.to_cents(pd.Series(values, dtype="str"))
    assert out.astype(object).where(out.notna(), None).tolist() == [_cents_oracle(v) for v in values]


def test_to_cents_vector_keeps_positions():
    s = pd.Series(["1.1", "x", "-2", "3.333", "0.07"], index=[5, 5, 1, 2, 3], dtype="str")
    out = checks.to_cents(s)
    assert out.index.equals(s.index)
    assert out.astype(object).where(out.notna(), None).tolist() == [110, None, -200, None, 7]


@pytest.mark.parametrize(
    "value, expected",
    [
        ("0.01", True),
        ("1", True),
        ("00001.50", True),
        ("999999999999.99", True),
        ("999999999999.990", False),  # three decimals, even though the value is in range
        ("1000000000000.00", False),
        ("1000000000000", False),
        ("999999999999.991", False),
        ("99999999999999999999999", False),
        ("0", False),
        ("0.00", False),
        ("-0", False),
        ("-1", False),
        ("1.", False),
        (".5", False),
        ("1e5", False),
        ("+1", False),
        (" 1", False),
        ("1,000.00", False),
        ("\uff11", False),
        ("", False),
    ],
)
def test_amount_ok_pay(value, expected):
    assert one(checks.amount_ok, value, PAY_MAX_CENTS) is expected


@pytest.mark.parametrize(
    "value, expected",
    [
        ("1000000000000.00", True),
        ("99999999999999999999999.99", True),
        ("0.01", True),
        ("0", False),
        ("1.001", False),
        ("-5", False),
    ],
)
def test_amount_ok_without_limit(value, expected):
    assert one(checks.amount_ok, value, None) is expected


@pytest.mark.parametrize(
    "value, expected",
    [
        ("0", True),
        ("-0", True),
        ("007", True),
        ("-12", True),
        ("1.0", False),
        ("+1", False),
        ("1e5", False),
        ("", False),
        ("-", False),
        (" 1", False),
        ("\uff11\uff12", False),
    ],
)
def test_plain_integer(value, expected):
    assert one(checks.plain_integer, value) is expected


@pytest.mark.parametrize(
    "value, lo, hi, expected",
    [
        ("300", 300, 900, True),
        ("900", 300, 900, True),
        ("0300", 300, 900, True),
        ("000000000000000000000000000500", 300, 900, True),
        ("299", 300, 900, False),
        ("901", 300, 900, False),
        ("-300", 300, 900, False),
        ("99999999999999999999999", 300, 900, False),
        ("12.5", 1, 360, False),
        ("1", 1, 360, True),
        ("360", 1, 360, True),
        ("0", 1, 360, False),
        ("361", 1, 360, False),
        ("-5", -10, 10, True),
        ("-11", -10, 10, False),
        ("-0", 0, 0, True),
        ("+5", 1, 10, False),
        ("", 1, 10, False),
        ("\uff15", 1, 10, False),
    ],
)
def test_int_in_range(value, lo, hi, expected):
    assert one(checks.int_in_range, value, lo, hi) is expected


@pytest.mark.parametrize(
    "value, bound_cents, strict, expected",
    [
        # annual_income >= 0
        ("0", 0, False, True),
        ("0.000", 0, False, True),
        ("-0", 0, False, True),
        ("-0.0001", 0, False, False),
        ("-0.01", 0, False, False),
        ("12345.6789", 0, False, True),
        ("100000000000000000000", 0, False, True),
        ("-100000000000000000000", 0, False, False),
        ("1e3", 0, False, False),
        ("", 0, False, False),
        # collateral_value > 0
        ("0", 0, True, False),
        ("0.00", 0, True, False),
        ("-0", 0, True, False),
        ("0.0001", 0, True, True),
        ("-1", 0, True, False),
        # other bounds, compared exactly at any scale
        ("12.5", 1250, False, True),
        ("12.50000", 1250, True, False),
        ("12.49999", 1250, False, False),
        ("12.500001", 1250, True, True),
        ("-12.5", -1250, False, True),
        ("-12.5", -1250, True, False),
        ("-12.500001", -1250, False, False),
        ("-12.499", -1250, True, True),
    ],
)
def test_decimal_ge(value, bound_cents, strict, expected):
    assert one(checks.decimal_ge, value, bound_cents, strict) is expected


def test_bounds_outside_int64_range_are_refused():
    s = pd.Series(["1"], dtype="str")
    with pytest.raises(ValueError):
        checks.decimal_ge(s, 10**18, False)
    with pytest.raises(ValueError):
        checks.int_in_range(s, 0, 10**18)


# --------------------------------------------------------------------------- digit strings


@pytest.mark.parametrize(
    "value, lo, hi, expected",
    [
        ("00000001", 8, 32, True),
        ("1" * 32, 8, 32, True),
        ("1234567", 8, 32, False),
        ("1" * 33, 8, 32, False),
        ("1234 5678", 8, 32, False),
        ("\uff11" * 8, 8, 32, False),
        ("-12345678", 8, 32, False),
        ("1234567A", 8, 32, False),
        ("", 0, 5, True),
        ("", 1, 5, False),
    ],
)
def test_digits_len(value, lo, hi, expected):
    assert one(checks.digits_len, value, lo, hi) is expected


@pytest.mark.parametrize(
    "value, expected",
    [
        ("79927398713", True),  # the textbook example
        ("79927398710", False),
        ("0", True),
        ("00", True),
        ("18", True),
        ("4111111111111111", True),
        ("4111111111111112", False),
        ("378282246310005", True),
        ("5555555555554444", True),
        ("", False),
        ("4111 1111 1111 1111", False),
        (FW, False),
        ("-18", False),
    ],
)
def test_luhn_ok(value, expected):
    assert one(checks.luhn_ok, value) is expected


def test_luhn_long_values_agree_with_stdnum():
    # Cells longer than 64 digits take the group-by-length path; mix them with short ones.
    bodies = ["7992739871", "1" * 69, "12" * 40, "9" * 99, "0", "45" * 8]
    values = [b + luhn.calc_check_digit(b) for b in bodies] + [b + "0" for b in bodies] + ["5" * 65]
    out = checks.luhn_ok(pd.Series(values, dtype="str")).tolist()
    assert out == [luhn.is_valid(v) for v in values]


CARD_19 = "621226000012345678" + luhn.calc_check_digit("621226000012345678")


@pytest.mark.parametrize(
    "value, use_luhn, expected",
    [
        ("4111111111111111", True, True),
        ("4111111111111112", True, False),
        ("4111111111111112", False, True),  # relaxation: Luhn off, length still checked
        (CARD_19, True, True),
        ("0" * 19, True, True),
        ("378282246310005", True, False),  # Luhn-valid but 15 digits
        ("378282246310005", False, False),
        ("4" + "0" * 19, False, False),  # 20 digits
        ("4111-1111-1111-1111", True, False),
        ("\uff14" * 16, False, False),
        ("", False, False),
    ],
)
def test_card_ok(value, use_luhn, expected):
    assert one(checks.card_ok, value, luhn=use_luhn) is expected


def test_card_ok_default_is_luhn_on():
    assert one(checks.card_ok, "4111111111111112") is False


@pytest.mark.parametrize(
    "value, expected",
    [
        ("102100099996", True),
        ("000000000000", True),
        ("10210009999", False),
        ("1021000999961", False),
        ("10210009999A", False),
        (" 102100099996", False),
        ("\uff11" * 12, False),
    ],
)
def test_cnaps_ok(value, expected):
    assert one(checks.cnaps_ok, value) is expected


@pytest.mark.parametrize(
    "value, expected",
    [
        ("13800138000", True),
        ("19912345678", True),
        ("15012345678", True),
        ("12345678901", False),
        ("10012345678", False),
        ("23800138000", False),
        ("1380013800", False),
        ("138001380001", False),
        ("+8613800138000", False),
        ("138 0013 8000", False),
        ("\uff11\uff13\uff18" + "00138000", False),
        ("", False),
    ],
)
def test_mobile_ok(value, expected):
    assert one(checks.mobile_ok, value) is expected


# --------------------------------------------------------------------------- dates


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2024-02-29", dt.date(2024, 2, 29)),
        ("2000-02-29", dt.date(2000, 2, 29)),
        ("2023-02-28", dt.date(2023, 2, 28)),
        ("2025-12-31", dt.date(2025, 12, 31)),
        ("0001-01-01", dt.date(1, 1, 1)),
        ("9999-12-31", dt.date(9999, 12, 31)),
        ("2023-02-29", None),
        ("1900-02-29", None),
        ("2100-02-29", None),
        ("2024-04-31", None),
        ("2024-13-01", None),
        ("2024-00-10", None),
        ("2024-01-00", None),
        ("2024-01-32", None),
        ("0000-01-01", None),
        ("2024-2-29", None),
        ("2024/02/29", None),
        ("20240229", None),
        (" 2024-02-29", None),
        ("2024-02-29 ", None),
        ("2024-02-29T00:00:00", None),
        ("\uff12\uff10\uff12\uff14-01-01", None),
        ("", None),
    ],
)
def test_parse_iso_date(value, expected):
    out = checks.parse_iso_date(pd.Series([value], dtype="str"))
    assert out.dtype.kind == "M"
    if expected is None:
        assert pd.isna(out.iloc[0])
    else:
        assert out.iloc[0].date() == expected


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2025-06-30", True),  # start
        ("2025-07-30", True),  # end (30 days after)
        ("2025-07-01", True),
        ("2025-06-29", False),
        ("2025-07-31", False),
        ("2025-06-31", False),  # not a date
        ("", False),
    ],
)
def test_date_in_window(value, expected):
    assert one(checks.date_in_window, value, dt.date(2025, 6, 30), dt.date(2025, 7, 30)) is expected


def test_date_in_window_leap_day():
    start, end = dt.date(2024, 2, 1), dt.date(2024, 3, 31)
    s = pd.Series(["2024-02-29", "2023-02-29", "2024-03-01"], dtype="str")
    assert checks.date_in_window(s, start, end).tolist() == [True, False, True]


# --------------------------------------------------------------------------- RIC


@pytest.mark.parametrize(
    "value, expected",
    [
        ("11010519491231002X", True),  # the sample number of GB 11643
        ("360426199101010071", True),  # stdnum's doctest example
        ("11010519491231002x", False),  # decision: lowercase x is rejected (stdnum upper-cases it)
        ("110105194912310021", False),  # wrong check character
        ("11010519491231002", False),  # 17 characters
        ("11010519491231002X0", False),  # 19 characters
        (" 11010519491231002X", False),
        ("11010519491231002X ", False),
        ("1101051949123100 2X", False),
        ("110105194912310X2X", False),  # X only allowed last
        ("\uff11" + "1010519491231002X", False),  # full-width digit
        ("", False),
        # province prefix
        (ric_with_check("00010519900101123"), False),
        (ric_with_check("99010519900101123"), False),
        (ric_with_check("91010519900101123"), False),
        (ric_with_check("10010519900101123"), False),
        (ric_with_check("71000019900101123"), True),  # Taiwan
        (ric_with_check("81000019900101123"), True),  # Hong Kong
        (ric_with_check("82000019900101123"), True),  # Macau
        (ric_with_check("65999919900101123"), True),  # region below province level is not checked
        # birth date
        (ric_with_check("11010520000229123"), True),  # leap year
        (ric_with_check("11010519000229123"), False),  # 1900 is not a leap year
        (ric_with_check("11010520230229123"), False),
        (ric_with_check("11010519000101123"), True),  # first allowed day
        (ric_with_check("11010518991231123"), False),  # 1899
        (ric_with_check("11010520250630123"), True),  # born on the business date
        (ric_with_check("11010520250701123"), False),  # born after the business date
        (ric_with_check("11010519901301123"), False),  # month 13
        (ric_with_check("11010519900001123"), False),  # month 00
        (ric_with_check("11010519900100123"), False),  # day 00
        (ric_with_check("11010519900431123"), False),  # 31 April
    ],
)
def test_ric_ok(value, expected):
    assert one(checks.ric_ok, value, BD) is expected


@pytest.mark.parametrize(
    "value, expected",
    [
        ("11010519491231002X", True),
        ("110105194912310021", True),  # wrong check character, but the form of a RIC
        (ric_with_check("99010519900101123"), True),  # unknown province: still the form
        ("11010519491231002x", False),  # lowercase x is outside the alphabet
        ("11010519491231002", False),
        ("11010519491231002X0", False),
        ("110105194912310X2X", False),
        ("\uff11" + "1010519491231002X", False),
        (" 11010519491231002X", False),
        ("", False),
    ],
)
def test_ric_form_ok(value, expected):
    """Contract section 7: length and alphabet are the form (R_FORMAT), not R_ID_CHECKSUM's checks."""
    assert one(checks.ric_form_ok, value) is expected


@pytest.mark.parametrize(
    "value, expected",
    [
        ("91110000600037341L", True),
        ("91110000600037341M", True),  # wrong check character, but the form of a USCC
        ("I1110000600037341L", False),  # I, O, S, V, Z are not in the alphabet
        ("9111000060003734OL", False),
        ("91110000600037341l", False),  # lowercase
        ("91110000600037341", False),
        ("91110000600037341L0", False),
        ("", False),
    ],
)
def test_uscc_form_ok(value, expected):
    assert one(checks.uscc_form_ok, value) is expected


def test_ric_check_character_by_hand():
    # 1*7 + 1*9 + 0*10 + 1*5 + 0*8 + 5*4 + 1*2 + 9*1 + 9*6 + 0*3 + 0*7 + 1*9 + 0*10 + 1*5 + 1*8
    # + 2*4 + 3*2 = 142; 142 mod 11 = 10; "10X98765432"[10] = "2". Only that character passes.
    body = "11010519900101123"
    candidates = [body + c for c in "0123456789X"]
    out = checks.ric_ok(pd.Series(candidates, dtype="str"), BD).tolist()
    assert out == [c.endswith("2") for c in candidates]


def test_ric_business_date_moves_the_limit():
    s = pd.Series([ric_with_check("11010520250701123")], dtype="str")
    assert checks.ric_ok(s, dt.date(2025, 6, 30)).tolist() == [False]
    assert checks.ric_ok(s, dt.date(2025, 7, 1)).tolist() == [True]


def _stable_region_codes() -> list[str]:
    """6-digit region codes stdnum's table accepts for every birth year (no [from-to] limits)."""
    text = (resources.files("stdnum") / "cn" / "loc.dat").read_text(encoding="utf-8")
    codes, province = [], None
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        if not line.startswith(" "):
            province = line.split()[0]
        elif province is not None and "[" not in line:
            codes.append(province + line.split()[0])
    return sorted(set(codes))


STABLE_REGIONS = _stable_region_codes()
STABLE_REGION_CODES = st.sampled_from(STABLE_REGIONS)
SEQUENCE = st.integers(0, 999)
RIC_DAYS = st.integers(0, (BD - dt.date(1900, 1, 1)).days)  # birth dates 1900-01-01 .. BD


@st.composite
def ric_numbers(draw, regions=STABLE_REGION_CODES):
    """Well-formed RICs (correct check character), sometimes with one character corrupted."""
    birth = dt.date(1900, 1, 1) + dt.timedelta(days=draw(RIC_DAYS))
    number = ric_with_check(draw(regions) + birth.strftime("%Y%m%d") + f"{draw(SEQUENCE):03d}")
    if draw(st.booleans()):
        pos = draw(st.integers(6, 17))  # keep the (stable) region code; corrupt date, sequence or check
        char = draw(st.sampled_from("0123456789Xx"))
        number = number[:pos] + char + number[pos + 1 :]
    return number


def stdnum_ric_valid(number: str) -> bool:
    """stdnum.cn.ric.is_valid, except that a KeyError counts as invalid.

    stdnum 2.2 raises KeyError('county') instead of returning False when the province exists in its
    table but the 6-digit region code does not (e.g. 111000200001010001).
    """
    try:
        return ric.is_valid(number)
    except KeyError:
        return False


def test_stdnum_ric_key_error_is_still_there():
    # Documents the oracle quirk worked around by stdnum_ric_valid; ric_ok just checks the province.
    number = ric_with_check("11100020000101000")
    with pytest.raises(KeyError):
        ric.is_valid(number)
    assert one(checks.ric_ok, number, BD) is True


def _in_window(number: str) -> bool:
    return dt.date(1900, 1, 1) <= ric.get_birth_date(number) <= BD


def test_stable_region_table_is_usable():
    assert len(STABLE_REGIONS) > 100
    assert {code[:2] for code in STABLE_REGIONS} <= {str(p) for p in checks.RIC_PROVINCES}


STABLE_REGION_SET = frozenset(STABLE_REGIONS)
ANY_REGION = st.text(DIGITS, min_size=6, max_size=6)


@PROPS
@given(st.lists(st.one_of(ric_numbers(), ric_numbers(regions=ANY_REGION)), min_size=1, max_size=8))
def test_ric_agrees_with_stdnum(numbers):
    out = checks.ric_ok(pd.Series(numbers, dtype="str"), BD).tolist()
    for number, ok in zip(numbers, out, strict=True):
        # stdnum also upper-cases a trailing x and has no 1900 / business-date limits.
        stdnum_ok = stdnum_ric_valid(number) and "x" not in number and _in_window(number)
        if number[:6] in STABLE_REGION_SET:
            # Regions stdnum accepts for every birth year: both rules agree exactly.
            assert ok == stdnum_ok
        else:
            # Other regions: stdnum's table is stricter (stale or unknown sub-province codes), so
            # only one direction holds; ric_ok's own rule there is the province prefix.
            if stdnum_ok:
                assert ok
            if ok:
                assert int(number[:2]) in checks.RIC_PROVINCES
                assert ric.calc_check_digit(number) == number[-1]


# --------------------------------------------------------------------------- USCC


@pytest.mark.parametrize(
    "value, expected",
    [
        ("91110000600037341L", True),  # stdnum's doctest example
        ("91110000600037341K", False),
        ("91110000600037341l", False),  # lowercase: rejected (stdnum upper-cases and accepts it)
        ("000000000000000000", True),  # sum 0 -> 31 - 0 = 31 -> 0
        ("10000000000000000Y", True),  # sum 1 -> 30 -> "Y"
        ("10000000000000000X", False),
        (" 91110000600037341L", False),
        ("9111000060003734-1L", False),
        ("9111000060003734L", False),
        ("91110000600037341LL", False),
        ("", False),
        # letters outside the GB 32100 alphabet, with an otherwise matching check character
        ("I" + "0" * 17, False),
        ("O" + "0" * 17, False),
        ("S" + "0" * 17, False),
        ("V" + "0" * 17, False),
        ("Z" + "0" * 17, False),
        # Contract vs stdnum: stdnum also requires the first 8 characters to be digits; the contract
        # asks only for the alphabet and the check character, so these are valid here.
        (uscc_with_check("A1110000600037341"), True),
        (uscc_with_check("91ABCDEF600037341"), True),
        (uscc_with_check("91110000ABCDEFGHJ"), True),
    ],
)
def test_uscc_ok(value, expected):
    assert one(checks.uscc_ok, value) is expected


def test_uscc_first_eight_letters_is_a_known_difference_with_stdnum():
    value = uscc_with_check("A1110000600037341")
    assert not uscc.is_valid(value)
    assert one(checks.uscc_ok, value) is True


@st.composite
def uscc_codes(draw):
    """USCC-shaped codes with a correct check character, sometimes with one character corrupted."""
    digits8 = draw(st.booleans())
    head = (
        draw(st.text(DIGITS, min_size=8, max_size=8))
        if digits8
        else draw(st.text(checks.USCC_ALPHABET, min_size=8, max_size=8))
    )
    body = head + draw(st.text(checks.USCC_ALPHABET, min_size=9, max_size=9))
    code = uscc_with_check(body)
    if draw(st.booleans()):
        pos = draw(st.integers(0, 17))
        char = draw(st.sampled_from(checks.USCC_ALPHABET + "IOSVZabcxyz"))
        code = code[:pos] + char + code[pos + 1 :]
    return code


def _uscc_contract(code: str) -> bool:
    """The contract rule, with stdnum's check character as the oracle."""
    return (
        len(code) == 18
        and all(c in checks.USCC_ALPHABET for c in code)
        and code[-1] == uscc.calc_check_digit(code)
    )


@PROPS
@given(st.lists(uscc_codes(), min_size=1, max_size=8))
def test_uscc_agrees_with_stdnum(codes):
    out = checks.uscc_ok(pd.Series(codes, dtype="str")).tolist()
    for code, ok in zip(codes, out, strict=True):
        assert ok == _uscc_contract(code)
        if code[:8].isdigit() and code == code.upper():
            # Where stdnum's extra rule (8 leading digits) and its upper-casing do not apply,
            # stdnum and the contract agree exactly.
            assert ok == uscc.is_valid(code)


# --------------------------------------------------------------------------- Luhn property


@PROPS
@given(st.lists(st.text(DIGITS, min_size=1, max_size=25), min_size=1, max_size=8))
def test_luhn_agrees_with_stdnum(values):
    # Make about half of them valid by replacing the last digit with stdnum's check digit.
    values = [
        v[:-1] + luhn.calc_check_digit(v[:-1]) if i % 2 and len(v) > 1 else v for i, v in enumerate(values)
    ]
    out = checks.luhn_ok(pd.Series(values, dtype="str")).tolist()
    assert out == [luhn.is_valid(v) for v in values]
    cards = checks.card_ok(pd.Series(values, dtype="str")).tolist()
    assert cards == [16 <= len(v) <= 19 and luhn.is_valid(v) for v in values]


# --------------------------------------------------------------------------- text


@pytest.mark.parametrize(
    "value, n, expected",
    [
        ("", 140, True),
        ("a" * 140, 140, True),
        ("a" * 141, 140, False),
        ("\u5f20" * 100, 100, True),  # 100 Chinese characters = 100, not 300 bytes
        ("\u5f20" * 101, 100, False),
        ("\U0001f600" * 5, 5, True),  # astral code points count once
    ],
)
def test_max_chars(value, n, expected):
    assert one(checks.max_chars, value, n) is expected


@pytest.mark.parametrize(
    "value, expected",
    [
        ("", False),
        ("A", True),
        ("\u5f20\u4e09", True),
        ("x" * 100, True),
        ("x" * 101, False),
        (" ", True),  # only length is checked here
    ],
)
def test_len_between(value, expected):
    assert one(checks.len_between, value, 1, 100) is expected


@pytest.mark.parametrize(
    "value, expected",
    [
        ("A", True),
        ("a-b_C9", True),
        ("-", True),
        ("x" * 32, True),
        ("x" * 33, False),
        ("", False),
        ("ab c", False),
        ("ab.c", False),
        ("ab\n", False),
        ("\u00e9", False),
        ("\uff21", False),  # full-width A
        ("ab/c", False),
    ],
)
def test_client_ref_ok(value, expected):
    assert one(checks.client_ref_ok, value) is expected


@pytest.mark.parametrize(
    "value, expected",
    [
        ("CNY", True),
        ("USD", True),
        ("cny", False),
        (" CNY", False),
        ("CNY ", False),
        ("", False),
        ("NA", False),
    ],
)
def test_in_set(value, expected):
    assert one(checks.in_set, value, {"CNY", "USD"}) is expected


def test_in_set_accepts_any_iterable():
    s = pd.Series(["PERSONAL", "SME", "OTHER"], dtype="str")
    allowed = (code for code in ["PERSONAL", "MORTGAGE", "SME"])
    assert checks.in_set(s, allowed).tolist() == [True, True, False]
