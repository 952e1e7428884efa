"""daybook's custom Great Expectations: one GX ``ColumnMapExpectation`` per contract check.

Each expectation is backed by a vectorized predicate in :mod:`daybook.checks` through a GX
``ColumnMapMetricProvider``, so GX stays the enforcement and reporting layer (results, Data
Docs) while the work is pandas vector operations. Empty cells reach GX as nulls and are left
to the "required" expectation, so a missing value gets R_REQUIRED and not a format code too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.expectation import ColumnMapExpectation
from great_expectations.expectations.metrics import ColumnMapMetricProvider, column_condition_partial

from daybook import checks


def _date(value: str) -> dt.date:
    return dt.date.fromisoformat(value)


def _ric(s: pd.Series, business_date: str) -> pd.Series:
    # Only numbers of the right form are judged here; the form is R_FORMAT's business.
    return ~checks.ric_form_ok(s) | checks.ric_ok(s, _date(business_date))


def _uscc(s: pd.Series) -> pd.Series:
    return ~checks.uscc_form_ok(s) | checks.uscc_ok(s)


def _card(s: pd.Series, luhn_off_prefixes: list[str]) -> pd.Series:
    ok = checks.card_ok(s, luhn=True)
    if luhn_off_prefixes:
        relaxed = checks.card_ok(s, luhn=False) & s.str.startswith(tuple(luhn_off_prefixes))
        ok = ok | relaxed
    return ok


def _date_window(s: pd.Series, start: str, end: str) -> pd.Series:
    return checks.date_in_window(s, _date(start), _date(end))


def _int_range(s: pd.Series, lo: int, hi: int) -> pd.Series:
    # Only integers are judged for range; a non-integer is R_FORMAT's business.
    return ~checks.plain_integer(s) | checks.int_in_range(s, lo, hi)


def _decimal_min(s: pd.Series, bound_cents: int, strict: bool) -> pd.Series:
    return ~checks.plain_decimal(s) | checks.decimal_ge(s, bound_cents, strict)


def _present(s: pd.Series) -> pd.Series:
    return pd.Series((s != "").to_numpy(dtype=bool), index=s.index)


# name -> (predicate, parameter names). "required" fails an empty cell; every other predicate
# gets the non-empty cells only (an empty cell is R_REQUIRED's business or allowed).
CHECKS: dict[str, tuple[Callable[..., pd.Series], tuple[str, ...]]] = {
    "required": (_present, ()),
    "client_ref": (checks.client_ref_ok, ()),
    "text_length": (checks.len_between, ("lo", "hi")),
    "account_digits": (checks.digits_len, ("lo", "hi")),
    "card_number": (_card, ("luhn_off_prefixes",)),
    "cnaps_code": (checks.cnaps_ok, ()),
    "mainland_mobile": (checks.mobile_ok, ()),
    "resident_id_form": (checks.ric_form_ok, ()),
    "resident_id": (_ric, ("business_date",)),
    "social_credit_code_form": (checks.uscc_form_ok, ()),
    "social_credit_code": (_uscc, ()),
    "decimal_amount": (checks.amount_ok, ("max_cents",)),
    "plain_decimal": (checks.plain_decimal, ()),
    "plain_integer": (checks.plain_integer, ()),
    "integer_in_range": (_int_range, ("lo", "hi")),
    "decimal_at_least": (_decimal_min, ("bound_cents", "strict")),
    "iso_date_in_window": (_date_window, ("start", "end")),
    "in_list": (checks.in_set, ("allowed",)),
}


def predicate(check: str, column: pd.Series, params: dict[str, Any]) -> pd.Series:
    """Apply the registered predicate of ``check`` to ``column``: True = the cell passes.

    An empty cell passes every check but "required". GX hands the metric the non-null cells of
    the expectation's domain (nulls mark rows outside a conditional rule's condition).

    The one function both GX's metric provider and validation's per-row codes call, so the mask
    that decides a row's codes is the predicate GX counted (validation cross-checks the counts).
    """
    fn, keys = CHECKS[check]
    s = column.astype("str")
    kwargs = {k: params[k] for k in keys}
    if check == "required":
        return fn(s)
    empty = (s == "").to_numpy(dtype=bool)
    if not empty.any():
        return fn(s, **kwargs)
    ok = np.ones(len(s), dtype=bool)
    ok[~empty] = fn(s[~empty], **kwargs).to_numpy(dtype=bool)
    return pd.Series(ok, index=s.index)


# While validation runs a chunk through GX it sets this to a dict, and each metric computation
# leaves its boolean result here: the per-row mask GX itself counted (see validation.SuiteRunner).
CAPTURE: dict[tuple[str, str, str], pd.Series] | None = None


def capture_key(check: str, column: str, params: dict[str, Any]) -> tuple[str, str, str]:
    keys = CHECKS[check][1]
    return (check, column, repr([(k, params[k]) for k in keys]))


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _build(check: str, keys: tuple[str, ...]) -> type[ColumnMapExpectation]:
    metric = f"column_values.daybook_{check}"

    def _pandas(cls: Any, column: pd.Series, **kwargs: Any) -> pd.Series:
        ok = predicate(check, column, kwargs)
        if CAPTURE is not None:
            CAPTURE[capture_key(check, str(column.name), kwargs)] = ok
        return ok

    provider = type(
        f"ColumnValuesDaybook{_camel(check)}",
        (ColumnMapMetricProvider,),
        {
            "condition_metric_name": metric,
            "condition_value_keys": keys,
            "_pandas": column_condition_partial(engine=PandasExecutionEngine)(_pandas),
        },
    )
    annotations: dict[str, Any] = {k: Any for k in keys}
    expectation = type(
        f"ExpectColumnValuesToBeDaybook{_camel(check)}",
        (ColumnMapExpectation,),
        {
            "__doc__": f"Expect column values to pass the file contract's {check.replace('_', ' ')} check.",
            "__annotations__": annotations,
            "__module__": __name__,
            "map_metric": metric,
            "success_keys": (*keys, "mostly"),
        },
    )
    expectation._metric_provider = provider  # keep a reference: GX registers providers on definition
    return expectation


EXPECTATIONS: dict[str, type[ColumnMapExpectation]] = {
    name: _build(name, keys) for name, (_, keys) in CHECKS.items()
}
