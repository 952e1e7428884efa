"""Business types registered in one place: columns, the amount column and final states.

Adding a type (say, investment orders) means a new entry here, its quality suite in
``validation_suites.py`` and its rules in the approval/settlement registries: no new code path.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BusinessType:
    code: str
    # Columns that must be in the header (contract section 4, "required: yes").
    required: tuple[str, ...]
    # Columns that may be absent from the header: optional or conditionally required
    # (an absent conditional column reads as empty cells, so its rows get R_REQUIRED).
    optional: tuple[str, ...]
    amount_column: str
    final_done: str
    final_refused: str


PAY = BusinessType(
    code="PAY",
    required=(
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
    ),
    optional=("purpose",),
    amount_column="amount",
    final_done="SETTLED",
    final_refused="RETURNED",
)

LOAN = BusinessType(
    code="LOAN",
    required=(
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
    ),
    optional=("phone", "collateral_value"),
    amount_column="loan_amount",
    final_done="DISBURSED",
    final_refused="DECLINED",
)

REGISTRY: dict[str, BusinessType] = {t.code: t for t in (PAY, LOAN)}


def get(code: str) -> BusinessType:
    return REGISTRY[code]


# The business number ends in the row's line number written with exactly 6 digits (contract
# section 5): a file holds at most MAX_LINE_NO data rows (intake refuses a larger one, F_TOO_LARGE).
LINE_NO_DIGITS = 6
MAX_LINE_NO = 10**LINE_NO_DIGITS - 1


class LineNumberOutOfRange(ValueError):
    """A row whose line number cannot be written in a business number's 6 digits."""


def business_no_prefix(client_id: str, type_code: str, business_date: str, seq: str) -> str:
    """The business numbers of one file start with ``<CLIENT>-<TYPE>-<YYYYMMDD>-<SEQ>-``."""
    return f"{client_id}-{type_code}-{business_date.replace('-', '')}-{seq}-"


def check_line_numbers(first: int, last: int) -> None:
    """Raise :class:`LineNumberOutOfRange` unless ``first``..``last`` all fit a business number.

    Intake refuses a file declaring more than MAX_LINE_NO rows and one whose rows differ from the
    declared count, so this never fires for a file that passed intake; it is the last guard that no
    business number is ever written with a line part other than 6 digits."""
    if first < 1 or last > MAX_LINE_NO:
        raise LineNumberOutOfRange(
            f"line numbers {first}..{last} cannot be written in a business number: its line part has "
            f"{LINE_NO_DIGITS} digits (1..{MAX_LINE_NO}); a file of more rows must be refused at intake "
            "(F_TOO_LARGE)"
        )


def business_no(client_id: str, type_code: str, business_date: str, seq: str, line_no: int) -> str:
    """业务编号 ``<CLIENT>-<TYPE>-<YYYYMMDD>-<SEQ>-<line_no:06d>``: deterministic across reruns."""
    check_line_numbers(line_no, line_no)
    return f"{business_no_prefix(client_id, type_code, business_date, seq)}{line_no:06d}"
