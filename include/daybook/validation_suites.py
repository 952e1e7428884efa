"""The row rules of contract section 4 as data: one GX expectation per (column, rule, code).

A business type's suite is its list of :class:`Rule`; client profile settings (accepted
currencies, products, relaxations) and the business date are filled in when the suite is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from daybook.business_types import LOAN, PAY
from daybook.profiles import Profile

PAY_MAX_CENTS = 99_999_999_999_999  # 999999999999.99
# The contract sets no ceiling for loan_amount; R_AMOUNT's "too large" starts where an amount can
# no longer be carried exactly as integer cents (18 digits, a 64-bit column): 9999999999999999.99.
LOAN_MAX_CENTS = 10**18 - 1


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
    """Contract section 7: a number without its type's form (length, alphabet) is R_FORMAT; one of
    the right form is R_ID_CHECKSUM when its check character, birth date or province prefix fails."""
    return [
        Rule("R_ENUM", type_col, "in_list", {"allowed": ["RIC", "USCC"]}),
        Rule("R_FORMAT", no_col, "resident_id_form", when=f'{type_col} == "RIC"'),
        Rule("R_FORMAT", no_col, "social_credit_code_form", when=f'{type_col} == "USCC"'),
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
    required = PAY.required
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
    required = LOAN.required
    return [
        *[Rule("R_REQUIRED", c, "required") for c in required],
        Rule("R_REQUIRED", "phone", "required", when='applicant_id_type == "RIC"'),
        Rule("R_REQUIRED", "collateral_value", "required", when='product_code == "MORTGAGE"'),
        *_ref_rules(),
        _name_rule("applicant_name"),
        *_id_rules("applicant_id_type", "applicant_id_no", business_date),
        Rule("R_FORMAT", "phone", "mainland_mobile"),
        Rule("R_ENUM", "product_code", "in_list", {"allowed": profile.products}),
        Rule("R_AMOUNT", "loan_amount", "decimal_amount", {"max_cents": LOAN_MAX_CENTS}),
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


# --------------------------------------------------------------------------- documentation

_DOC_DATE = date(2000, 1, 1)  # any date: the table states windows relative to the business date


def _describe(rule: Rule) -> str:
    """The rule's check in words (for docs/data-quality.md), from the rule's own parameters."""
    p = rule.params
    if rule.check == "iso_date_in_window":
        start = (date.fromisoformat(p["start"]) - _DOC_DATE).days
        end = (date.fromisoformat(p["end"]) - _DOC_DATE).days
        return f"`YYYY-MM-DD`, a real date, business date {start:+d} to {end:+d} days"
    if rule.check == "decimal_at_least":
        op = ">" if p["strict"] else ">="
        b = p["bound_cents"]
        return f"when a plain decimal: {op} {'-' if b < 0 else ''}{abs(b) // 100}.{abs(b) % 100:02d}"
    if rule.check == "integer_in_range":
        return f"when a plain integer: {p['lo']} to {p['hi']}"
    if rule.check == "decimal_amount":
        limit = (
            "" if p["max_cents"] is None else f", at most {p['max_cents'] // 100}.{p['max_cents'] % 100:02d}"
        )
        return f"plain decimal > 0, at most 2 decimals{limit}"
    if rule.check == "in_list":
        return "one of " + ", ".join(f"`{v}`" for v in p["allowed"])
    if rule.check in ("text_length", "account_digits"):
        unit = "characters" if rule.check == "text_length" else "ASCII digits"
        return f"{p['lo']}-{p['hi']} {unit}"
    return {
        "required": "not empty",
        "client_ref": "1-32 of `A-Za-z0-9_-`",
        "card_number": "16-19 ASCII digits passing Luhn (Luhn skipped for the client's relaxed prefixes)",
        "cnaps_code": "12 ASCII digits",
        "mainland_mobile": "`1[3-9]` then 9 ASCII digits",
        "resident_id_form": "18 characters: 17 ASCII digits, then a digit or `X`",
        "resident_id": "when of that form, GB 11643: the check character, a birth date 1900-01-01 to "
        "the business date, an existing province prefix",
        "social_credit_code_form": "18 characters of the GB 32100 alphabet (digits and `A-Z` without "
        "`I`, `O`, `S`, `V`, `Z`)",
        "social_credit_code": "when of that form, GB 32100: the check character",
        "plain_decimal": "plain decimal `-?[0-9]+(\\.[0-9]+)?`",
        "plain_integer": "plain integer `-?[0-9]+`",
    }[rule.check]


def rules_markdown(type_code: str, profile: Profile) -> str:
    """The business type's rule table (column, condition, rule, code) as a Markdown table.

    Empty cells are R_REQUIRED's alone: every other rule skips them. Client-dependent lists
    (currencies, products, relaxations) are shown for ``profile``.
    """
    lines = ["| column | when | rule | code |", "|---|---|---|---|"]
    for rule in rules_for(type_code, profile, _DOC_DATE):
        when = f"`{rule.when}`" if rule.when else ""
        lines.append(f"| `{rule.column}` | {when} | {_describe(rule)} | `{rule.code}` |")
    return "\n".join(lines)


def sync_docs(path: Any = None) -> bool:
    """Rewrite the generated rule tables of docs/data-quality.md; True if the file changed."""
    from pathlib import Path

    from daybook import profiles
    from daybook.config import PROJECT_ROOT

    path = Path(path or PROJECT_ROOT / "docs" / "data-quality.md")
    text = path.read_text(encoding="utf-8")
    profile = Profile("DOCS", "", "", profiles._merge(profiles.DEFAULTS, {"client_id": "DOCS"}))
    new = text
    for code in SUITES:
        begin, end = f"<!-- rules:{code} -->", f"<!-- /rules:{code} -->"
        head, rest = new.split(begin, 1)
        _, tail = rest.split(end, 1)
        new = f"{head}{begin}\n{rules_markdown(code, profile)}\n{end}{tail}"
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text


if __name__ == "__main__":  # python -m daybook.validation_suites: refresh docs/data-quality.md
    print("docs/data-quality.md", "updated" if sync_docs() else "up to date")
