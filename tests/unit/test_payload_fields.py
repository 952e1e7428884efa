"""clearing.json_fields: payload fields parsed by Arrow's JSON reader read exactly what Python's
json module reads from the same texts (escapes, non-ASCII, line breaks inside values, missing
fields), row for row."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from daybook import clearing

AWKWARD = [
    {"payer_name": "张伟", "payee_name": 'Lee, "Jr."', "currency": "CNY"},
    {"payer_name": "line\nbreak\r\nand\ttab", "payee_name": "back\\slash /slash", "currency": ""},
    {"payer_name": "emoji \U0001f600 é", "payee_name": "NULL", "extra": "ignored"},
    {"payee_name": "no payer name, no currency"},
    {"payer_name": "", "payee_name": " spaces kept ", "currency": "USD"},
]


@pytest.mark.parametrize("ensure_ascii", [True, False])
def test_fields_are_what_the_json_module_reads_row_for_row(ensure_ascii):
    texts = [json.dumps(p, ensure_ascii=ensure_ascii) for p in AWKWARD] * 3
    fields = ["payer_name", "payee_name", "currency"]
    parsed = clearing.json_fields(pa.array(texts, type=pa.string()), fields)
    for f in fields:
        assert parsed[f].to_pylist() == [json.loads(t).get(f) for t in texts]


def test_a_slice_of_a_larger_column_is_parsed_from_its_own_rows_only():
    texts = pa.array([json.dumps({"payer_name": f"p{i}"}) for i in range(10)], type=pa.string())
    assert clearing.json_fields(texts.slice(3, 4), ["payer_name"])["payer_name"].to_pylist() == [
        "p3",
        "p4",
        "p5",
        "p6",
    ]
    assert clearing.json_fields(texts.slice(0, 0), ["payer_name"])["payer_name"].to_pylist() == []


def test_a_null_payload_is_refused_not_skipped():
    with pytest.raises(ValueError, match="1 payloads are NULL"):
        clearing.json_fields(pa.array(['{"a": "1"}', None], type=pa.string()), ["a"])
