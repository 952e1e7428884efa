"""What the PII scans look for: the values of a day's personal-number columns, found verbatim."""

from __future__ import annotations

import csv
import io

PII_COLUMNS = {
    "payer_account",
    "payer_id_no",
    "payee_account",
    "applicant_id_no",
    "phone",
    "disbursement_account",
}


def numbers_in_csv(text: str) -> set[str]:
    """Every value of a PII column in one data file's text (8 characters or more)."""
    found: set[str] = set()
    for row in csv.DictReader(io.StringIO(text, newline="")):
        for column in PII_COLUMNS & set(row):
            value = (row[column] or "").strip()
            if len(value) >= 8:
                found.add(value)
    return found


def scan(texts: dict[str, str], numbers: set[str]) -> list[tuple[str, str]]:
    """(where, number) for every number found verbatim in a text."""
    return sorted((where, n) for where, text in texts.items() for n in numbers if n in text)
