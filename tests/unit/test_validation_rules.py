"""Every row rule of contract sections 4 and 7, through the real GX suite (``validation.run_suite``).

One frame per business type holds one row per defect kind; each case states, by hand from the
contract, exactly the set of codes its line must get (an empty set: the row is accepted).
Identity numbers and card numbers are built with python-stdnum (the oracle), never with daybook.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from stdnum import luhn
from stdnum.cn import ric, uscc

from daybook import profiles, validation
from daybook.validation_suites import rules_for

BD = dt.date(2026, 11, 27)


def _profile(client_id: str = "TESTC", **overrides) -> profiles.Profile:
    data = profiles._merge(profiles.DEFAULTS, {"client_id": client_id, **overrides})
    return profiles.Profile(client_id=client_id, version="test", content="", data=data)


def _ric(region: str, birth: str, seq: str = "123") -> str:
    body = region + birth + seq
    return body + ric.calc_check_digit(body + "0")


def _uscc(first17: str) -> str:
    return first17 + uscc.calc_check_digit(first17 + "0")


def _card(prefix: str, length: int) -> str:
    body = prefix + "3" * (length - len(prefix) - 1)
    return body + luhn.calc_check_digit(body)


def _bad_luhn(card: str) -> str:
    return card[:-1] + str((int(card[-1]) + 1) % 10)


RIC_OK = _ric("110105", "19491231")
RIC_BAD_CHECK = RIC_OK[:-1] + ("0" if RIC_OK[-1] != "0" else "1")
USCC_OK = _uscc("91310000MA1FL0000")
USCC_BAD_CHECK = USCC_OK[:-1] + ("0" if USCC_OK[-1] != "0" else "1")
CARD_OK = _card("622202", 19)
RELAXED_PREFIX = "621799"
RELAXED_BAD_LUHN = _bad_luhn(_card(RELAXED_PREFIX, 19))

# --------------------------------------------------------------------------- PAY

PAY_BASE = {
    "client_ref": "P-0001",
    "value_date": "2026-11-27",
    "payer_account": "6222020000000001",
    "payer_name": "王伟",
    "payer_id_type": "RIC",
    "payer_id_no": RIC_OK,
    "payee_account_type": "CARD",
    "payee_account": CARD_OK,
    "payee_name": "李娜",
    "payee_bank_code": "102100099996",
    "amount": "100.00",
    "currency": "CNY",
    "purpose": "",
}

# (case id, changed cells, expected codes)
PAY_CASES: list[tuple[str, dict[str, str], set[str]]] = [
    ("valid", {}, set()),
    ("valid_text_NULL_is_text", {"payer_name": "NULL", "purpose": "None"}, set()),
    ("ref_empty", {"client_ref": ""}, {"R_REQUIRED"}),
    ("ref_space", {"client_ref": "AB CD"}, {"R_FORMAT"}),
    ("ref_33_chars", {"client_ref": "A" * 33}, {"R_FORMAT"}),
    ("ref_32_chars", {"client_ref": "a_-" + "9" * 29}, set()),
    ("ref_non_ascii", {"client_ref": "单号1"}, {"R_FORMAT"}),
    ("value_date_empty", {"value_date": ""}, {"R_REQUIRED"}),
    ("value_date_before_business_date", {"value_date": "2026-11-26"}, {"R_DATE"}),
    ("value_date_plus_30", {"value_date": "2026-12-27"}, set()),
    ("value_date_plus_31", {"value_date": "2026-12-28"}, {"R_DATE"}),
    ("value_date_not_real", {"value_date": "2026-11-31"}, {"R_DATE"}),
    ("value_date_compact", {"value_date": "20261127"}, {"R_DATE"}),
    ("payer_account_7_digits", {"payer_account": "1234567"}, {"R_ACCOUNT"}),
    ("payer_account_33_digits", {"payer_account": "1" * 33}, {"R_ACCOUNT"}),
    ("payer_account_letter", {"payer_account": "12345678A"}, {"R_ACCOUNT"}),
    ("payer_account_leading_zeros", {"payer_account": "00000001"}, set()),
    ("payer_name_empty", {"payer_name": ""}, {"R_REQUIRED"}),
    ("payer_name_100", {"payer_name": "王" * 100}, set()),
    ("payer_name_101", {"payer_name": "王" * 101}, {"R_FORMAT"}),
    ("payer_id_type_empty", {"payer_id_type": ""}, {"R_REQUIRED"}),
    ("payer_id_type_unknown", {"payer_id_type": "PASSPORT"}, {"R_ENUM"}),
    ("payer_id_type_lowercase", {"payer_id_type": "ric"}, {"R_ENUM"}),
    ("payer_id_no_empty", {"payer_id_no": ""}, {"R_REQUIRED"}),
    ("ric_bad_check", {"payer_id_no": RIC_BAD_CHECK}, {"R_ID_CHECKSUM"}),
    ("ric_lowercase_x", {"payer_id_no": "11010519491231002x"}, {"R_FORMAT"}),
    ("ric_17_chars", {"payer_id_no": RIC_OK[:17]}, {"R_FORMAT"}),
    ("ric_19_chars", {"payer_id_no": RIC_OK + "0"}, {"R_FORMAT"}),
    ("ric_x_not_last", {"payer_id_no": "X" + RIC_OK[1:]}, {"R_FORMAT"}),
    ("ric_full_width_digit", {"payer_id_no": "１" + RIC_OK[1:]}, {"R_FORMAT"}),
    ("ric_with_space", {"payer_id_no": RIC_OK[:6] + " " + RIC_OK[7:]}, {"R_FORMAT"}),
    ("ric_birth_after_business_date", {"payer_id_no": _ric("110105", "20261128")}, {"R_ID_CHECKSUM"}),
    ("ric_birth_on_business_date", {"payer_id_no": _ric("110105", "20261127")}, set()),
    ("ric_birth_1899", {"payer_id_no": _ric("110105", "18991231")}, {"R_ID_CHECKSUM"}),
    ("ric_birth_not_real", {"payer_id_no": _ric("110105", "19490230")}, {"R_ID_CHECKSUM"}),
    ("ric_unknown_province", {"payer_id_no": _ric("990105", "19491231")}, {"R_ID_CHECKSUM"}),
    # a region below province level that stdnum's table does not know is still accepted
    ("ric_unlisted_region", {"payer_id_no": _ric("110199", "19800101")}, set()),
    ("uscc_valid", {"payer_id_type": "USCC", "payer_id_no": USCC_OK}, set()),
    ("uscc_bad_check", {"payer_id_type": "USCC", "payer_id_no": USCC_BAD_CHECK}, {"R_ID_CHECKSUM"}),
    ("uscc_given_ric", {"payer_id_type": "USCC", "payer_id_no": RIC_OK}, {"R_ID_CHECKSUM"}),
    (
        "uscc_letter_outside_alphabet",
        {"payer_id_type": "USCC", "payer_id_no": "I" + USCC_OK[1:]},
        {"R_FORMAT"},
    ),
    ("ric_given_uscc", {"payer_id_no": USCC_OK}, {"R_FORMAT"}),
    ("uscc_lowercase", {"payer_id_type": "USCC", "payer_id_no": USCC_OK.lower()}, {"R_FORMAT"}),
    ("uscc_17_chars", {"payer_id_type": "USCC", "payer_id_no": USCC_OK[:17]}, {"R_FORMAT"}),
    # the ID is judged only against a valid type: an unknown type is R_ENUM alone
    ("id_not_judged_without_type", {"payer_id_type": "PASSPORT", "payer_id_no": "E12345678"}, {"R_ENUM"}),
    ("payee_account_type_empty", {"payee_account_type": ""}, {"R_REQUIRED"}),
    ("payee_account_type_unknown", {"payee_account_type": "IBAN", "payee_account": "X"}, {"R_ENUM"}),
    ("payee_account_empty", {"payee_account": ""}, {"R_REQUIRED"}),
    ("card_bad_luhn", {"payee_account": _bad_luhn(CARD_OK)}, {"R_ACCOUNT"}),
    ("card_15_digits", {"payee_account": _card("4", 15)}, {"R_ACCOUNT"}),
    ("card_16_digits", {"payee_account": _card("4", 16)}, set()),
    ("card_20_digits", {"payee_account": _card("4", 20)}, {"R_ACCOUNT"}),
    ("card_relaxation_not_in_profile", {"payee_account": RELAXED_BAD_LUHN}, {"R_ACCOUNT"}),
    ("account_8_digits", {"payee_account_type": "ACCOUNT", "payee_account": "00000000"}, set()),
    ("account_32_digits_no_luhn", {"payee_account_type": "ACCOUNT", "payee_account": "1" * 32}, set()),
    ("account_33_digits", {"payee_account_type": "ACCOUNT", "payee_account": "1" * 33}, {"R_ACCOUNT"}),
    (
        "account_full_width",
        {"payee_account_type": "ACCOUNT", "payee_account": "１２３４５６７８"},
        {"R_ACCOUNT"},
    ),
    ("payee_name_101", {"payee_name": "x" * 101}, {"R_FORMAT"}),
    ("bank_code_11", {"payee_bank_code": "10210009999"}, {"R_BANK_CODE"}),
    ("bank_code_letter", {"payee_bank_code": "10210009999A"}, {"R_BANK_CODE"}),
    ("bank_code_empty", {"payee_bank_code": ""}, {"R_REQUIRED"}),
    ("amount_empty", {"amount": ""}, {"R_REQUIRED"}),
    ("amount_zero", {"amount": "0.00"}, {"R_AMOUNT"}),
    ("amount_negative", {"amount": "-1.00"}, {"R_AMOUNT"}),
    ("amount_3_decimals", {"amount": "1.005"}, {"R_AMOUNT"}),
    ("amount_max", {"amount": "999999999999.99"}, set()),
    ("amount_above_max", {"amount": "1000000000000.00"}, {"R_AMOUNT"}),
    ("amount_integer", {"amount": "5"}, set()),
    ("amount_text", {"amount": "abc"}, {"R_AMOUNT"}),
    ("amount_thousands_sep", {"amount": "1,000.00"}, {"R_AMOUNT"}),
    ("amount_exponent", {"amount": "1e3"}, {"R_AMOUNT"}),
    ("amount_space", {"amount": " 100.00"}, {"R_AMOUNT"}),
    ("amount_full_width", {"amount": "１００"}, {"R_AMOUNT"}),
    ("currency_empty", {"currency": ""}, {"R_REQUIRED"}),
    ("currency_not_accepted", {"currency": "USD"}, {"R_CURRENCY"}),
    ("currency_lowercase", {"currency": "cny"}, {"R_CURRENCY"}),
    ("purpose_140", {"purpose": "用" * 140}, set()),
    ("purpose_141", {"purpose": "用" * 141}, {"R_FORMAT"}),
    (
        "several_defects",
        {"amount": "0", "currency": "USD", "payee_bank_code": "1", "value_date": "2027-01-01"},
        {"R_AMOUNT", "R_CURRENCY", "R_BANK_CODE", "R_DATE"},
    ),
    (
        "several_empties",
        {"payer_name": "", "amount": "", "payee_account_type": "", "payee_account": ""},
        {"R_REQUIRED"},
    ),
]

# A client whose profile accepts USD and relaxes Luhn for one card range.
RELAXED = _profile(
    "RELAXC", accepted_currencies=["CNY", "USD"], relaxations={"luhn_off_card_prefixes": [RELAXED_PREFIX]}
)
PAY_RELAXED_CASES: list[tuple[str, dict[str, str], set[str]]] = [
    ("usd_accepted", {"currency": "USD"}, set()),
    ("eur_not_accepted", {"currency": "EUR"}, {"R_CURRENCY"}),
    ("relaxed_prefix_bad_luhn", {"payee_account": RELAXED_BAD_LUHN}, set()),
    ("relaxed_prefix_still_16_to_19", {"payee_account": RELAXED_PREFIX + "0" * 14}, {"R_ACCOUNT"}),
    ("relaxed_prefix_still_digits", {"payee_account": RELAXED_PREFIX + "0" * 9 + "A"}, {"R_ACCOUNT"}),
    ("other_prefix_bad_luhn", {"payee_account": _bad_luhn(CARD_OK)}, {"R_ACCOUNT"}),
    (
        "relaxation_is_for_cards_only",
        {"payee_account_type": "ACCOUNT", "payee_account": "6217" + "9" * 29},
        {"R_ACCOUNT"},
    ),
]

# --------------------------------------------------------------------------- LOAN

LOAN_BASE = {
    "client_ref": "L-0001",
    "applicant_name": "张伟",
    "applicant_id_type": "RIC",
    "applicant_id_no": RIC_OK,
    "phone": "13800138000",
    "product_code": "PERSONAL",
    "loan_amount": "50000.00",
    "term_months": "36",
    "annual_income": "120000",
    "collateral_value": "",
    "credit_score": "700",
    "disbursement_account_type": "ACCOUNT",
    "disbursement_account": "1234567890123456",
}

LOAN_CASES: list[tuple[str, dict[str, str], set[str]]] = [
    ("valid", {}, set()),
    ("ref_empty", {"client_ref": ""}, {"R_REQUIRED"}),
    ("ref_bad_char", {"client_ref": "L.1"}, {"R_FORMAT"}),
    ("applicant_name_empty", {"applicant_name": ""}, {"R_REQUIRED"}),
    ("applicant_name_101", {"applicant_name": "a" * 101}, {"R_FORMAT"}),
    ("id_type_unknown", {"applicant_id_type": "HKID"}, {"R_ENUM"}),
    ("ric_bad_check", {"applicant_id_no": RIC_BAD_CHECK}, {"R_ID_CHECKSUM"}),
    ("ric_16_chars", {"applicant_id_no": RIC_OK[:16]}, {"R_FORMAT"}),
    (
        "uscc_letter_o",
        {"applicant_id_type": "USCC", "applicant_id_no": USCC_OK[:-2] + "O" + USCC_OK[-1], "phone": ""},
        {"R_FORMAT"},
    ),
    ("uscc_valid_no_phone", {"applicant_id_type": "USCC", "applicant_id_no": USCC_OK, "phone": ""}, set()),
    (
        "uscc_bad",
        {"applicant_id_type": "USCC", "applicant_id_no": USCC_BAD_CHECK, "phone": ""},
        {"R_ID_CHECKSUM"},
    ),
    ("phone_required_for_ric", {"phone": ""}, {"R_REQUIRED"}),
    ("phone_12_prefix", {"phone": "12800138000"}, {"R_FORMAT"}),
    ("phone_10_digits", {"phone": "1380013800"}, {"R_FORMAT"}),
    ("phone_with_plus86", {"phone": "+8613800138000"}, {"R_FORMAT"}),
    ("phone_19_prefix", {"phone": "19912345678"}, set()),
    (
        "phone_optional_for_uscc_but_checked",
        {"applicant_id_type": "USCC", "applicant_id_no": USCC_OK, "phone": "12345"},
        {"R_FORMAT"},
    ),
    # no valid type, so no phone requirement can be derived: R_ENUM alone
    ("phone_not_required_without_type", {"applicant_id_type": "X", "phone": ""}, {"R_ENUM"}),
    ("product_unknown", {"product_code": "AUTO"}, {"R_ENUM"}),
    ("product_lowercase", {"product_code": "personal"}, {"R_ENUM"}),
    ("product_empty", {"product_code": ""}, {"R_REQUIRED"}),
    ("mortgage_without_collateral", {"product_code": "MORTGAGE"}, {"R_REQUIRED"}),
    ("mortgage_with_collateral", {"product_code": "MORTGAGE", "collateral_value": "800000.00"}, set()),
    ("mortgage_collateral_zero", {"product_code": "MORTGAGE", "collateral_value": "0"}, {"R_RANGE"}),
    ("mortgage_collateral_text", {"product_code": "MORTGAGE", "collateral_value": "n/a"}, {"R_FORMAT"}),
    ("collateral_optional_but_checked", {"collateral_value": "-5"}, {"R_RANGE"}),
    ("collateral_optional_bad_form", {"collateral_value": "1e5"}, {"R_FORMAT"}),
    ("sme_without_collateral", {"product_code": "SME"}, set()),
    ("loan_amount_empty", {"loan_amount": ""}, {"R_REQUIRED"}),
    ("loan_amount_zero", {"loan_amount": "0"}, {"R_AMOUNT"}),
    ("loan_amount_3_decimals", {"loan_amount": "1.234"}, {"R_AMOUNT"}),
    ("loan_amount_text", {"loan_amount": "ten"}, {"R_AMOUNT"}),
    ("loan_amount_above_pay_ceiling", {"loan_amount": "9999999999999.99"}, set()),
    # no ceiling in the contract; "too large" where cents stop fitting 18 digits
    ("loan_amount_largest", {"loan_amount": "9999999999999999.99"}, set()),
    ("loan_amount_largest_leading_zeros", {"loan_amount": "009999999999999999.99"}, set()),
    ("loan_amount_too_large", {"loan_amount": "10000000000000000.00"}, {"R_AMOUNT"}),
    ("loan_amount_too_large_integer", {"loan_amount": "10000000000000000"}, {"R_AMOUNT"}),
    ("loan_amount_far_too_large", {"loan_amount": "99999999999999999999999.99"}, {"R_AMOUNT"}),
    ("term_empty", {"term_months": ""}, {"R_REQUIRED"}),
    ("term_decimal", {"term_months": "12.5"}, {"R_FORMAT"}),
    ("term_text", {"term_months": "twelve"}, {"R_FORMAT"}),
    ("term_zero", {"term_months": "0"}, {"R_RANGE"}),
    ("term_negative", {"term_months": "-3"}, {"R_RANGE"}),
    ("term_1", {"term_months": "1"}, set()),
    ("term_360", {"term_months": "360"}, set()),
    ("term_361", {"term_months": "361"}, {"R_RANGE"}),
    ("income_zero", {"annual_income": "0"}, set()),
    ("income_negative", {"annual_income": "-0.01"}, {"R_RANGE"}),
    ("income_exponent", {"annual_income": "1.2e5"}, {"R_FORMAT"}),
    ("income_empty", {"annual_income": ""}, {"R_REQUIRED"}),
    ("score_299", {"credit_score": "299"}, {"R_RANGE"}),
    ("score_300", {"credit_score": "300"}, set()),
    ("score_900", {"credit_score": "900"}, set()),
    ("score_901", {"credit_score": "901"}, {"R_RANGE"}),
    ("score_decimal", {"credit_score": "700.0"}, {"R_FORMAT"}),
    ("disb_type_unknown", {"disbursement_account_type": "WALLET"}, {"R_ENUM"}),
    (
        "disb_card_bad_luhn",
        {"disbursement_account_type": "CARD", "disbursement_account": _bad_luhn(CARD_OK)},
        {"R_ACCOUNT"},
    ),
    ("disb_card_ok", {"disbursement_account_type": "CARD", "disbursement_account": CARD_OK}, set()),
    ("disb_account_short", {"disbursement_account": "1234"}, {"R_ACCOUNT"}),
    (
        "several_defects",
        {"term_months": "0", "credit_score": "x", "loan_amount": "-1", "phone": "", "product_code": "CAR"},
        {"R_RANGE", "R_FORMAT", "R_AMOUNT", "R_REQUIRED", "R_ENUM"},
    ),
]

# A client that offers no SME loans.
NO_SME = _profile("NOSME", products=["PERSONAL", "MORTGAGE"])
LOAN_NO_SME_CASES: list[tuple[str, dict[str, str], set[str]]] = [
    ("sme_not_offered", {"product_code": "SME"}, {"R_ENUM"}),
    ("personal_offered", {}, set()),
]


def _frame(base: dict[str, str], cases: list[tuple[str, dict[str, str], set[str]]]) -> pd.DataFrame:
    frame = pd.DataFrame([{**base, **changes} for _, changes, _ in cases], dtype="str")
    frame.insert(0, "line_no", pd.RangeIndex(1, len(cases) + 1).to_numpy(dtype="int64"))
    return frame


def _codes_per_case(type_code, base, cases, profile) -> dict[str, set[str]]:
    frame = _frame(base, cases)
    failing = validation.run_suite(frame, rules_for(type_code, profile, BD), f"test_{type_code}")
    return {case: failing.get(i, set()) for i, (case, _, _) in enumerate(cases, start=1)}


@pytest.fixture(scope="module")
def pay_codes() -> dict[str, set[str]]:
    return _codes_per_case("PAY", PAY_BASE, PAY_CASES, _profile())


@pytest.fixture(scope="module")
def pay_relaxed_codes() -> dict[str, set[str]]:
    return _codes_per_case("PAY", PAY_BASE, PAY_RELAXED_CASES, RELAXED)


@pytest.fixture(scope="module")
def loan_codes() -> dict[str, set[str]]:
    return _codes_per_case("LOAN", LOAN_BASE, LOAN_CASES, _profile())


@pytest.fixture(scope="module")
def loan_no_sme_codes() -> dict[str, set[str]]:
    return _codes_per_case("LOAN", LOAN_BASE, LOAN_NO_SME_CASES, NO_SME)


@pytest.mark.parametrize(
    "case, expected", [(c, e) for c, _, e in PAY_CASES], ids=[c for c, _, _ in PAY_CASES]
)
def test_pay_row_gets_exactly_its_codes(pay_codes, case, expected):
    assert pay_codes[case] == expected


@pytest.mark.parametrize(
    "case, expected", [(c, e) for c, _, e in PAY_RELAXED_CASES], ids=[c for c, _, _ in PAY_RELAXED_CASES]
)
def test_pay_profile_currencies_and_luhn_relaxation(pay_relaxed_codes, case, expected):
    assert pay_relaxed_codes[case] == expected


@pytest.mark.parametrize(
    "case, expected", [(c, e) for c, _, e in LOAN_CASES], ids=[c for c, _, _ in LOAN_CASES]
)
def test_loan_row_gets_exactly_its_codes(loan_codes, case, expected):
    assert loan_codes[case] == expected


@pytest.mark.parametrize(
    "case, expected", [(c, e) for c, _, e in LOAN_NO_SME_CASES], ids=[c for c, _, _ in LOAN_NO_SME_CASES]
)
def test_loan_products_per_client(loan_no_sme_codes, case, expected):
    assert loan_no_sme_codes[case] == expected


def test_ack_code_order_is_the_contract_table_order():
    # Section 7 lists the row codes in this order; the ack joins a row's codes in it.
    assert validation.join_codes({"R_DUPLICATE_REF", "R_AMOUNT", "R_REQUIRED", "R_DATE"}) == (
        "R_REQUIRED;R_AMOUNT;R_DATE;R_DUPLICATE_REF"
    )
