"""Reason codes of the client file contract (section 7). Codes are stable; messages are for people."""

from __future__ import annotations

# File-level codes in the order in which they speak (contract section 6).
FILE_PRECEDENCE: tuple[str, ...] = (
    "F_NAME",
    "F_CONTROL",
    "F_CHECKSUM",
    "F_DUPLICATE",
    "F_TOO_LARGE",
    "F_DATE",
    "F_ENCODING",
    "F_MALFORMED",
    "F_HEADER",
    "F_COUNT",
    "F_TOTAL",
    "F_EMPTY",
    "F_ERROR_RATE",
)

CATALOGUE: dict[str, tuple[str, str]] = {
    "F_NAME": ("file", "name does not follow section 2"),
    "F_CONTROL": ("file", "control file unreadable or malformed, or names another file"),
    "F_CHECKSUM": ("file", "sha256 does not match the data file"),
    "F_DUPLICATE": ("file", "the same stem, or the same bytes, was already received"),
    "F_ENCODING": ("file", "neither UTF-8 nor GB18030"),
    "F_HEADER": ("file", "missing required column or unknown column"),
    "F_MALFORMED": ("file", "not parseable as CSV (ragged rows, broken quoting, truncated gzip)"),
    "F_COUNT": ("file", "record count differs from the control file"),
    "F_TOTAL": ("file", "amount total differs from the control file"),
    "F_EMPTY": ("file", "no data rows"),
    "F_ERROR_RATE": ("file", "share of rejected rows above the client's threshold"),
    "F_DATE": ("file", "business date in the name is not open for processing"),
    "F_TOO_LARGE": ("file", "above the configured size limit"),
    "R_REQUIRED": ("row", "required value missing"),
    "R_FORMAT": ("row", "value does not have the required form"),
    "R_ID_CHECKSUM": (
        "row",
        "identity number invalid for its type: check character, embedded birth date or province prefix",
    ),
    "R_ACCOUNT": ("row", "account or card number invalid (length, digits, Luhn)"),
    "R_BANK_CODE": ("row", "CNAPS code invalid"),
    "R_AMOUNT": ("row", "amount not > 0, too many decimals, or too large"),
    "R_CURRENCY": ("row", "currency not accepted"),
    "R_DATE": ("row", "date invalid or out of the allowed window"),
    "R_ENUM": ("row", "value not in the allowed list"),
    "R_RANGE": ("row", "number out of its range"),
    "R_DUPLICATE_REF": ("row", "client_ref seen before (this file or an earlier one)"),
    "A_DECLINED": ("final", "an approver declined it"),
    "A_POLICY": ("final", "declined by credit policy rules"),
    "A_EXPIRED": ("final", "not approved by the approval cutoff"),
    "M_AML_HOLD": ("final", "stopped by anti-money-laundering screening"),
    "H_FUNDS": ("final", "client's prefunded settlement balance insufficient"),
}


class FileRejection(Exception):
    """A whole file is refused with one contract code and a message the client can act on."""

    def __init__(self, code: str, message: str) -> None:
        if code not in CATALOGUE or CATALOGUE[code][0] != "file":
            raise ValueError(f"not a file-level reason code: {code}")
        super().__init__(code, message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}|{self.message}"
