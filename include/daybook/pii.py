"""Masking of personal and account data (PII) wherever people read text other than the
client's own return files: task logs, alert texts, UI pages, reports and exports.

Masked form: keep the first 6 and the last 4 characters of identity numbers (RIC, USCC),
card and account numbers, and the first 3 and last 4 digits of mobile numbers; everything in
between becomes ``*``. Shorter numbers (8-11 digits) keep only their last 4.
"""

from __future__ import annotations

import logging
import re

# Longest first, so an 18-character identity number is not taken for an account number.
_PATTERNS: tuple[tuple[re.Pattern[str], int, int], ...] = (
    # RIC: 17 digits + check character; USCC: 18 characters of the GB 32100 alphabet.
    (re.compile(r"(?<![0-9A-Z])[0-9]{17}[0-9X](?![0-9A-Z])"), 6, 4),
    (re.compile(r"(?<![0-9A-Z])[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}(?![0-9A-Z])"), 6, 4),
    # Mainland mobile numbers.
    (re.compile(r"(?<![0-9])1[3-9][0-9]{9}(?![0-9])"), 3, 4),
    # Card (16-19 digits) and account numbers (12-32 digits).
    (re.compile(r"(?<![0-9])[0-9]{12,32}(?![0-9])"), 6, 4),
    # Dates and sequence parts of business numbers and file names (joined by - or _) and amounts
    # (digits followed by a decimal part) are not PII.
    (re.compile(r"(?<![0-9_.-])[0-9]{8,11}(?![0-9_-])(?!\.[0-9])"), 0, 4),
)


def mask_value(value: str, keep_start: int = 6, keep_end: int = 4) -> str:
    """``6222020200112233445`` -> ``622202*********3445``."""
    if len(value) <= keep_start + keep_end:
        return "*" * max(len(value) - keep_end, 0) + value[-keep_end:]
    return value[:keep_start] + "*" * (len(value) - keep_start - keep_end) + value[-keep_end:]


def mask_text(text: str) -> str:
    """Mask every identity, card, account and mobile number in free text."""
    for pattern, start, end in _PATTERNS:
        text = pattern.sub(lambda m, s=start, e=end: mask_value(m.group(0), s, e), text)
    return text


# Columns of the client file contract (section 4) that hold personal data.
NUMBER_COLUMNS = frozenset(
    {"payer_account", "payer_id_no", "payee_account", "applicant_id_no", "phone", "disbursement_account"}
)
NAME_COLUMNS = frozenset({"payer_name", "payee_name", "applicant_name"})


def mask_cell(column: str, value: object) -> object:
    """One cell of a client's row as people may see it outside the client's own return files.

    Identity, card, account and phone columns are masked whatever their form (a value that fails
    validation need not look like a number); names keep their first character; any other text
    goes through :func:`mask_text`. Non-text values are returned unchanged.
    """
    if not isinstance(value, str):
        return value
    if column in NUMBER_COLUMNS:
        if column == "phone":
            return mask_value(value, 3, 4)
        return mask_value(value, 6, 4) if len(value) >= 12 else mask_value(value, 0, 4)
    if column in NAME_COLUMNS:
        return value[:1] + "*" * (len(value) - 1)
    return mask_text(value)


class PiiMaskingFilter(logging.Filter):
    """A logging filter that masks PII in the final message of every record it sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is logged as it is
            return True
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def install_log_masking(prefix: str = "daybook") -> None:
    """Mask PII in every log record created by daybook's loggers (idempotent).

    A record factory rather than a logger filter: filters on a logger do not see records of
    its child loggers (``daybook.intake`` ...), while every record passes the factory.
    """
    current = logging.getLogRecordFactory()
    if getattr(current, "_daybook_masking", False):
        return
    masker = PiiMaskingFilter()

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = current(*args, **kwargs)
        name = record.name if isinstance(record.name, str) else ""  # makeLogRecord() leaves it None
        if name == prefix or name.startswith(prefix + "."):
            masker.filter(record)
        return record

    factory._daybook_masking = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
