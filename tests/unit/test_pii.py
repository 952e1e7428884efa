"""PII never reaches people unmasked: identity, card, account and mobile numbers in free text."""

from __future__ import annotations

import logging

import pytest

from daybook.pii import PiiMaskingFilter, mask_text, mask_value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("payer 110101199003071235 held", "payer 110101********1235 held"),
        ("id 11010119900307123X", "id 110101********123X"),
        ("USCC 91110000600037341L ok", "USCC 911100********341L ok"),
        ("card 6222020200112233445.", "card 622202*********3445."),
        ("acct 0012345678901234", "acct 001234******1234"),
        ("phone 13812345678", "phone 138****5678"),
        ("short acct 12345678", "short acct ****5678"),
        ("BANKA-PAY-20261127-001-000003 stays", "BANKA-PAY-20261127-001-000003 stays"),
        ("amount 1234567.89 CNY", "amount 1234567.89 CNY"),
        ("prefund 30000000.00 exhausted", "prefund 30000000.00 exhausted"),
        ("acct 12345678.", "acct ****5678."),
        ("date 2026-11-27", "date 2026-11-27"),
    ],
)
def test_mask_text(text, expected):
    assert mask_text(text) == expected


def test_mask_value_keeps_first_six_and_last_four():
    assert mask_value("6222020200112233445") == "622202*********3445"


def test_logging_filter_masks_the_formatted_message(caplog):
    logger = logging.getLogger("daybook.test_pii")
    logger.addFilter(PiiMaskingFilter())
    with caplog.at_level(logging.INFO, logger="daybook.test_pii"):
        logger.info("payee card %s for %s", "6222020200112233445", "13812345678")
    assert caplog.records[-1].getMessage() == "payee card 622202*********3445 for 138****5678"
    assert "6222020200112233445" not in caplog.text


def test_installed_masking_covers_every_daybook_module_logger(caplog):
    from daybook.pii import install_log_masking

    install_log_masking()
    install_log_masking()  # idempotent
    with caplog.at_level(logging.INFO):
        logging.getLogger("daybook.intake").info("payer %s", "110101199003071235")
        logging.getLogger("otherlib").info("untouched %s", "110101199003071235")
    messages = [r.getMessage() for r in caplog.records]
    assert "payer 110101********1235" in messages
    assert "untouched 110101199003071235" in messages


def test_records_made_without_a_name_still_work():
    """logging.makeLogRecord (used by structlog's stdlib bridge) creates records with name None."""
    from daybook.pii import install_log_masking

    install_log_masking()
    record = logging.makeLogRecord({"msg": "card %s", "args": ("6222020200112233445",)})
    assert record.getMessage() == "card 6222020200112233445"
