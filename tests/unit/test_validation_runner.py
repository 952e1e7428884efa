"""SuiteRunner: GX runs every expectation per chunk, the per-row codes are the masks GX counted.

Chunking must not change any row's codes; a disagreement between GX's count and the mask must
stop the run; the file's validation result (for Data Docs) sums the chunks.
"""

from __future__ import annotations

import datetime as dt
import gc

import numpy as np
import pandas as pd
import pytest

from daybook import expectations, profiles, validation
from daybook.validation_suites import rules_for

BD = dt.date(2026, 11, 27)
PROFILE = profiles.Profile("X", "", "", profiles._merge(profiles.DEFAULTS, {"client_id": "X"}))
ROW = {
    "client_ref": "R1",
    "value_date": "2026-11-27",
    "payer_account": "12345678",
    "payer_name": "x",
    "payer_id_type": "USCC",
    "payer_id_no": "91110000600037341L",
    "payee_account_type": "ACCOUNT",
    "payee_account": "12345678",
    "payee_name": "y",
    "payee_bank_code": "102100099996",
    "amount": "1.00",
    "currency": "CNY",
    "purpose": "",
}
# line -> changed cells; every 7th line has no amount, every 5th a bad currency, every 3rd a bad card
N = 60


def _frame() -> pd.DataFrame:
    rows = []
    for i in range(1, N + 1):
        row = dict(ROW, client_ref=f"R{i}")
        if i % 7 == 0:
            row["amount"] = ""
        if i % 5 == 0:
            row["currency"] = "USD"
        if i % 3 == 0:
            row.update(payee_account_type="CARD", payee_account="4111111111111112")
        rows.append(row)
    frame = pd.DataFrame(rows, dtype="str")
    frame.insert(0, "line_no", np.arange(1, N + 1, dtype="int64"))
    return frame


def _expected(line: int) -> str:
    codes = []
    if line % 7 == 0:
        codes.append("R_REQUIRED")
    if line % 3 == 0:
        codes.append("R_ACCOUNT")
    if line % 5 == 0:
        codes.append("R_CURRENCY")
    return ";".join(codes)


def test_chunks_give_each_row_the_same_codes_as_one_pass():
    frame = _frame()
    runner = validation.SuiteRunner(rules_for("PAY", PROFILE, BD), "chunked")
    parts = [frame.iloc[i : i + 17].reset_index(drop=True) for i in range(0, N, 17)]
    codes = np.concatenate([validation.code_strings(runner.run(p)) for p in parts])
    assert codes.tolist() == [_expected(i) for i in range(1, N + 1)]

    result = runner.finish()
    by_column_code = {}
    for res in result.results:
        meta = res.expectation_config.meta
        by_column_code[(meta["column"], meta["code"], meta["when"])] = (
            res.result["unexpected_count"],
            res.success,
        )
    assert by_column_code[("amount", "R_REQUIRED", None)] == (N // 7, False)
    assert by_column_code[("currency", "R_CURRENCY", None)] == (N // 5, False)
    assert by_column_code[("payee_account", "R_ACCOUNT", 'payee_account_type == "CARD"')] == (N // 3, False)
    assert by_column_code[("payer_name", "R_FORMAT", None)] == (0, True)
    assert runner.rows == N and result.success is False


def test_a_mask_that_disagrees_with_gx_stops_the_run(monkeypatch):
    frame = _frame()
    runner = validation.SuiteRunner(rules_for("PAY", PROFILE, BD), "disagree")

    def lying_mask(rule, chunk):
        return np.zeros(len(chunk), dtype=bool)  # "no row fails", while GX counts failures

    # Every capture key is unique, so nothing GX computed is found again and the (lying) mask
    # decides; a shared constant key would hand back whichever metric ran last (order-dependent).
    monkeypatch.setattr(expectations, "capture_key", lambda *a: ("not captured", object(), ""))
    monkeypatch.setattr(validation, "rule_mask", lying_mask)
    with pytest.raises(RuntimeError, match=r"GX counted [1-9][0-9]* failing rows .* the predicate mask 0"):
        runner.run(frame)


def _alive_of_length(n: int) -> list[str]:
    """Frames and series of exactly ``n`` rows that the collector still tracks (reachable or
    unreachable garbage not yet collected). ``type()``, not ``isinstance``: the latter reads
    ``__class__``, which some tracked objects of other modules compute lazily (an import)."""
    kinds = (pd.DataFrame, pd.Series)
    return [type(o).__name__ for o in gc.get_objects() if type(o) in kinds and len(o) == n]


def test_nothing_of_a_chunk_outlives_its_run_without_a_garbage_collection():
    """GX's execution engine caches a chunk's batch and metrics inside reference cycles; left
    there, every chunk's frame lived until a full collection (rare in an Airflow task), so a
    day's validation grew with its files. With the collector off, once the run returns and the
    caller drops its frame, no frame or series of the chunk's length is left."""
    n = 4_099  # no other object in the session has this length
    frame = pd.concat([_frame()] * 70, ignore_index=True).iloc[:n].reset_index(drop=True)
    frame["line_no"] = np.arange(1, n + 1, dtype="int64")
    runner = validation.SuiteRunner(rules_for("PAY", PROFILE, BD), "forgotten")
    gc.collect()
    gc.disable()
    try:
        bits = runner.run(frame)
        assert np.count_nonzero(bits) > 0  # the run saw the rows
        del frame
        assert _alive_of_length(n) == []
        second = pd.concat([_frame()] * 70, ignore_index=True).iloc[:n].reset_index(drop=True)
        runner.run(second)
        del second
        assert _alive_of_length(n) == []
    finally:
        gc.enable()
    assert runner.rows == 2 * n  # both chunks counted in the file's result


def test_code_strings_follow_the_contract_order():
    bits = np.array(
        [
            0,
            validation.CODE_BIT["R_DUPLICATE_REF"] | validation.CODE_BIT["R_REQUIRED"],
            validation.CODE_BIT["R_RANGE"],
        ],
        dtype=np.int32,
    )
    assert validation.code_strings(bits).tolist() == ["", "R_REQUIRED;R_DUPLICATE_REF", "R_RANGE"]
