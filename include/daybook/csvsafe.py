"""CSV for people: cells that a spreadsheet would run as a formula are neutralized.

Reports and exports that people open in a spreadsheet (reconciliation breaks, the large-value
report, archive and handover listings) may carry text that came from outside: a client's names
and references, an approver's opinion. A cell starting with ``=``, ``+``, ``-`` or ``@`` (or a
tab or CR, which some spreadsheets skip before one of those) would be evaluated as a formula
(CSV injection). Such a cell gets a leading ``'``, which spreadsheets show as text. A plain
number (``-12.50``) is left alone: it cannot be a formula.

Not used for the files the client contract defines (``.ack.csv``, ``.ret.csv``, the clearing
file): those carry the values exactly as the contract says.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")


def cell(value: Any) -> str:
    """The text of one cell, with a leading ``'`` when it would start a formula."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_PREFIXES) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def row(values: Iterable[Any]) -> list[str]:
    return [cell(v) for v in values]


def arrow_cells(values: Any) -> Any:
    """:func:`cell` over a whole Arrow string array at once (nulls become ``""``): the same rule,
    with Arrow's kernels, for members written from Arrow batches. Only the values whose first
    byte is one of the prefixes are matched against the plain-number pattern."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    text = pc.fill_null(values.cast(pa.string()), "")
    if len(text) == 0:
        return text
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int32)[text.offset : text.offset + len(text) + 1]
    data = text.buffers()[2]
    if data is None:  # every value empty
        return text
    data = np.frombuffer(data, dtype=np.uint8)
    nonempty = offsets[1:] > offsets[:-1]
    first = np.zeros(len(text), dtype=np.uint8)
    first[nonempty] = data[offsets[:-1][nonempty]]
    candidate = np.isin(first, np.frombuffer("".join(FORMULA_PREFIXES).encode("ascii"), dtype=np.uint8))
    if not candidate.any():
        return text
    plain = pc.match_substring_regex(text, f"^(?:{_PLAIN_NUMBER.pattern})$")
    formula = pc.and_(pa.array(candidate), pc.invert(plain))
    return pc.if_else(formula, pc.binary_join_element_wise("'", text, ""), text)
