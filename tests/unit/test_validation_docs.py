"""docs/data-quality.md cannot drift from the GX suites, and the suites cover contract section 4.

The (column, code) pairs below are written by hand from the contract's PAY and LOAN tables and
section 7; the rule table in the docs is regenerated from the suites and must be unchanged.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from daybook import profiles
from daybook.codes import CATALOGUE
from daybook.validation_suites import rules_for, sync_docs

DOC = Path(__file__).resolve().parents[2] / "docs" / "data-quality.md"

PAY_REQUIRED = [
    "client_ref", "value_date", "payer_account", "payer_name", "payer_id_type", "payer_id_no",
    "payee_account_type", "payee_account", "payee_name", "payee_bank_code", "amount", "currency",
]  # fmt: skip
LOAN_REQUIRED = [
    "client_ref", "applicant_name", "applicant_id_type", "applicant_id_no", "product_code", "loan_amount",
    "term_months", "annual_income", "credit_score", "disbursement_account_type", "disbursement_account",
]  # fmt: skip
CONTRACT = {
    "PAY": {(c, "R_REQUIRED", None) for c in PAY_REQUIRED}
    | {
        ("client_ref", "R_FORMAT", None),
        ("value_date", "R_DATE", None),
        ("payer_account", "R_ACCOUNT", None),
        ("payer_name", "R_FORMAT", None),
        ("payer_id_type", "R_ENUM", None),
        ("payer_id_no", "R_FORMAT", 'payer_id_type == "RIC"'),
        ("payer_id_no", "R_FORMAT", 'payer_id_type == "USCC"'),
        ("payer_id_no", "R_ID_CHECKSUM", 'payer_id_type == "RIC"'),
        ("payer_id_no", "R_ID_CHECKSUM", 'payer_id_type == "USCC"'),
        ("payee_account_type", "R_ENUM", None),
        ("payee_account", "R_ACCOUNT", 'payee_account_type == "CARD"'),
        ("payee_account", "R_ACCOUNT", 'payee_account_type == "ACCOUNT"'),
        ("payee_name", "R_FORMAT", None),
        ("payee_bank_code", "R_BANK_CODE", None),
        ("amount", "R_AMOUNT", None),
        ("currency", "R_CURRENCY", None),
        ("purpose", "R_FORMAT", None),
    },
    "LOAN": {(c, "R_REQUIRED", None) for c in LOAN_REQUIRED}
    | {
        ("phone", "R_REQUIRED", 'applicant_id_type == "RIC"'),
        ("collateral_value", "R_REQUIRED", 'product_code == "MORTGAGE"'),
        ("client_ref", "R_FORMAT", None),
        ("applicant_name", "R_FORMAT", None),
        ("applicant_id_type", "R_ENUM", None),
        ("applicant_id_no", "R_FORMAT", 'applicant_id_type == "RIC"'),
        ("applicant_id_no", "R_FORMAT", 'applicant_id_type == "USCC"'),
        ("applicant_id_no", "R_ID_CHECKSUM", 'applicant_id_type == "RIC"'),
        ("applicant_id_no", "R_ID_CHECKSUM", 'applicant_id_type == "USCC"'),
        ("phone", "R_FORMAT", None),
        ("product_code", "R_ENUM", None),
        ("loan_amount", "R_AMOUNT", None),
        ("term_months", "R_FORMAT", None),
        ("term_months", "R_RANGE", None),
        ("annual_income", "R_FORMAT", None),
        ("annual_income", "R_RANGE", None),
        ("collateral_value", "R_FORMAT", None),
        ("collateral_value", "R_RANGE", None),
        ("credit_score", "R_FORMAT", None),
        ("credit_score", "R_RANGE", None),
        ("disbursement_account_type", "R_ENUM", None),
        ("disbursement_account", "R_ACCOUNT", 'disbursement_account_type == "CARD"'),
        ("disbursement_account", "R_ACCOUNT", 'disbursement_account_type == "ACCOUNT"'),
    },
}


@pytest.mark.parametrize("type_code", ["PAY", "LOAN"])
def test_suite_has_exactly_the_contracts_rules(type_code):
    profile = profiles.Profile("X", "", "", profiles._merge(profiles.DEFAULTS, {"client_id": "X"}))
    got = {(r.column, r.code, r.when) for r in rules_for(type_code, profile, dt.date(2026, 11, 27))}
    assert got == CONTRACT[type_code]


def test_rule_tables_in_the_docs_are_generated_from_the_suites(tmp_path):
    copy = tmp_path / "data-quality.md"
    shutil.copy(DOC, copy)
    assert sync_docs(copy) is False, (
        "run `python -m daybook.validation_suites` and commit docs/data-quality.md"
    )
    # and the check can fail: a hand edit of the table is detected
    copy.write_text(
        DOC.read_text(encoding="utf-8").replace("| `amount` |", "| `amount_x` |"), encoding="utf-8"
    )
    assert sync_docs(copy) is True


def test_docs_name_every_row_code():
    text = DOC.read_text(encoding="utf-8")
    for code, (level, _) in CATALOGUE.items():
        if level == "row":
            assert f"`{code}`" in text or code in text, code
