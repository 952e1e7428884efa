"""The row rules of contract section 4 as data: one GX expectation per (column, rule, code).

A business type's suite is its list of :class:`Rule`; client profile settings (accepted
currencies, products, relaxations) and the business date are filled in when the suite is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from daybook.profiles import Profile

PAY_MAX_CENTS = 99_999_999_999_999  # 999999999999.99


@dataclass(frozen=True)
class Rule:
    code: str
    column: str
    check: str  # "required" or a key of daybook.expectations.CHECKS
    params: dict[str, Any] = field(default_factory=dict)
    when: str | None = None  # pandas row condition, e.g. 'payer_id_type == "RIC"'


def _ref_rules() -> list[Rule]:
    return [Rule("R_FORMAT", "client_ref", "client_ref")]


def _id_rules(type_col: str, no_col: str, business_date: date) -> list[Rule]:
    return [
        Rule("R_ENUM", type_col, "in_list", {"allowed": ["RIC", "USCC"]}),
        Rule(
            "R_ID_CHECKSUM",
            no_col,
            "resident_id",
            {"business_date": business_date.isoformat()},
            when=f'{type_col} == "RIC"',
        ),
        Rule("R_ID_CHECKSUM", no_col, "social_credit_code", when=f'{type_col} == "USCC"'),
    ]


def _account_rules(type_col: str, no_col: str, profile: Profile) -> list[Rule]:
    return [
        Rule("R_ENUM", type_col, "in_list", {"allowed": ["CARD", "ACCOUNT"]}),
        Rule(
            "R_ACCOUNT",
            no_col,
            "card_number",
            {"luhn_off_prefixes": profile.luhn_off_prefixes},
            when=f'{type_col} == "CARD"',
        ),
        Rule("R_ACCOUNT", no_col, "account_digits", {"lo": 8, "hi": 32}, when=f'{type_col} == "ACCOUNT"'),
    ]


def _name_rule(column: str, hi: int = 100) -> Rule:
    return Rule("R_FORMAT", column, "text_length", {"lo": 1, "hi": hi})


def pay_rules(profile: Profile, business_date: date) -> list[Rule]:
    required = [
        "client_ref",
        "value_date",
        "payer_account",
        "payer_name",
        "payer_id_type",
        "payer_id_no",
        "payee_account_type",
        "payee_account",
        "payee_name",
        "payee_bank_code",
        "amount",
        "currency",
    ]
    return [
        *[Rule("R_REQUIRED", c, "required") for c in required],
        *_ref_rules(),
        Rule(
            "R_DATE",
            "value_date",
            "iso_date_in_window",
            {"start": business_date.isoformat(), "end": (business_date + timedelta(days=30)).isoformat()},
        ),
        Rule("R_ACCOUNT", "payer_account", "account_digits", {"lo": 8, "hi": 32}),
        _name_rule("payer_name"),
        *_id_rules("payer_id_type", "payer_id_no", business_date),
        *_account_rules("payee_account_type", "payee_account", profile),
        _name_rule("payee_name"),
        Rule("R_BANK_CODE", "payee_bank_code", "cnaps_code"),
        Rule("R_AMOUNT", "amount", "decimal_amount", {"max_cents": PAY_MAX_CENTS}),
        Rule("R_CURRENCY", "currency", "in_list", {"allowed": profile.accepted_currencies}),
        Rule("R_FORMAT", "purpose", "text_length", {"lo": 0, "hi": 140}),
    ]


def loan_rules(profile: Profile, business_date: date) -> list[Rule]:
    required = [
        "client_ref",
        "applicant_name",
        "applicant_id_type",
        "applicant_id_no",
        "product_code",
        "loan_amount",
        "term_months",
        "annual_income",
        "credit_score",
        "disbursement_account_type",
        "disbursement_account",
    ]
    return [
        *[Rule("R_REQUIRED", c, "required") for c in required],
        Rule("R_REQUIRED", "phone", "required", when='applicant_id_type == "RIC"'),
        Rule("R_REQUIRED", "collateral_value", "required", when='product_code == "MORTGAGE"'),
        *_ref_rules(),
        _name_rule("applicant_name"),
        *_id_rules("applicant_id_type", "applicant_id_no", business_date),
        Rule("R_FORMAT", "phone", "mainland_mobile"),
        Rule("R_ENUM", "product_code", "in_list", {"allowed": profile.products}),
        Rule("R_AMOUNT", "loan_amount", "decimal_amount", {"max_cents": None}),
        Rule("R_FORMAT", "term_months", "plain_integer"),
        Rule("R_RANGE", "term_months", "integer_in_range", {"lo": 1, "hi": 360}),
        Rule("R_FORMAT", "annual_income", "plain_decimal"),
        Rule("R_RANGE", "annual_income", "decimal_at_least", {"bound_cents": 0, "strict": False}),
        Rule("R_FORMAT", "collateral_value", "plain_decimal"),
        Rule("R_RANGE", "collateral_value", "decimal_at_least", {"bound_cents": 0, "strict": True}),
        Rule("R_FORMAT", "credit_score", "plain_integer"),
        Rule("R_RANGE", "credit_score", "integer_in_range", {"lo": 300, "hi": 900}),
        *_account_rules("disbursement_account_type", "disbursement_account", profile),
    ]


SUITES = {"PAY": pay_rules, "LOAN": loan_rules}


def rules_for(type_code: str, profile: Profile, business_date: date) -> list[Rule]:
    return SUITES[type_code](profile, business_date)
