"""Vectorized cell predicates for the client file contract (section 4).

Every predicate takes a pandas Series of strings (cells exactly as sent; an empty cell is "")
and returns a boolean Series on the same index, True meaning valid. Numbers and dates are plain
ASCII only: patterns use ``[0-9]``, never ``\\d`` (which also matches full-width and other Unicode
digits). No predicate loops over rows in Python: regexes run through ``Series.str`` and digit
arithmetic runs in numpy on uint8 matrices built from fixed-length ASCII strings.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import numpy as np
import pandas as pd

__all__ = [
    "amount_ok",
    "card_ok",
    "client_ref_ok",
    "cnaps_ok",
    "date_in_window",
    "decimal_ge",
    "decimal_scale_ok",
    "digits_len",
    "in_set",
    "int_in_range",
    "len_between",
    "luhn_ok",
    "max_chars",
    "mobile_ok",
    "parse_iso_date",
    "plain_decimal",
    "plain_integer",
    "ric_form_ok",
    "ric_ok",
    "to_cents",
    "uscc_form_ok",
    "uscc_ok",
]

_PLAIN_DECIMAL = r"-?[0-9]+(?:\.[0-9]+)?"
_PLAIN_INTEGER = r"-?[0-9]+"

# Most significant digits an int64 can hold for every value of that width (10**18 - 1 < 2**63).
_INT64_DIGITS = 18
# Limit for bounds given to the exact comparisons (|bound| < 10**18 keeps all arithmetic in int64).
_BOUND_LIMIT = 10**18

# Province-level codes of GB/T 2260 (incl. 71 Taiwan, 81 Hong Kong, 82 Macau).
RIC_PROVINCES: frozenset[int] = frozenset(
    [11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46]
    + [50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82]
)
_RIC_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
_RIC_CHECK = np.frombuffer(b"10X98765432", dtype=np.uint8)
RIC_MIN_BIRTH = dt.date(1900, 1, 1)

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = np.array([1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28], dtype=np.int64)
_USCC_VALUE = np.full(256, -1, dtype=np.int64)
_USCC_VALUE[np.frombuffer(USCC_ALPHABET.encode("ascii"), dtype=np.uint8)] = np.arange(31)
_USCC_CLASS = "[0-9A-HJ-NP-RTUW-Y]"

# Byte -> digit value (meaningful for b"0".."9" only; callers regex-check first).
_DIGIT = np.arange(256, dtype=np.int64) - 48
# Byte -> Luhn contribution of a doubled digit.
_LUHN_DOUBLE = np.zeros(256, dtype=np.int64)
_LUHN_DOUBLE[48:58] = [0, 2, 4, 6, 8, 1, 3, 5, 7, 9]
_LUHN_PAD_LIMIT = 64  # widest digit string luhn_ok right-aligns into a single matrix
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


# --------------------------------------------------------------------------- helpers


def _as_str(s: pd.Series) -> pd.Series:
    """The series as pandas ``str`` dtype (no-op for the usual input)."""
    return s if isinstance(s.dtype, pd.StringDtype) else s.astype("str")


def _bool(values: pd.Series | np.ndarray, index: pd.Index) -> pd.Series:
    """A plain numpy-bool Series on ``index``; missing counts as False."""
    if isinstance(values, pd.Series):
        return values.fillna(False).astype(bool)
    return pd.Series(np.asarray(values, dtype=bool), index=index)


def _full(s: pd.Series, pattern: str) -> pd.Series:
    """``pattern`` matches the whole cell (RE2/re full match, no trailing-newline leniency)."""
    return _bool(_as_str(s).str.fullmatch(pattern), s.index)


def _ascii_matrix(values: pd.Series, width: int) -> np.ndarray:
    """Byte matrix (rows x width) of ASCII strings that all have exactly ``width`` characters.

    Arrow-backed strings are viewed without copying when their bytes are contiguous; otherwise the
    strings are joined (one C-level join, no per-row Python code).
    """
    n = len(values)
    if n == 0:
        return np.empty((0, width), dtype=np.uint8)
    if getattr(values.dtype, "storage", None) == "pyarrow":
        import pyarrow as pa

        arr = pa.array(values)
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        large = pa.types.is_large_string(arr.type)
        if arr.null_count == 0 and (large or pa.types.is_string(arr.type)):
            offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64 if large else np.int32)
            start, end = int(offsets[arr.offset]), int(offsets[arr.offset + n])
            if end - start == n * width:
                data = np.frombuffer(arr.buffers()[2], dtype=np.uint8, count=n * width, offset=start)
                return data.reshape(n, width)
    buf = "".join(values.tolist()).encode("ascii")
    return np.frombuffer(buf, dtype=np.uint8).reshape(n, width)


def _weighted_sum(matrix: np.ndarray, luts: list[np.ndarray]) -> np.ndarray:
    """Row sums of ``luts[j][matrix[:, j]]``: one vector operation per column, none per row."""
    total = np.zeros(len(matrix), dtype=np.int64)
    for j, lut in enumerate(luts):
        total += lut[matrix[:, j]]
    return total


def _number(matrix: np.ndarray) -> np.ndarray:
    """int64 value of each row of an ASCII digit matrix (at most 18 columns)."""
    width = matrix.shape[1]
    return _weighted_sum(matrix, [_DIGIT * 10 ** (width - 1 - j) for j in range(width)])


def _digits_value(values: pd.Series, width: int) -> np.ndarray:
    """int64 values of ASCII digit strings of exactly ``width`` (<= 18) characters."""
    return _number(_ascii_matrix(values, width))


def _valid_ymd(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Whether (y, m, d) int arrays form real proleptic Gregorian dates, years 1-9999."""
    leap = (y % 4 == 0) & ((y % 100 != 0) | (y % 400 == 0))
    month_ok = (m >= 1) & (m <= 12)
    dim = _DAYS_IN_MONTH[np.where(month_ok, m, 0)] + (leap & (m == 2))
    return (y >= 1) & (y <= 9999) & month_ok & (d >= 1) & (d <= dim)


def _ymd_to_days(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """datetime64[D] of valid (y, m, d) arrays."""
    months = (y - 1970).astype("datetime64[Y]").astype("datetime64[M]") + (m - 1).astype("timedelta64[M]")
    return months.astype("datetime64[D]") + (d - 1).astype("timedelta64[D]")


def _decimal_parts(
    s: pd.Series, pattern: str = _PLAIN_DECIMAL
) -> tuple[np.ndarray, np.ndarray, pd.Series, pd.Series]:
    """Split cells matching ``pattern`` (a plain decimal form) into pieces.

    Returns (mask over ``s``, negative, integer digits without sign and leading zeros, fraction
    digits); the last three are aligned positionally to the matching rows.
    """
    s = _as_str(s)
    mask = _full(s, pattern).to_numpy()
    sub = s[mask]
    negative = _bool(sub.str.startswith("-"), sub.index).to_numpy()
    int_part = sub.str.replace(r"\..*", "", regex=True).str.lstrip("-0")
    frac = sub.str.replace(r"^-?[0-9]*\.?", "", regex=True)
    return mask, negative, int_part, frac


def _scaled_truncated(int_part: pd.Series, frac: pd.Series, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """|x| * 10**scale truncated to an integer, and whether nonzero digits were dropped.

    Rows whose truncated value needs more than 18 digits get ``_BOUND_LIMIT`` (larger than any
    allowed bound). Works on the pieces from ``_decimal_parts``.
    """
    n = len(int_part)
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool)
    head = (frac + "0" * scale).str.slice(0, scale)
    rest_nonzero = _bool(frac.str.slice(scale).str.contains("[1-9]"), frac.index).to_numpy()
    fits = (int_part.str.len().to_numpy() + scale) <= _INT64_DIGITS
    value = np.full(n, _BOUND_LIMIT, dtype=np.int64)
    if fits.any():
        digits = int_part[fits].str.zfill(_INT64_DIGITS - scale) + head[fits]
        value[fits] = _digits_value(digits, _INT64_DIGITS)
    return value, rest_nonzero


def _check_bound(bound: int) -> None:
    if not -_BOUND_LIMIT < bound < _BOUND_LIMIT:
        raise ValueError(f"bound {bound} outside the supported range (|bound| < 10**18)")


def _place(mask: np.ndarray, values: np.ndarray, index: pd.Index) -> pd.Series:
    """Bool Series on ``index``: ``values`` at the rows of ``mask`` (positional), False elsewhere."""
    out = np.zeros(len(mask), dtype=bool)
    out[mask] = values
    return pd.Series(out, index=index)


def _compare_parsed(
    neg: np.ndarray, t: np.ndarray, r: np.ndarray, bound_cents: int, strict: bool
) -> np.ndarray:
    """Exact ``x >= bound`` (``x > bound`` if strict) where x * 100 = +/-(t + f), 0 <= f < 1, f > 0 iff r."""
    _check_bound(bound_cents)
    b = bound_cents
    if strict:
        pos_ok = (t > b) | ((t == b) & r)
        neg_ok = t < -b
    else:
        pos_ok = t >= b
        neg_ok = (t < -b) | ((t == -b) & ~r)
    return np.where(neg, neg_ok, pos_ok)


def _cents_parts(s: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(mask of plain decimals, negative, truncated |x| * 100, remainder > 0, fraction length)."""
    mask, neg, int_part, frac = _decimal_parts(s)
    t, r = _scaled_truncated(int_part, frac, 2)
    return mask, neg, t, r, frac.str.len().to_numpy()


# --------------------------------------------------------------------------- numbers


def plain_decimal(s: pd.Series) -> pd.Series:
    """ASCII ``-?[0-9]+(\\.[0-9]+)?`` exactly: no spaces, '+', exponent, bare '.', or full-width digits."""
    return _full(s, _PLAIN_DECIMAL)


def decimal_scale_ok(s: pd.Series, max_scale: int) -> pd.Series:
    """Plain decimal with at most ``max_scale`` fraction digits."""
    if max_scale <= 0:
        return _full(s, _PLAIN_INTEGER)
    return _full(s, rf"-?[0-9]+(?:\.[0-9]{{1,{max_scale}}})?")


_FAST_AMOUNT = r"[0-9]{1,16}(?:\.[0-9]{1,2})?"  # no sign, at most 16 integer digits, 0-2 decimals


def to_cents(s: pd.Series) -> pd.Series:
    """Exact nullable Int64 cents of plain decimals with at most 2 fraction digits, else <NA>.

    Computed from the digit strings (no float). Values whose cents need more than 18 digits
    (|x| >= 10**16) are <NA> rather than wrapped. The usual form (no sign, at most 16 integer
    digits) takes the arrow fast path of :func:`amount_ok`.
    """
    s = _as_str(s)
    values = np.zeros(len(s), dtype=np.int64)
    valid = np.zeros(len(s), dtype=bool)
    fast = _full(s, _FAST_AMOUNT).to_numpy()
    if fast.any():
        values[fast] = _plain_cents(s[fast])
        valid[fast] = True
    slow = np.flatnonzero(~fast)
    if len(slow):
        mask, neg, t, _, frac_len = _cents_parts(s.iloc[slow])
        keep = (frac_len <= 2) & (t < _BOUND_LIMIT)
        rows = slow[np.flatnonzero(mask)[keep]]
        values[rows] = np.where(neg, -t, t)[keep]
        valid[rows] = True
    return pd.Series(pd.arrays.IntegerArray(values, ~valid), index=s.index)


def amount_ok(s: pd.Series, max_cents: int | None) -> pd.Series:
    """Plain decimal > 0 with at most 2 decimals and, if ``max_cents`` is given, <= max_cents / 100.

    PAY ``amount`` uses 99999999999999 cents; LOAN ``loan_amount`` 10**18 - 1 (what cents can carry).
    Compared exactly at any size (``max_cents`` must be below 10**18).
    """
    s = _as_str(s)
    if max_cents is not None:
        _check_bound(max_cents)
    # Fast path for the usual form (no sign, at most 16 integer digits, 0-2 decimals): exact
    # integer cents from arrow's string split and integer casts, no regex rewriting.
    fast = _full(s, _FAST_AMOUNT).to_numpy()
    out = np.zeros(len(s), dtype=bool)
    if fast.any():
        cents = _plain_cents(s[fast])
        ok = cents > 0
        if max_cents is not None:
            ok &= cents <= max_cents
        out[fast] = ok
    slow = ~fast
    if slow.any():
        sub = s[slow]
        mask, neg, t, r, frac_len = _cents_parts(sub)
        ok = (frac_len <= 2) & _compare_parsed(neg, t, r, 0, strict=True)
        if max_cents is not None:
            ok &= ~_compare_parsed(neg, t, r, max_cents, strict=True)
        out[slow] = _place(mask, ok, sub.index).to_numpy()
    return pd.Series(out, index=s.index)


def _plain_cents(s: pd.Series) -> np.ndarray:
    """int64 cents of cells that all match ``[0-9]{1,16}(\\.[0-9]{1,2})?`` (exact, no float)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array(s, type=pa.large_string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    parts = pc.split_pattern(arr, ".", max_splits=1)
    whole = pc.cast(pc.list_element(parts, 0), pa.int64()).to_numpy(zero_copy_only=False)
    lengths = pc.list_value_length(parts).to_numpy(zero_copy_only=False)
    cents = whole * 100
    has_frac = lengths == 2
    if has_frac.any():
        offsets = parts.offsets.to_numpy()[:-1] - parts.offsets[0].as_py()
        flat = pc.list_flatten(parts)
        frac = flat.take(pa.array(offsets[has_frac] + 1))
        cents[has_frac] += pc.cast(pc.utf8_rpad(frac, 2, "0"), pa.int64()).to_numpy(zero_copy_only=False)
    return cents


def decimal_ge(s: pd.Series, bound_cents: int, strict: bool) -> pd.Series:
    """Plain decimal (any scale) >= bound_cents / 100, or > if ``strict``; compared exactly.

    ``bound_cents`` must be below 10**18 in magnitude.
    """
    mask, neg, t, r, _ = _cents_parts(s)
    return _place(mask, _compare_parsed(neg, t, r, bound_cents, strict), s.index)


def plain_integer(s: pd.Series) -> pd.Series:
    """ASCII ``-?[0-9]+`` exactly."""
    return _full(s, _PLAIN_INTEGER)


def int_in_range(s: pd.Series, lo: int, hi: int) -> pd.Series:
    """Plain integer with lo <= value <= hi (leading zeros allowed; any digit count, compared exactly)."""
    _check_bound(lo)
    _check_bound(hi)
    mask, neg, int_part, frac = _decimal_parts(s, _PLAIN_INTEGER)
    t, _ = _scaled_truncated(int_part, frac, 0)
    value = np.where(neg, -t, t)
    return _place(mask, (value >= lo) & (value <= hi), s.index)


# --------------------------------------------------------------------------- digit strings


def digits_len(s: pd.Series, lo: int, hi: int) -> pd.Series:
    """Only ASCII digits, length between lo and hi inclusive."""
    return _full(s, rf"[0-9]{{{lo},{hi}}}")


def _luhn_rows(matrix: np.ndarray) -> np.ndarray:
    """Luhn check of each row of an ASCII digit matrix (right-aligned)."""
    width = matrix.shape[1]
    # every second digit counted from the right is doubled
    luts = [_LUHN_DOUBLE if (width - 1 - j) % 2 else _DIGIT for j in range(width)]
    return _weighted_sum(matrix, luts) % 10 == 0


def luhn_ok(s: pd.Series) -> pd.Series:
    """Non-empty ASCII digits passing the Luhn check.

    Rows are right-aligned with leading zeros (which do not change a Luhn sum) into one matrix; if
    some cell is very long, rows are grouped by length instead so memory stays proportional.
    """
    s = _as_str(s)
    mask = _full(s, r"[0-9]+").to_numpy()
    sub = s[mask]
    ok = np.zeros(len(sub), dtype=bool)
    if len(sub):
        lengths = sub.str.len().to_numpy()
        widest = int(lengths.max())
        if widest <= _LUHN_PAD_LIMIT:
            ok = _luhn_rows(_ascii_matrix(sub.str.zfill(widest), widest))
        else:
            for width in np.unique(lengths):
                rows = lengths == width
                ok[rows] = _luhn_rows(_ascii_matrix(sub[rows], int(width)))
    return _place(mask, ok, s.index)


def card_ok(s: pd.Series, luhn: bool = True) -> pd.Series:
    """16-19 ASCII digits passing Luhn (``luhn=False``: a client relaxation skips the Luhn check)."""
    ok = digits_len(s, 16, 19)
    return ok & luhn_ok(_as_str(s).where(ok, "")) if luhn else ok


def cnaps_ok(s: pd.Series) -> pd.Series:
    """CNAPS bank code: exactly 12 ASCII digits."""
    return _full(s, r"[0-9]{12}")


def mobile_ok(s: pd.Series) -> pd.Series:
    """Mainland mobile number: ``1[3-9]`` then 9 ASCII digits."""
    return _full(s, r"1[3-9][0-9]{9}")


# --------------------------------------------------------------------------- dates


def parse_iso_date(s: pd.Series) -> pd.Series:
    """Strict ``YYYY-MM-DD`` real calendar dates (years 0001-9999) as datetime64[s]; NaT otherwise."""
    s = _as_str(s)
    mask = _full(s, r"[0-9]{4}-[0-9]{2}-[0-9]{2}").to_numpy()
    out = np.full(len(s), np.datetime64("NaT"), dtype="datetime64[D]")
    if mask.any():
        m = _ascii_matrix(s[mask], 10)
        y, mo, d = _number(m[:, 0:4]), _number(m[:, 5:7]), _number(m[:, 8:10])
        valid = _valid_ymd(y, mo, d)
        days = np.full(len(y), np.datetime64("NaT"), dtype="datetime64[D]")
        days[valid] = _ymd_to_days(y[valid], mo[valid], d[valid])
        out[mask] = days
    return pd.Series(out.astype("datetime64[s]"), index=s.index)


def date_in_window(s: pd.Series, start: dt.date, end: dt.date) -> pd.Series:
    """A real ``YYYY-MM-DD`` date with start <= date <= end."""
    d = parse_iso_date(s).to_numpy()
    ok = ~np.isnat(d) & (d >= np.datetime64(start, "s")) & (d <= np.datetime64(end, "s"))
    return pd.Series(ok, index=s.index)


# --------------------------------------------------------------------------- identity numbers


_RIC_FORM = r"[0-9]{17}[0-9X]"


def ric_form_ok(s: pd.Series) -> pd.Series:
    """The form of a resident identity card number: 17 ASCII digits then a digit or uppercase ``X``.

    A number of another length or with another character (a lowercase ``x`` included) does not have
    the required form (R_FORMAT); :func:`ric_ok` judges the check character, birth date and province.
    """
    return _full(s, _RIC_FORM)


def uscc_form_ok(s: pd.Series) -> pd.Series:
    """The form of a unified social credit code: 18 characters of ``USCC_ALPHABET`` (R_FORMAT otherwise)."""
    return _full(s, rf"{_USCC_CLASS}{{18}}")


def ric_ok(s: pd.Series, business_date: dt.date) -> pd.Series:
    """PRC resident identity card (GB 11643), 18 characters.

    Checks: 17 ASCII digits then a digit or uppercase ``X`` (a lowercase ``x`` is rejected: cells are
    taken exactly as sent); the ISO 7064 MOD 11-2 check character; the embedded birth date (chars
    7-14, YYYYMMDD) is a real date between 1900-01-01 and ``business_date`` inclusive; the first
    two digits are a province-level code of GB/T 2260 (``RIC_PROVINCES``). Region codes below
    province level are not checked (contract section 4).
    """
    s = _as_str(s)
    mask = ric_form_ok(s).to_numpy()
    sub = s[mask]
    if len(sub) == 0:
        return pd.Series(False, index=s.index)
    raw = _ascii_matrix(sub, 18)
    total = _weighted_sum(raw, [_DIGIT * w for w in _RIC_WEIGHTS])
    check_ok = _RIC_CHECK[total % 11] == raw[:, 17]
    province_ok = np.isin(_number(raw[:, 0:2]), sorted(RIC_PROVINCES))
    y, m, d = _number(raw[:, 6:10]), _number(raw[:, 10:12]), _number(raw[:, 12:14])
    date_ok = _valid_ymd(y, m, d)
    ymd = y * 10000 + m * 100 + d
    lo = RIC_MIN_BIRTH.year * 10000 + RIC_MIN_BIRTH.month * 100 + RIC_MIN_BIRTH.day
    hi = business_date.year * 10000 + business_date.month * 100 + business_date.day
    date_ok &= (ymd >= lo) & (ymd <= hi)
    return _place(mask, check_ok & province_ok & date_ok, s.index)


def uscc_ok(s: pd.Series) -> pd.Series:
    """Unified social credit code (GB 32100): 18 characters of ``USCC_ALPHABET`` with its check character.

    The alphabet is digits and uppercase letters without I, O, S, V, Z (lowercase is rejected). The
    check character is ``31 - (sum(value * weight) mod 31)`` (31 -> 0), mapped through the alphabet.
    No further structure (registering authority, entity type, region) is checked.
    """
    s = _as_str(s)
    mask = uscc_form_ok(s).to_numpy()
    sub = s[mask]
    if len(sub) == 0:
        return pd.Series(False, index=s.index)
    raw = _ascii_matrix(sub, 18)
    total = _weighted_sum(raw, [_USCC_VALUE * w for w in _USCC_WEIGHTS])
    check = (31 - total % 31) % 31
    return _place(mask, check == _USCC_VALUE[raw[:, 17]], s.index)


# --------------------------------------------------------------------------- text


def max_chars(s: pd.Series, n: int) -> pd.Series:
    """At most ``n`` characters (Unicode code points)."""
    return _bool(_as_str(s).str.len() <= n, s.index)


def len_between(s: pd.Series, lo: int, hi: int) -> pd.Series:
    """Between ``lo`` and ``hi`` characters (Unicode code points), inclusive."""
    n = _as_str(s).str.len()
    return _bool((n >= lo) & (n <= hi), s.index)


def client_ref_ok(s: pd.Series) -> pd.Series:
    """1-32 characters of ``A-Za-z0-9_-``."""
    return _full(s, r"[A-Za-z0-9_-]{1,32}")


def in_set(s: pd.Series, allowed: Iterable[str]) -> pd.Series:
    """The cell equals one of ``allowed`` exactly (case-sensitive, no trimming)."""
    return _bool(_as_str(s).isin(list(allowed)), s.index)
