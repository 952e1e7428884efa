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
