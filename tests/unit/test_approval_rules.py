"""Approval rules as data: the annuity instalment, the LOAN credit policy and the PAY tiers.

Every expected value is worked out by hand in the comment next to it.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from daybook.approval import LoanPolicy, judge_loan, loan_facts, monthly_instalment, pay_facts

POLICY_DATA = {
    "approval": {
        "auto_max_amount": "50000.00",
        "two_reviewers_from": "1000000.00",
        "loan_auto_max_amount": "200000.00",
        "review_currencies": ["USD"],
        "loan_policy": {
            "annual_rate": "0",
            "max_dti": "0.50",
            "max_ltv": "0.70",
            "min_credit_score": 600,
            "auto_max_dti": "0.35",
            "auto_min_credit_score": 700,
            "two_reviewers_from": "1000000.00",
        },
    }
}


def _policy(rate: str = "0") -> LoanPolicy:
    data = {"approval": {**POLICY_DATA["approval"]}}
    data["approval"]["loan_policy"] = {**POLICY_DATA["approval"]["loan_policy"], "annual_rate": rate}
    return LoanPolicy.of(data)


def _app(amount, term, income, score, product="PERSONAL", collateral=""):
    return {
        "product_code": product,
        "loan_amount": amount,
        "term_months": str(term),
        "annual_income": income,
        "collateral_value": collateral,
        "credit_score": str(score),
    }


@pytest.mark.parametrize(
    ("principal", "rate", "term", "expected"),
    [
        # 1% a month for 12 months: 100000 * 0.01 * 1.01^12 / (1.01^12 - 1) = 8884.879 -> 8884.88
        ("100000", "0.12", 12, "8884.88"),
        # the textbook 30-year mortgage: 200000 at 6% a year, 360 months -> 1199.10
        ("200000", "0.06", 360, "1199.10"),
        # no interest: the principal in equal parts, 120000 / 12
        ("120000", "0", 12, "10000.00"),
        # 1000 / 3 = 333.333... rounds to 333.33
        ("1000", "0", 3, "333.33"),
    ],
)
def test_monthly_instalment_is_the_annuity_payment_to_the_cent(principal, rate, term, expected):
    assert monthly_instalment(Decimal(principal), Decimal(rate), term) == Decimal(expected)


@pytest.mark.parametrize(
    ("application", "outcome"),
    [
        # 120000 / 60 = 2000 a month; income 120000 / 12 = 10000; DTI 0.20; score 750; amount <= 200000
        (_app("120000.00", 60, "120000.00", 750), "AUTO"),
        # 120000 / 12 = 10000; income 240000 / 12 = 20000; DTI exactly 0.50: allowed, but above 0.35
        (_app("120000.00", 12, "240000.00", 720), "L1"),
        # DTI 0.20 but score 650: passes the 600 floor, misses the 700 needed for automatic approval
        (_app("120000.00", 60, "120000.00", 650), "L1"),
        # score 600 is the floor itself: not declined
        (_app("120000.00", 60, "120000.00", 600), "L1"),
        # 250000 > 200000 automatic limit; 250000 / 250 = 1000 a month; DTI 0.10
        (_app("250000.00", 250, "120000.00", 800), "L1"),
        # MORTGAGE 700000 against 1000000 collateral: LTV exactly 0.70 allowed; 700000/350 = 2000, DTI 0.10
        (_app("700000.00", 350, "240000.00", 800, "MORTGAGE", "1000000.00"), "L1"),
        # 1000000 / 250 = 4000 a month; income 20000 a month: DTI 0.20; LTV 0.50; 1000000 >= two-reviewer line
        (_app("1000000.00", 250, "240000.00", 800, "MORTGAGE", "2000000.00"), "L2"),
        # one cent under the two-reviewer line
        (_app("999999.99", 250, "240000.00", 800, "MORTGAGE", "2000000.00"), "L1"),
    ],
)
def test_loan_policy_routes_passing_applications(application, outcome):
    policy = _policy()
    assert judge_loan(loan_facts(application, policy), policy)[0] == outcome


@pytest.mark.parametrize(
    ("application", "reason"),
    [
        # score 599 below the 600 floor
        (_app("120000.00", 60, "120000.00", 599), "credit score 599 below 600"),
        # 10000 a month against 239988 / 12 = 19999: DTI 0.50002 > 0.50
        (_app("120000.00", 12, "239988.00", 720), "DTI 0.5000 above 0.50"),
        # no income at all
        (_app("120000.00", 12, "0.00", 720), "no income to service the instalment"),
        # MORTGAGE 700000 against 999999.99: LTV 0.7000000070 > 0.70
        (_app("700000.00", 350, "240000.00", 800, "MORTGAGE", "999999.99"), "LTV 0.7000 above 0.70"),
    ],
)
def test_loan_policy_declines_with_the_reason(application, reason):
    policy = _policy()
    outcome, reasons = judge_loan(loan_facts(application, policy), policy)
    assert outcome == "DECLINE"
    assert reasons == [reason]


def test_dti_uses_the_annuity_instalment_at_the_profile_rate():
    # 100000 at 12% over 12 months: 8884.88 a month. Income 213237.12 a year = 17769.76 a month,
    # DTI 8884.88 / 17769.76 = 0.5 exactly: allowed. 213237.00 a year = 17769.75: DTI just above.
    policy = _policy("0.12")
    at_limit = loan_facts(_app("100000.00", 12, "213237.12", 720), policy)
    assert at_limit["monthly_instalment"] == Decimal("8884.88")
    assert at_limit["dti"] == Decimal("0.5")
    assert judge_loan(at_limit, policy)[0] == "L1"
    over = loan_facts(_app("100000.00", 12, "213237.00", 720), policy)
    assert judge_loan(over, policy)[0] == "DECLINE"


@pytest.mark.parametrize(
    ("cents", "currency", "tier", "flagged"),
    [
        (5_000_000, "CNY", "AUTO", False),  # 50000.00 = auto_max_amount: automatic
        (5_000_001, "CNY", "L1", False),  # one cent above
        (99_999_999, "CNY", "L1", False),  # 999999.99: under the two-reviewer line
        (100_000_000, "CNY", "L2", False),  # 1000000.00: two reviewers
        (100, "USD", "L1", True),  # 1.00 USD: small, but USD always needs a reviewer
        (100_000_000, "USD", "L2", True),  # large USD: still two reviewers
    ],
)
def test_pay_tiers_by_amount_and_risk_flags(cents, currency, tier, flagged):
    facts = pay_facts(cents, currency, POLICY_DATA)
    assert facts["tier"] == tier
    assert bool(facts["risk_flags"]) is flagged
