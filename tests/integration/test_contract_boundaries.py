"""The client file contract at its boundaries and with several faults at once, end to end.

A client institution's test team drops files into a client's inbox, runs intake and validation the
way the pipeline does, and compares every byte of the outbox answers with the contract
(file-contract.md): ``.rej`` is one line ``<code>|<message>`` (no header), ``.ack.csv`` has the header
``line_no,client_ref,business_no,status,reason_codes`` and ``business_no`` is
``<CLIENT_ID>-<TYPE>-<YYYYMMDD>-<SEQ>-<line_no, 6 digits>``. Expected codes, totals and ack bytes are
worked out here from the contract text (identity numbers and card numbers with python-stdnum as the
oracle), never read back from the code under test.

Where the contract leaves a point open, the test pins the documented decision and says so.
"""

from __future__ import annotations

import csv
import io
import re
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
import sqlalchemy
from stdnum import luhn
from stdnum.cn import ric, uscc

from daybook import db, intake, validation
from s3_fixtures import CLIENT, DAY, DAY8, PAY_HEADER, csv_text, ctl, drop, gz, sha

pytest_plugins = ["s3_fixtures"]
pytestmark = pytest.mark.integration

ACK_HEADER = "line_no,client_ref,business_no,status,reason_codes\n"
NAME = f"{CLIENT}_PAY_{DAY8}_001.csv"
STEM = f"{CLIENT}_PAY_{DAY8}_001"
LOAN_COLUMNS = [
    "client_ref",
    "applicant_name",
    "applicant_id_type",
    "applicant_id_no",
    "phone",
    "product_code",
    "loan_amount",
    "term_months",
    "annual_income",
    "collateral_value",
    "credit_score",
    "disbursement_account_type",
    "disbursement_account",
]
PAY_COLUMNS = [*PAY_HEADER, "purpose"]


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(params=["local"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return request.param


BOTH_DBS = pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)
BOTH_STORES = pytest.mark.parametrize("store_kind", ["local", "s3"], indirect=True)


@pytest.fixture(autouse=True)
def client_profiles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """BANKA tolerates 99% rejected rows (so row codes show in one ack); TRUSTB keeps every default
    (20%); ABC and ABCDEFGHIJKLMNOP are the shortest and longest client ids (3 and 16 characters)."""
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / f"{CLIENT}.yaml").write_text(f'client_id: {CLIENT}\nerror_rate_threshold: "0.99"\n')
    for client in ("TRUSTB", "ABC", "ABCDEFGHIJKLMNOP"):
        (folder / f"{client}.yaml").write_text(f"client_id: {client}\n")
    monkeypatch.setenv("DAYBOOK_PROFILES", str(folder))
    return folder


def run_intake(day: str = DAY) -> list[dict]:
    """One intake pass, as the DAG wires it: list the drops, answer each."""
    return [intake.process_drop(d, day) for d in intake.list_drops(day)]


def run_day(client: str = CLIENT) -> list[dict]:
    """Intake, then validation of the client's files, as the two DAGs run them."""
    out = run_intake()
    return out + validation.validate_client(client, DAY)


def rej(z, stem: str, folder: str = CLIENT) -> tuple[str, str]:
    """The ``.rej`` answer: exactly one UTF-8 line ``<code>|<message>``, no header."""
    data = z.landing.get(f"{folder}/outbox/{stem}.rej")
    text = data.decode("utf-8")
    assert text.endswith("\n") and text.count("\n") == 1, text
    code, sep, message = text[:-1].partition("|")
    assert sep and message.strip(), text
    return code, message


def outbox(z, folder: str = CLIENT) -> list[str]:
    return [k.split("/", 2)[2] for k in z.landing.list(f"{folder}/outbox")]


def files_table() -> list[dict]:
    with db.begin() as conn:
        rows = conn.execute(sqlalchemy.text("SELECT * FROM files ORDER BY file_id")).mappings().all()
    return [dict(r) for r in rows]


def assert_refused(z, name: str, code: str, *, folder: str = CLIENT) -> str:
    """The file is answered ``<stem>.rej`` with ``code`` alone in the outbox, and moved to rejected/."""
    stem = name.removesuffix(".gz").removesuffix(".csv")
    got, message = rej(z, stem, folder)
    assert got == code, message
    assert outbox(z, folder) == [f"{stem}.rej"]
    assert not z.landing.exists(f"{folder}/inbox/{name}")
    assert z.landing.exists(f"{folder}/rejected/{name}")
    return message


# ---------------------------------------------------------------------------------------------------
# Rows built by hand from section 4
# ---------------------------------------------------------------------------------------------------


def make_ric(region_birth: str, seq: str = "123") -> str:
    """A resident identity number: 6-digit region + 8-digit birth date + 3-digit sequence + check."""
    body = region_birth + seq
    return body + ric.calc_check_digit(body + "0")


def make_uscc(body17: str) -> str:
    return body17 + uscc.calc_check_digit(body17)


def make_card(prefix: str, length: int) -> str:
    body = prefix + "5" * (length - len(prefix) - 1)
    return body + luhn.calc_check_digit(body)


def bad_luhn(card: str) -> str:
    return card[:-1] + str((int(card[-1]) + 1) % 10)


RIC = make_ric("11010519491231")
RIC_X = next(r for r in (make_ric("11010519491231", f"{i:03d}") for i in range(1000)) if r.endswith("X"))
USCC = make_uscc("91110000600037341")
assert uscc.is_valid(USCC) and ric.is_valid(RIC) and ric.is_valid(RIC_X)


def pay(ref: str, **cells: str) -> list[str]:
    row = {
        "client_ref": ref,
        "value_date": DAY,
        "payer_account": "6222020000000001",
        "payer_name": "王伟",
        "payer_id_type": "RIC",
        "payer_id_no": RIC,
        "payee_account_type": "ACCOUNT",
        "payee_account": "0012345678",
        "payee_name": "李娜",
        "payee_bank_code": "102100099996",
        "amount": "1.00",
        "currency": "CNY",
        "purpose": "",
    }
    row.update(cells)
    return [row[c] for c in PAY_COLUMNS]


def loan(ref: str, **cells: str) -> list[str]:
    row = {
        "client_ref": ref,
        "applicant_name": "王伟",
        "applicant_id_type": "RIC",
        "applicant_id_no": RIC,
        "phone": "13800138000",
        "product_code": "PERSONAL",
        "loan_amount": "1000.00",
        "term_months": "12",
        "annual_income": "100000",
        "collateral_value": "",
        "credit_score": "700",
        "disbursement_account_type": "ACCOUNT",
        "disbursement_account": "0012345678",
    }
    row.update(cells)
    return [row[c] for c in LOAN_COLUMNS]


def expected_ack(client: str, type_code: str, seq: str, refs: list[str], codes: list[str]) -> bytes:
    """``<stem>.ack.csv`` as section 5 describes it, written with Python's csv module."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(ACK_HEADER.strip().split(","))
    for line_no, (ref, code) in enumerate(zip(refs, codes, strict=True), start=1):
        business_no = f"{client}-{type_code}-{DAY8}-{seq}-{line_no:06d}"
        w.writerow([line_no, ref, business_no, "REJECTED" if code else "ACCEPTED", code])
    return buf.getvalue().encode("utf-8")


def drop_rows(
    z, type_code: str, columns: list[str], rows: list[list[str]], *, seq: str = "001", folder=CLIENT
):
    """A data file and a control file whose total is worked out by hand from section 3."""
    name = f"{folder}_{type_code}_{DAY8}_{seq}.csv"
    data = csv_text(columns, rows).encode()
    amount = columns.index("amount" if type_code == "PAY" else "loan_amount")
    cells = [row[amount] for row in rows]
    drop(z.landing, name, data, count=len(rows), total=contract_total(cells), folder=folder)
    return name, data


def contract_total(cells: list[str]) -> str:
    """Section 3: the exact sum of the plain decimal cells (others count 0), rounded half-up once."""
    exact = sum((Decimal(c) for c in cells if re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", c, re.ASCII)), Decimal(0))
    return str(exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


# ---------------------------------------------------------------------------------------------------
# Section 3: the control file
# ---------------------------------------------------------------------------------------------------


def two_rows() -> bytes:
    return csv_text(PAY_HEADER, [pay("R1", amount="1.00")[:12], pay("R2", amount="2.00")[:12]]).encode()


ACCEPTED_CONTROLS = {
    "lf": lambda n, s: f"{n}|2|3.00|{s}\n",
    "crlf": lambda n, s: f"{n}|2|3.00|{s}\r\n",
    "no-final-newline": lambda n, s: f"{n}|2|3.00|{s}",
    "utf8-bom": lambda n, s: f"\ufeff{n}|2|3.00|{s}\n",
    "upper-case-hex": lambda n, s: f"{n}|2|3.00|{s.upper()}\n",
    "trailing-empty-lines": lambda n, s: f"{n}|2|3.00|{s}\n\n\r\n",
    # Decisions (docs/contract.md): a count with leading zeros is that number; so is a total.
    "count-leading-zeros": lambda n, s: f"{n}|002|3.00|{s}\n",
    "total-leading-zero": lambda n, s: f"{n}|2|03.00|{s}\n",
}


@pytest.mark.parametrize("variant", list(ACCEPTED_CONTROLS))
def test_control_file_variants_that_are_one_line_of_four_fields_are_accepted(
    business_db, intake_zones, variant
):
    z = intake_zones
    data = two_rows()
    drop(z.landing, NAME, data, control=ACCEPTED_CONTROLS[variant](NAME, sha(data)).encode("utf-8"))
    (result,) = run_intake()
    assert (result["status"], result["code"]) == ("INTAKE_OK", None)
    assert outbox(z) == []
    (row,) = files_table()
    assert (row["record_count"], row["amount_total_cents"]) == (2, 300)


REFUSED_CONTROLS = {
    "spaces-around-fields": lambda n, s: f"{n} | 2 | 3.00 | {s}\n",
    "space-before-count": lambda n, s: f"{n}| 2|3.00|{s}\n",
    "extra-field": lambda n, s: f"{n}|2|3.00|{s}|x\n",
    "trailing-pipe": lambda n, s: f"{n}|2|3.00|{s}|\n",
    "three-fields": lambda n, s: f"{n}|2|3.00\n",
    "negative-count": lambda n, s: f"{n}|-2|3.00|{s}\n",
    "plus-count": lambda n, s: f"{n}|+2|3.00|{s}\n",
    "full-width-count": lambda n, s: f"{n}|２|3.00|{s}\n",
    "total-one-decimal": lambda n, s: f"{n}|2|3.0|{s}\n",
    "total-three-decimals": lambda n, s: f"{n}|2|3.000|{s}\n",
    "total-no-decimals": lambda n, s: f"{n}|2|3|{s}\n",
    "total-plus": lambda n, s: f"{n}|2|+3.00|{s}\n",
    "total-decimal-comma": lambda n, s: f"{n}|2|3,00|{s}\n",
    "sha-63": lambda n, s: f"{n}|2|3.00|{s[:-1]}\n",
    "sha-65": lambda n, s: f"{n}|2|3.00|{s}0\n",
    "sha-not-hex": lambda n, s: f"{n}|2|3.00|{s[:-1]}g\n",
    "tab-after-sha": lambda n, s: f"{n}|2|3.00|{s}\t\n",
    "leading-empty-line": lambda n, s: f"\n{n}|2|3.00|{s}\n",
    "two-lines": lambda n, s: f"{n}|2|3.00|{s}\n{n}|2|3.00|{s}\n",
    "empty": lambda n, s: "",
    "names-the-stem": lambda n, s: f"{n[:-4]}|2|3.00|{s}\n",
    "names-the-gz": lambda n, s: f"{n}.gz|2|3.00|{s}\n",
    "names-a-path": lambda n, s: f"./{n}|2|3.00|{s}\n",
}


@pytest.mark.parametrize("variant", list(REFUSED_CONTROLS))
def test_control_file_not_one_line_of_four_well_formed_fields_is_f_control(
    business_db, intake_zones, variant
):
    z = intake_zones
    data = two_rows()
    drop(z.landing, NAME, data, control=REFUSED_CONTROLS[variant](NAME, sha(data)).encode("utf-8"))
    (result,) = run_intake()
    assert (result["status"], result["code"]) == ("REJECTED", "F_CONTROL")
    assert_refused(z, NAME, "F_CONTROL")


def test_control_file_in_utf16_is_f_control(business_db, intake_zones):
    z = intake_zones
    data = two_rows()
    drop(z.landing, NAME, data, control=f"{NAME}|2|3.00|{sha(data)}\n".encode("utf-16"))
    assert run_intake()[0]["code"] == "F_CONTROL"
    assert_refused(z, NAME, "F_CONTROL")


# ---------------------------------------------------------------------------------------------------
# Section 3: the amount total
# ---------------------------------------------------------------------------------------------------


def pay_file(amounts: list[str]) -> bytes:
    return csv_text(PAY_HEADER, [pay(f"R{i}", amount=a)[:12] for i, a in enumerate(amounts, 1)]).encode()


@pytest.mark.parametrize(
    ("amounts", "total"),
    [
        # Only 7.25 is a plain decimal: each of the others counts 0.
        (["1e3", " 12.00", "１２", "12.", ".5", "+5", "--5", "7.25", "12.00 ", "1,000.00"], "7.25"),
        (["0.005"], "0.01"),  # half-up, not half-even and not truncated
        (["1.004", "1.001"], "2.01"),  # 2.005 exactly: rounded once, at the end
        (["0.004", "0.004", "0.004"], "0.01"),  # 0.012: each cell rounded first would give 0.00
        (["abc", "1e3"], "0.00"),
        (["abc", "1e3"], "-0.00"),  # zero written with a sign is still zero
        # Decision: half-up on a negative sum rounds away from zero (docs/contract.md, Totals).
        (["-1.005", "0.00"], "-1.01"),
        (["0012.50", "-0.50"], "12.00"),  # leading zeros and a negative cell are plain decimals
    ],
)
def test_control_total_is_the_half_up_sum_of_plain_decimal_cells(business_db, intake_zones, amounts, total):
    z = intake_zones
    data = pay_file(amounts)
    drop(z.landing, NAME, data, count=len(amounts), total=total)
    (result,) = run_intake()
    assert (result["status"], result["code"]) == ("INTAKE_OK", None), z.landing.list()


@pytest.mark.parametrize(
    ("amounts", "total"),
    [
        (["1e3", " 12.00", "１２", "12.", ".5", "+5", "--5", "7.25"], "1039.75"),  # bad cells summed
        (["0.005"], "0.00"),
        (["1.004", "1.001"], "2.00"),
        (["-1.005", "0.00"], "-1.00"),
        (["1.00", "2.00"], "3.01"),
    ],
)
def test_control_total_other_than_the_contract_sum_is_f_total(business_db, intake_zones, amounts, total):
    z = intake_zones
    data = pay_file(amounts)
    drop(z.landing, NAME, data, count=len(amounts), total=total)
    assert run_intake()[0]["code"] == "F_TOTAL"
    assert_refused(z, NAME, "F_TOTAL")


def test_loan_total_is_summed_over_loan_amount(business_db, intake_zones):
    z = intake_zones
    name = f"{CLIENT}_LOAN_{DAY8}_001.csv"
    rows = [loan("L1", loan_amount="1000.50"), loan("L2", loan_amount="1e3"), loan("L3", loan_amount="0.125")]
    data = csv_text(LOAN_COLUMNS, rows).encode()
    drop(z.landing, name, data, count=3, total="1000.63")  # 1000.50 + 0 + 0.125 = 1000.625 -> 1000.63
    assert run_intake()[0]["status"] == "INTAKE_OK"


@BOTH_DBS
@pytest.mark.parametrize(
    "amount", ["99999999999999999999.99", "92233720368547758.07", "-92233720368547759.09"]
)
def test_a_total_beyond_64_bits_is_judged_and_answered(business_db, intake_zones, amount):
    """A plain decimal of any size counts at its value (section 3). A file whose total in cents does
    not fit a 64-bit integer (with the 1.00 of the second row: 2**63 cents and more, or below -2**63)
    is judged like any other (here the total matches, so it is accepted) and the big row is answered
    R_AMOUNT (above 999999999999.99, or not > 0): intake must not fail on it."""
    z = intake_zones
    amounts = [amount, "1.00"]
    data = pay_file(amounts)
    drop(z.landing, NAME, data, count=2, total=contract_total(amounts))
    (result,) = run_intake()
    assert (result["status"], result["code"]) == ("INTAKE_OK", None)
    validation.validate_client(CLIENT, DAY)
    ack = z.landing.get(f"{CLIENT}/outbox/{STEM}.ack.csv")
    assert ack == expected_ack(CLIENT, "PAY", "001", ["R1", "R2"], ["R_AMOUNT", ""])


@BOTH_DBS
def test_a_total_beyond_64_bits_with_a_wrong_count_is_f_count(business_db, intake_zones):
    z = intake_zones
    data = pay_file(["99999999999999999999.99"])
    drop(z.landing, NAME, data, count=2, total="99999999999999999999.99")
    assert run_intake()[0]["code"] == "F_COUNT"
    assert_refused(z, NAME, "F_COUNT")


# ---------------------------------------------------------------------------------------------------
# Section 6: two or three faults at once, in every adjacent pair of the order
# ---------------------------------------------------------------------------------------------------


def ragged(data: bytes) -> bytes:
    """The first data row given one field too many (F_MALFORMED)."""
    head, first, rest = data.split(b"\n", 2)
    return b"\n".join([head, first + b",x", rest])


def with_unknown_column(rows: int = 1) -> bytes:
    body = [[*pay(f"R{i}")[:12], "x"] for i in range(1, rows + 1)]
    return csv_text([*PAY_HEADER, "memo"], body).encode()


SATURDAY = f"{CLIENT}_PAY_20261128_001.csv"


def prec_name_over_control(z):
    """Another client's name in this folder, with a control file that names a third file."""
    name = f"TRUSTB_PAY_{DAY8}_001.csv"
    data = two_rows()
    drop(z.landing, name, data, control=ctl("other.csv", "x", "3", data))
    return name, "F_NAME"


def prec_control_over_checksum(z):
    data = two_rows()
    drop(z.landing, NAME, data, control=ctl(f"{CLIENT}_PAY_{DAY8}_002.csv", 2, "3.00", b"other"))
    return NAME, "F_CONTROL"


def prec_checksum_over_duplicate_bytes(z):
    data = two_rows()
    earlier = f"{CLIENT}_PAY_{DAY8}_009.csv"
    drop(z.landing, earlier, data, count=2, total="3.00")
    assert run_intake()[0]["status"] == "INTAKE_OK"
    drop(z.landing, NAME, data, control=ctl(NAME, 2, "3.00", data + b"\n"))
    return NAME, "F_CHECKSUM"


def prec_checksum_over_duplicate_stem(z):
    drop(z.landing, NAME, two_rows(), count=2, total="3.00")
    assert run_intake()[0]["status"] == "INTAKE_OK"
    data = pay_file(["5.00"])
    drop(z.landing, NAME, data, control=ctl(NAME, 1, "5.00", b"not these bytes"))
    return NAME, "F_CHECKSUM"


def prec_duplicate_over_too_large(z, mp):
    data = two_rows()
    drop(z.landing, f"{CLIENT}_PAY_{DAY8}_009.csv", data, count=2, total="3.00")
    assert run_intake()[0]["status"] == "INTAKE_OK"
    mp.setenv("DAYBOOK_MAX_FILE_BYTES", "100")
    drop(z.landing, NAME, data, count=2, total="3.00")
    return NAME, "F_DUPLICATE"


def prec_checksum_over_too_many_rows(z):
    data = two_rows()
    drop(z.landing, NAME, data, control=ctl(NAME, 1_000_000, "3.00", data + b"\n"))
    return NAME, "F_CHECKSUM"


def prec_duplicate_over_too_many_rows(z):
    """The same bytes again, under a new name whose control file declares a million rows."""
    data = two_rows()
    drop(z.landing, f"{CLIENT}_PAY_{DAY8}_009.csv", data, count=2, total="3.00")
    assert run_intake()[0]["status"] == "INTAKE_OK"
    drop(z.landing, NAME, data, count=1_000_000, total="3.00")
    return NAME, "F_DUPLICATE"


def prec_too_many_rows_over_date(z):
    drop(z.landing, SATURDAY, two_rows(), count=1_000_000, total="3.00")
    return SATURDAY, "F_TOO_LARGE"


def prec_too_many_rows_over_encoding(z):
    data = two_rows().decode().encode("utf-16")
    drop(z.landing, NAME, data, count=1_000_000, total="3.00")
    return NAME, "F_TOO_LARGE"


def prec_too_many_rows_over_truncated_gz_on_a_closed_date(z):
    packed = gz(pay_file(["1.00"] * 40))[:-12]
    name = f"{SATURDAY}.gz"
    drop(z.landing, name, packed, count=1_000_000, total="40.00")
    return name, "F_TOO_LARGE"


def prec_too_large_over_date(z, mp):
    mp.setenv("DAYBOOK_MAX_FILE_BYTES", "100")
    drop(z.landing, SATURDAY, two_rows(), count=2, total="3.00")
    return SATURDAY, "F_TOO_LARGE"


def prec_too_large_over_encoding(z, mp):
    mp.setenv("DAYBOOK_MAX_FILE_BYTES", "100")
    data = two_rows().decode().encode("utf-16")
    drop(z.landing, NAME, data, count=2, total="3.00")
    return NAME, "F_TOO_LARGE"


def prec_too_large_gz_over_truncated(z, mp):
    mp.setenv("DAYBOOK_MAX_FILE_BYTES", "1000")
    plain = pay_file(["1.00"] * 40)
    packed = gz(plain)[:-12]  # the stream ends early, after more than 1000 bytes of CSV
    assert len(packed) < 1000 < len(plain)
    name = f"{NAME}.gz"
    drop(z.landing, name, packed, count=40, total="40.00")
    return name, "F_TOO_LARGE"


def prec_date_over_encoding_and_header(z):
    data = with_unknown_column().decode().encode("utf-32")
    drop(z.landing, SATURDAY, data, count=1, total="1.00")
    return SATURDAY, "F_DATE"


def prec_date_over_malformed(z):
    data = ragged(two_rows())
    drop(z.landing, SATURDAY, data, count=2, total="3.00")
    return SATURDAY, "F_DATE"


def prec_encoding_over_malformed_in_truncated_gz(z):
    """A .csv.gz cut short whose CSV, as far as it goes, holds bytes that are neither UTF-8 nor GB18030
    (0x80 0x80 is invalid in both, whatever follows): F_ENCODING comes before F_MALFORMED."""
    plain = pay_file(["1.00"]) + b"\x80\x80\n" + pay_file(["1.00"] * 200)
    packed = gz(plain)[:-30]
    name = f"{NAME}.gz"
    drop(z.landing, name, packed, count=1, total="1.00")
    return name, "F_ENCODING"


def prec_encoding_over_malformed_in_corrupt_gz(z):
    plain = pay_file(["1.00"]) + b"\x80\x80\n" + pay_file(["1.00"] * 200)
    packed = bytearray(gz(plain))
    packed[-8] ^= 0xFF  # the CRC-32 of the member: the stream is found corrupt at its very end
    name = f"{NAME}.gz"
    drop(z.landing, name, bytes(packed), count=1, total="1.00")
    return name, "F_ENCODING"


def prec_encoding_over_malformed_utf16_in_truncated_gz(z):
    plain = pay_file(["1.00"] * 20).decode().encode("utf-16-le")  # UTF-16 without a byte order mark
    packed = gz(plain)[:-30]
    name = f"{NAME}.gz"
    drop(z.landing, name, packed, count=20, total="20.00")
    return name, "F_ENCODING"


def prec_encoding_over_malformed(z):
    data = ragged(two_rows()).replace("王伟".encode(), "Jos\xe9".encode("latin-1"))
    drop(z.landing, NAME, data, count=2, total="3.00")
    return NAME, "F_ENCODING"


def prec_malformed_over_header(z):
    data = with_unknown_column(2)
    head, first, rest = data.split(b"\n", 2)
    drop(z.landing, NAME, b"\n".join([head, first, b"", rest]), count=2, total="2.00")  # empty line
    return NAME, "F_MALFORMED"


def prec_malformed_over_header_trailing_comma(z):
    """A header ending in a comma (an unnamed 13th column) over rows of 12 fields: the rows are ragged."""
    rows = [pay("R1")[:12]]
    data = (",".join(PAY_HEADER) + ",\n" + "\n".join(",".join(r) for r in rows) + "\n").encode()
    drop(z.landing, NAME, data, count=1, total="1.00")
    return NAME, "F_MALFORMED"


def prec_header_over_count(z):
    data = csv_text([*PAY_HEADER, "currency"], [[*pay("R1")[:12], "CNY"]]).encode()  # repeated column
    drop(z.landing, NAME, data, count=7, total="1.00")
    return NAME, "F_HEADER"


def prec_header_over_total_and_empty(z):
    data = csv_text([*PAY_HEADER, "memo"], []).encode()
    drop(z.landing, NAME, data, count=0, total="9.00")
    return NAME, "F_HEADER"


def prec_count_over_total(z):
    drop(z.landing, NAME, two_rows(), count=3, total="4.00")
    return NAME, "F_COUNT"


def prec_count_over_total_and_empty(z):
    drop(z.landing, NAME, csv_text(PAY_HEADER, []).encode(), count=1, total="1.00")
    return NAME, "F_COUNT"


def prec_total_over_empty(z):
    drop(z.landing, NAME, csv_text(PAY_HEADER, [], eol="\r\n").encode(), count=0, total="0.01")
    return NAME, "F_TOTAL"


def prec_empty_before_rows(z):
    drop(z.landing, NAME, csv_text(PAY_HEADER, []).encode(), count=0, total="-0.00")
    return NAME, "F_EMPTY"


def prec_duplicate_bytes_over_empty(z):
    data = csv_text(PAY_HEADER, []).encode()
    drop(z.landing, f"{CLIENT}_PAY_{DAY8}_009.csv", data, count=0, total="0.00")
    assert run_intake()[0]["code"] == "F_EMPTY"
    drop(z.landing, NAME, data, count=0, total="0.00")
    return NAME, "F_DUPLICATE"


PRECEDENCE = [
    prec_name_over_control,
    prec_control_over_checksum,
    prec_checksum_over_duplicate_bytes,
    prec_checksum_over_duplicate_stem,
    prec_duplicate_over_too_large,
    prec_checksum_over_too_many_rows,
    prec_duplicate_over_too_many_rows,
    prec_too_many_rows_over_date,
    prec_too_many_rows_over_encoding,
    prec_too_many_rows_over_truncated_gz_on_a_closed_date,
    prec_too_large_over_date,
    prec_too_large_over_encoding,
    prec_too_large_gz_over_truncated,
    prec_date_over_encoding_and_header,
    prec_date_over_malformed,
    prec_encoding_over_malformed_in_truncated_gz,
    prec_encoding_over_malformed_in_corrupt_gz,
    prec_encoding_over_malformed_utf16_in_truncated_gz,
    prec_encoding_over_malformed,
    prec_malformed_over_header,
    prec_malformed_over_header_trailing_comma,
    prec_header_over_count,
    prec_header_over_total_and_empty,
    prec_count_over_total,
    prec_count_over_total_and_empty,
    prec_total_over_empty,
    prec_empty_before_rows,
    prec_duplicate_bytes_over_empty,
]


@pytest.mark.parametrize("case", PRECEDENCE, ids=[c.__name__[5:] for c in PRECEDENCE])
def test_the_first_code_in_section_6_order_speaks(business_db, intake_zones, monkeypatch, case):
    z = intake_zones
    args = (z, monkeypatch) if case.__code__.co_argcount == 2 else (z,)
    name, code = case(*args)
    before = set(outbox(z))
    results = run_intake()
    assert [(r["name"], r["code"]) for r in results if r["name"] == name] == [(name, code)]
    stem = name.removesuffix(".gz").removesuffix(".csv")
    got, message = rej(z, stem)
    assert got == code, message
    assert set(outbox(z)) - before <= {f"{stem}.rej"}
    assert z.landing.exists(f"{CLIENT}/rejected/{name}") and not z.landing.exists(f"{CLIENT}/inbox/{name}")
    assert not any(k.endswith(".ack.csv") for k in outbox(z) if k.startswith(stem))


@BOTH_STORES
@pytest.mark.parametrize(
    "case",
    [prec_encoding_over_malformed_in_truncated_gz, prec_too_large_gz_over_truncated],
    ids=["encoding-over-truncated-gz", "too-large-over-truncated-gz"],
)
def test_gzip_framing_and_encoding_order_on_both_stores(business_db, intake_zones, monkeypatch, case):
    test_the_first_code_in_section_6_order_speaks(business_db, intake_zones, monkeypatch, case)


def test_a_truncated_gz_whose_text_so_far_is_valid_is_f_malformed(business_db, intake_zones):
    """Only the framing is wrong (the CSV read so far decodes): F_MALFORMED, as section 7 lists."""
    z = intake_zones
    packed = gz(pay_file(["1.00"] * 200))
    name = f"{NAME}.gz"
    drop(z.landing, name, packed[: len(packed) // 2], count=200, total="200.00")
    assert run_intake()[0]["code"] == "F_MALFORMED"
    assert "truncated" in assert_refused(z, name, "F_MALFORMED")


def test_a_truncated_gz_whose_text_so_far_is_valid_gb18030_is_f_malformed(business_db, intake_zones):
    """Invalid UTF-8 but valid GB18030 as far as the stream goes: the encoding is not refuted."""
    z = intake_zones
    plain = csv_text(PAY_HEADER, [pay(f"R{i}", payer_name="王伟")[:12] for i in range(200)]).encode("gb18030")
    packed = gz(plain)
    name = f"{NAME}.gz"
    drop(z.landing, name, packed[: len(packed) // 2], count=200, total="200.00")
    assert run_intake()[0]["code"] == "F_MALFORMED"
    assert_refused(z, name, "F_MALFORMED")


# ---------------------------------------------------------------------------------------------------
# Section 4: CSV framing
# ---------------------------------------------------------------------------------------------------


def accept_and_validate(z, name: str, data: bytes, count: int, total: str) -> bytes:
    drop(z.landing, name, data, count=count, total=total)
    results = run_day()
    assert results[0]["status"] == "INTAKE_OK", (results, outbox(z))
    stem = name.removesuffix(".gz").removesuffix(".csv")
    assert outbox(z) == [f"{stem}.ack.csv"]
    return z.landing.get(f"{CLIENT}/outbox/{stem}.ack.csv")


def ok_ack(refs: list[str]) -> bytes:
    return expected_ack(CLIENT, "PAY", "001", refs, [""] * len(refs))


def test_quoted_header_names_are_the_names(business_db, intake_zones):
    z = intake_zones
    header = ",".join(f'"{c}"' for c in PAY_HEADER)
    data = (header + "\n" + ",".join(pay("R1")[:12]) + "\n").encode()
    assert accept_and_validate(z, NAME, data, 1, "1.00") == ok_ack(["R1"])


def test_a_header_with_a_trailing_empty_column_is_f_header(business_db, intake_zones):
    """Every row has the empty 13th field too (so the file is well-formed CSV): the unnamed column is
    an unknown column, F_HEADER."""
    z = intake_zones
    data = (",".join(PAY_HEADER) + ",\n" + ",".join(pay("R1")[:12]) + ",\n").encode()
    drop(z.landing, NAME, data, count=1, total="1.00")
    assert run_intake()[0]["code"] == "F_HEADER"
    assert_refused(z, NAME, "F_HEADER")


def test_a_repeated_column_name_is_f_header(business_db, intake_zones):
    z = intake_zones
    data = csv_text([*PAY_HEADER, "amount"], [[*pay("R1")[:12], "1.00"]]).encode()
    drop(z.landing, NAME, data, count=1, total="1.00")
    assert run_intake()[0]["code"] == "F_HEADER"
    assert "amount" in assert_refused(z, NAME, "F_HEADER")


@pytest.mark.parametrize("ending", ["\n", "\r\n", "", "\n\n", "\r\n\r\n\r\n"])
def test_a_header_only_file_is_f_empty(business_db, intake_zones, ending):
    z = intake_zones
    data = (",".join(PAY_HEADER) + ending).encode()
    drop(z.landing, NAME, data, count=0, total="0.00")
    assert run_intake()[0]["code"] == "F_EMPTY"
    assert_refused(z, NAME, "F_EMPTY")
    assert not z.landing.exists(f"{CLIENT}/outbox/{STEM}.ack.csv")


def test_a_crlf_file_keeps_a_bare_lf_inside_a_quoted_cell(business_db, intake_zones):
    """RFC 4180: a quoted field may hold a line break; the cell is kept exactly (here a client_ref,
    which the ack echoes, so the kept LF shows; the ref is then R_FORMAT)."""
    z = intake_zones
    rows = [pay("A\nB")[:12], pay("R2", purpose="")[:12]]
    data = csv_text(PAY_HEADER, rows, eol="\r\n").encode()
    assert b'"A\nB"' in data and data.count(b"\r\n") == 3
    ack = accept_and_validate(z, NAME, data, 2, "2.00")
    assert ack == expected_ack(CLIENT, "PAY", "001", ["A\nB", "R2"], ["R_FORMAT", ""])


def test_mixed_lf_and_crlf_line_ends_are_line_ends(business_db, intake_zones):
    z = intake_zones
    lines = [",".join(PAY_HEADER), ",".join(pay("R1")[:12]), ",".join(pay("R2")[:12])]
    data = (lines[0] + "\r\n" + lines[1] + "\n" + lines[2] + "\r\n").encode()
    assert accept_and_validate(z, NAME, data, 2, "2.00") == ok_ack(["R1", "R2"])


@pytest.mark.parametrize("tail", ["\n\n", "\r\n\r\n", "\n\r\n\n"])
def test_trailing_empty_lines_are_ignored(business_db, intake_zones, tail):
    z = intake_zones
    data = csv_text(PAY_HEADER, [pay("R1")[:12]]).encode() + tail.encode()
    assert accept_and_validate(z, NAME, data, 1, "1.00") == ok_ack(["R1"])


def test_a_final_line_without_a_newline_is_a_row(business_db, intake_zones):
    z = intake_zones
    data = csv_text(PAY_HEADER, [pay("R1")[:12], pay("R2")[:12]]).encode().rstrip(b"\n")
    assert accept_and_validate(z, NAME, data, 2, "2.00") == ok_ack(["R1", "R2"])


@pytest.mark.parametrize(
    "where",
    ["between-rows", "after-header", "before-header", "crlf-between-rows", "spaces-line-at-end"],
)
def test_a_line_that_is_not_a_row_before_the_end_is_f_malformed(business_db, intake_zones, where):
    """A blank line in the middle is a row of one empty field: the wrong number of fields (section 4).
    Only *trailing* empty lines are ignored; a line of spaces is not empty."""
    z = intake_zones
    h, r1, r2 = ",".join(PAY_HEADER), ",".join(pay("R1")[:12]), ",".join(pay("R2")[:12])
    text = {
        "between-rows": f"{h}\n{r1}\n\n{r2}\n",
        "after-header": f"{h}\n\n{r1}\n{r2}\n",
        "before-header": f"\n{h}\n{r1}\n{r2}\n",
        "crlf-between-rows": f"{h}\r\n{r1}\r\n\r\n{r2}\r\n",
        "spaces-line-at-end": f"{h}\n{r1}\n{r2}\n   \n",
    }[where]
    drop(z.landing, NAME, text.encode(), count=2, total="2.00")
    assert run_intake()[0]["code"] == "F_MALFORMED"
    assert_refused(z, NAME, "F_MALFORMED")


def test_a_utf8_bom_before_gb18030_text_is_f_encoding(business_db, intake_zones):
    """Decision (docs/reason-codes.md): the BOM declares UTF-8, so GB18030 bytes after it are not read
    as GB18030."""
    z = intake_zones
    data = b"\xef\xbb\xbf" + csv_text(PAY_HEADER, [pay("R1")[:12]]).encode("gb18030")
    drop(z.landing, NAME, data, count=1, total="1.00")
    assert run_intake()[0]["code"] == "F_ENCODING"
    assert_refused(z, NAME, "F_ENCODING")


FOUR_BYTE = "𠀀"  # U+20000: four bytes in GB18030 (and in UTF-8)


@pytest.mark.parametrize("encoding", ["gb18030", "utf-8"])
def test_names_are_counted_in_characters_four_byte_sequences_included(business_db, intake_zones, encoding):
    """1-100 characters (section 4): 100 four-byte characters pass, 101 do not (R_FORMAT)."""
    z = intake_zones
    rows = [pay("R1", payer_name=FOUR_BYTE * 100)[:12], pay("R2", payee_name="王" + FOUR_BYTE * 100)[:12]]
    data = csv_text(PAY_HEADER, rows).encode(encoding)
    ack = accept_and_validate(z, NAME, data, 2, "2.00")
    assert ack == expected_ack(CLIENT, "PAY", "001", ["R1", "R2"], ["", "R_FORMAT"])
    (row,) = files_table()
    assert row["encoding"] == encoding


def test_a_gb18030_file_with_its_byte_order_mark_is_read_as_gb18030(business_db, intake_zones):
    z = intake_zones
    data = "\ufeff".encode("gb18030") + csv_text(PAY_HEADER, [pay("R1")[:12]]).encode("gb18030")
    assert data.startswith(b"\x84\x31\x95\x33")
    assert accept_and_validate(z, NAME, data, 1, "1.00") == ok_ack(["R1"])


@pytest.mark.parametrize(
    ("build", "code"),
    [
        (lambda: gz(b""), "F_HEADER"),  # no header row at all (F_HEADER comes before F_EMPTY)
        (lambda: b"", "F_MALFORMED"),  # zero bytes are not a gzip stream
        (lambda: gz(csv_text(PAY_HEADER, []).encode()), "F_EMPTY"),
        (lambda: gz(two_rows()) + b"\x00\x00", "F_MALFORMED"),  # bytes after the gzip member
        (lambda: gz(two_rows().decode().encode("latin-1", "replace") + b"\xff\xfe\xff\n"), "F_ENCODING"),
        (lambda: gz(two_rows())[:-4], "F_MALFORMED"),  # the gzip trailer cut
    ],
    ids=[
        "gzip-of-nothing",
        "zero-bytes",
        "gzip-of-header-only",
        "trailing-zeros",
        "not-utf8-or-gb",
        "no-trailer",
    ],
)
def test_csv_gz_edge_cases(business_db, intake_zones, build, code):
    z = intake_zones
    name = f"{NAME}.gz"
    drop(z.landing, name, build(), count=0 if code != "F_ENCODING" else 2, total="0.00")
    assert run_intake()[0]["code"] == code
    assert_refused(z, name, code)


def test_a_gb18030_csv_gz_is_validated_from_its_text(business_db, intake_zones):
    z = intake_zones
    data = gz(csv_text(PAY_HEADER, [pay("R1", payer_name="王" + FOUR_BYTE)[:12]]).encode("gb18030"))
    assert accept_and_validate(z, f"{NAME}.gz", data, 1, "1.00") == ok_ack(["R1"])


# ---------------------------------------------------------------------------------------------------
# Section 4 rows: every rule at its exact boundaries (PAY)
# ---------------------------------------------------------------------------------------------------

PAY_CASES: list[tuple[str, dict[str, str], str]] = [
    ("ok", {}, ""),
    ("ref-32", {"client_ref": "A" * 32}, ""),
    ("ref-33", {"client_ref": "B" * 33}, "R_FORMAT"),
    ("ref-1", {"client_ref": "C"}, ""),
    ("ref-alphabet", {"client_ref": "aZ09_-"}, ""),
    ("ref-dot", {"client_ref": "a.b"}, "R_FORMAT"),
    ("ref-full-width", {"client_ref": "Ａ1"}, "R_FORMAT"),
    ("ref-NA", {"client_ref": "NA"}, ""),  # text, not a missing value
    ("ref-NULL", {"client_ref": "NULL"}, ""),
    ("ref-None", {"client_ref": "None"}, ""),
    ("payer-account-8", {"payer_account": "00000008"}, ""),  # leading zeros kept: still 8 digits
    ("payer-account-7", {"payer_account": "1234567"}, "R_ACCOUNT"),
    ("payer-account-32", {"payer_account": "1" * 32}, ""),
    ("payer-account-33", {"payer_account": "1" * 33}, "R_ACCOUNT"),
    ("payer-account-space", {"payer_account": "12345678 "}, "R_ACCOUNT"),
    ("card-16", {"payee_account_type": "CARD", "payee_account": make_card("6222", 16)}, ""),
    ("card-19", {"payee_account_type": "CARD", "payee_account": make_card("6222", 19)}, ""),
    ("card-15", {"payee_account_type": "CARD", "payee_account": make_card("6222", 15)}, "R_ACCOUNT"),
    ("card-20", {"payee_account_type": "CARD", "payee_account": make_card("6222", 20)}, "R_ACCOUNT"),
    (
        "card-16-luhn",
        {"payee_account_type": "CARD", "payee_account": bad_luhn(make_card("6222", 16))},
        "R_ACCOUNT",
    ),
    (
        "card-19-luhn",
        {"payee_account_type": "CARD", "payee_account": bad_luhn(make_card("6222", 19))},
        "R_ACCOUNT",
    ),
    ("account-not-luhn", {"payee_account": bad_luhn(make_card("6222", 16))}, ""),  # ACCOUNT: no Luhn
    ("account-type-lower", {"payee_account_type": "card"}, "R_ENUM"),
    ("amount-max", {"amount": "999999999999.99"}, ""),
    ("amount-over-max", {"amount": "1000000000000.00"}, "R_AMOUNT"),
    ("amount-zero", {"amount": "0.00"}, "R_AMOUNT"),
    ("amount-minus-zero", {"amount": "-0.00"}, "R_AMOUNT"),
    ("amount-0.001", {"amount": "0.001"}, "R_AMOUNT"),
    ("amount-0.01", {"amount": "0.01"}, ""),
    ("amount-negative", {"amount": "-1"}, "R_AMOUNT"),
    ("amount-integer", {"amount": "5"}, ""),
    ("amount-leading-zeros", {"amount": "007.10"}, ""),
    ("amount-exponent", {"amount": "1e3"}, "R_AMOUNT"),
    ("amount-space", {"amount": " 12.00"}, "R_AMOUNT"),
    ("amount-full-width", {"amount": "１２"}, "R_AMOUNT"),
    ("amount-trailing-dot", {"amount": "12."}, "R_AMOUNT"),
    ("amount-leading-dot", {"amount": ".5"}, "R_AMOUNT"),
    ("amount-plus", {"amount": "+5"}, "R_AMOUNT"),
    ("amount-double-minus", {"amount": "--5"}, "R_AMOUNT"),
    ("amount-three-decimals-zero", {"amount": "1.100"}, "R_AMOUNT"),  # 3 decimal places as written
    ("value-date-business-date", {"value_date": "2026-11-27"}, ""),
    ("value-date-plus-30", {"value_date": "2026-12-27"}, ""),
    ("value-date-plus-31", {"value_date": "2026-12-28"}, "R_DATE"),
    ("value-date-minus-1", {"value_date": "2026-11-26"}, "R_DATE"),
    ("value-date-not-a-date", {"value_date": "2027-02-29"}, "R_DATE"),
    ("value-date-slashes", {"value_date": "2026/11/27"}, "R_DATE"),
    ("value-date-one-digit-day", {"value_date": "2026-11-7"}, "R_DATE"),
    ("ric-check-X", {"payer_id_no": RIC_X}, ""),
    ("ric-check-x", {"payer_id_no": RIC_X[:-1] + "x"}, "R_FORMAT"),  # decision: outside the form
    ("ric-full-width", {"payer_id_no": RIC[:-1] + "０"}, "R_FORMAT"),
    ("ric-check-wrong", {"payer_id_no": RIC[:-1] + ("0" if RIC[-1] != "0" else "1")}, "R_ID_CHECKSUM"),
    ("ric-17", {"payer_id_no": RIC[:17]}, "R_FORMAT"),
    ("ric-19", {"payer_id_no": RIC + "1"}, "R_FORMAT"),
    ("ric-born-1899-12-31", {"payer_id_no": make_ric("11010518991231")}, "R_ID_CHECKSUM"),
    ("ric-born-1900-01-01", {"payer_id_no": make_ric("11010519000101")}, ""),
    ("ric-born-business-date", {"payer_id_no": make_ric("11010520261127")}, ""),
    ("ric-born-day-after", {"payer_id_no": make_ric("11010520261128")}, "R_ID_CHECKSUM"),
    ("ric-born-feb-30", {"payer_id_no": make_ric("11010519490230")}, "R_ID_CHECKSUM"),
    ("ric-province-10", {"payer_id_no": make_ric("10010519491231")}, "R_ID_CHECKSUM"),
    ("ric-province-99", {"payer_id_no": make_ric("99010519491231")}, "R_ID_CHECKSUM"),
    ("ric-province-82", {"payer_id_no": make_ric("82000019491231")}, ""),  # Macau exists
    ("ric-region-unknown", {"payer_id_no": make_ric("11999919491231")}, ""),  # below province: not checked
    ("uscc", {"payer_id_type": "USCC", "payer_id_no": USCC}, ""),
    (
        "uscc-check-wrong",
        {"payer_id_type": "USCC", "payer_id_no": USCC[:-1] + ("M" if USCC[-1] != "M" else "N")},
        "R_ID_CHECKSUM",
    ),
    *[
        (f"uscc-letter-{c}", {"payer_id_type": "USCC", "payer_id_no": c + USCC[1:]}, "R_FORMAT")
        for c in "IOZSV"
    ],
    ("uscc-lower-case", {"payer_id_type": "USCC", "payer_id_no": USCC.lower()}, "R_FORMAT"),
    ("id-type-lower", {"payer_id_type": "ric"}, "R_ENUM"),
    ("cnaps-11", {"payee_bank_code": "10210009999"}, "R_BANK_CODE"),
    ("cnaps-13", {"payee_bank_code": "1021000999961"}, "R_BANK_CODE"),
    ("currency-not-accepted", {"currency": "USD"}, "R_CURRENCY"),
    ("currency-lower", {"currency": "cny"}, "R_CURRENCY"),
    ("purpose-140", {"purpose": "用" * 140}, ""),
    ("purpose-141", {"purpose": "用" * 141}, "R_FORMAT"),
    ("payer-name-100", {"payer_name": "王" * 100}, ""),
    ("payer-name-101", {"payer_name": "王" * 101}, "R_FORMAT"),
    ("payer-name-NULL", {"payer_name": "NULL"}, ""),
    ("payer-name-empty", {"payer_name": ""}, "R_REQUIRED"),
    (
        "several-codes",
        {
            "value_date": "2026-11-26",
            "payee_bank_code": "x",
            "amount": "0",
            "currency": "USD",
            "purpose": "用" * 141,
        },
        "R_FORMAT;R_BANK_CODE;R_AMOUNT;R_CURRENCY;R_DATE",
    ),
    ("empty-cells-are-required-only", {c: "" for c in PAY_COLUMNS}, "R_REQUIRED"),
]


def test_every_pay_row_rule_at_its_boundaries(business_db, intake_zones):
    """One file, one row per boundary; the ack compared byte for byte. The last row repeats the
    first row's client_ref: the later one is R_DUPLICATE_REF."""
    z = intake_zones
    rows, codes = [], []
    for i, (_label, cells, code) in enumerate(PAY_CASES, start=1):
        others = {k: v for k, v in cells.items() if k != "client_ref"}
        rows.append(pay(cells.get("client_ref", f"P{i:03d}"), **others))
        codes.append(code)
    rows.append(pay("P001"))
    codes.append("R_DUPLICATE_REF")
    name, _ = drop_rows(z, "PAY", PAY_COLUMNS, rows)
    results = run_day()
    assert results[0]["status"] == "INTAKE_OK", outbox(z)
    ack = z.landing.get(f"{CLIENT}/outbox/{name[:-4]}.ack.csv")
    expected = expected_ack(CLIENT, "PAY", "001", [r[0] for r in rows], codes)
    got_lines, want_lines = ack.decode().splitlines(), expected.decode().splitlines()
    labels = ["header", *[label for label, _, _ in PAY_CASES], "duplicate"]
    mismatches = [(lab, g, w) for lab, g, w in zip(labels, got_lines, want_lines, strict=True) if g != w]
    assert mismatches == []
    assert ack == expected


LOAN_CASES: list[tuple[str, dict[str, str], str]] = [
    ("ok", {}, ""),
    ("ric-without-phone", {"phone": ""}, "R_REQUIRED"),
    ("uscc-without-phone", {"applicant_id_type": "USCC", "applicant_id_no": USCC, "phone": ""}, ""),
    (
        "uscc-with-bad-phone",
        {"applicant_id_type": "USCC", "applicant_id_no": USCC, "phone": "12345"},
        "R_FORMAT",
    ),
    ("phone-12x", {"phone": "12800138000"}, "R_FORMAT"),
    ("phone-19x", {"phone": "19800138000"}, ""),
    ("phone-10-digits", {"phone": "1380013800"}, "R_FORMAT"),
    ("phone-12-digits", {"phone": "138001380001"}, "R_FORMAT"),
    ("phone-plus-86", {"phone": "+8613800138000"}, "R_FORMAT"),
    ("mortgage-without-collateral", {"product_code": "MORTGAGE"}, "R_REQUIRED"),
    ("mortgage-with-collateral", {"product_code": "MORTGAGE", "collateral_value": "2000"}, ""),
    ("mortgage-collateral-zero", {"product_code": "MORTGAGE", "collateral_value": "0"}, "R_RANGE"),
    ("personal-without-collateral", {"collateral_value": ""}, ""),
    ("personal-collateral-not-a-number", {"collateral_value": "abc"}, "R_FORMAT"),
    ("product-lower", {"product_code": "personal"}, "R_ENUM"),
    ("term-0", {"term_months": "0"}, "R_RANGE"),
    ("term-1", {"term_months": "1"}, ""),
    ("term-360", {"term_months": "360"}, ""),
    ("term-361", {"term_months": "361"}, "R_RANGE"),
    ("term-12.5", {"term_months": "12.5"}, "R_FORMAT"),
    ("term-12.0", {"term_months": "12.0"}, "R_FORMAT"),
    ("term-plus", {"term_months": "+12"}, "R_FORMAT"),
    ("term-leading-zero", {"term_months": "012"}, ""),
    ("score-299", {"credit_score": "299"}, "R_RANGE"),
    ("score-300", {"credit_score": "300"}, ""),
    ("score-900", {"credit_score": "900"}, ""),
    ("score-901", {"credit_score": "901"}, "R_RANGE"),
    ("income-0", {"annual_income": "0"}, ""),
    ("income-negative", {"annual_income": "-1"}, "R_RANGE"),
    ("income-exponent", {"annual_income": "1e3"}, "R_FORMAT"),
    ("income-NA", {"annual_income": "NA"}, "R_FORMAT"),
    ("loan-amount-zero", {"loan_amount": "0"}, "R_AMOUNT"),
    ("loan-amount-three-decimals", {"loan_amount": "1.001"}, "R_AMOUNT"),
    ("loan-amount-integer", {"loan_amount": "5000"}, ""),
    (
        "disbursement-card-luhn",
        {"disbursement_account_type": "CARD", "disbursement_account": bad_luhn(make_card("6222", 16))},
        "R_ACCOUNT",
    ),
    (
        "disbursement-card",
        {"disbursement_account_type": "CARD", "disbursement_account": make_card("6222", 16)},
        "",
    ),
    (
        "several-codes",
        {
            "phone": "",
            "product_code": "MORTGAGE",
            "loan_amount": "-5",
            "term_months": "0",
            "credit_score": "abc",
        },
        "R_REQUIRED;R_FORMAT;R_AMOUNT;R_RANGE",
    ),
]


def test_every_loan_row_rule_at_its_boundaries(business_db, intake_zones):
    z = intake_zones
    rows = [loan(f"L{i:03d}", **cells) for i, (_, cells, _) in enumerate(LOAN_CASES, start=1)]
    codes = [code for _, _, code in LOAN_CASES]
    name, _ = drop_rows(z, "LOAN", LOAN_COLUMNS, rows)
    results = run_day()
    assert results[0]["status"] == "INTAKE_OK", outbox(z)
    ack = z.landing.get(f"{CLIENT}/outbox/{name[:-4]}.ack.csv")
    expected = expected_ack(CLIENT, "LOAN", "001", [r[0] for r in rows], codes)
    labels = ["header", *[label for label, _, _ in LOAN_CASES]]
    got_lines, want_lines = ack.decode().splitlines(), expected.decode().splitlines()
    assert [(lab, g, w) for lab, g, w in zip(labels, got_lines, want_lines, strict=True) if g != w] == []
    assert ack == expected


def test_a_ref_seen_in_an_earlier_file_is_a_duplicate_in_the_later_file_only(business_db, intake_zones):
    """Section 6: of two rows with the same client_ref, the later one (file order, then earlier files
    first) is the duplicate, whether the earlier row was accepted or rejected."""
    z = intake_zones
    first = [pay("A1"), pay("A2", amount="0"), pay("A1", amount="2.00")]
    second = [pay("A1"), pay("A2"), pay("B1"), pay("B1")]
    drop_rows(z, "PAY", PAY_COLUMNS, first, seq="001")
    drop_rows(z, "PAY", PAY_COLUMNS, second, seq="002")
    run_day()
    assert z.landing.get(f"{CLIENT}/outbox/{CLIENT}_PAY_{DAY8}_001.ack.csv") == expected_ack(
        CLIENT, "PAY", "001", ["A1", "A2", "A1"], ["", "R_AMOUNT", "R_DUPLICATE_REF"]
    )
    assert z.landing.get(f"{CLIENT}/outbox/{CLIENT}_PAY_{DAY8}_002.ack.csv") == expected_ack(
        CLIENT,
        "PAY",
        "002",
        ["A1", "A2", "B1", "B1"],
        ["R_DUPLICATE_REF", "R_DUPLICATE_REF", "", "R_DUPLICATE_REF"],
    )
    # A third file on a later intake run: B1 was accepted in file 002.
    drop_rows(z, "PAY", PAY_COLUMNS, [pay("B1"), pay("C1")], seq="003")
    run_day()
    assert z.landing.get(f"{CLIENT}/outbox/{CLIENT}_PAY_{DAY8}_003.ack.csv") == expected_ack(
        CLIENT, "PAY", "003", ["B1", "C1"], ["R_DUPLICATE_REF", ""]
    )


# ---------------------------------------------------------------------------------------------------
# Section 5: a business number ends in the line number in 6 digits, so a file holds at most 999,999
# data rows. Decision (docs/contract.md, Size limits): a file whose control file declares more is
# refused whole with F_TOO_LARGE, its rows cannot be numbered as the contract says. The limit can be
# set lower (DAYBOOK_MAX_FILE_ROWS), never higher.
# ---------------------------------------------------------------------------------------------------

TOO_MANY_ROWS = (
    "F_TOO_LARGE|the control file declares {declared} data rows; a file holds at most 999999 "
    "(business numbers carry a 6-digit line number): split it into files of at most 999999 rows\n"
)


def records_table() -> list[tuple]:
    with db.begin() as conn:
        rows = conn.execute(sqlalchemy.text("SELECT file_id, business_no, client_ref FROM records"))
        return sorted(tuple(r) for r in rows)


@BOTH_DBS
def test_a_file_of_the_configured_row_limit_is_accepted_and_one_row_more_is_f_too_large(
    business_db, intake_zones, monkeypatch
):
    z = intake_zones
    monkeypatch.setenv("DAYBOOK_MAX_FILE_ROWS", "3")
    three = [pay(f"K{i}") for i in range(1, 4)]
    four = [pay(f"M{i}") for i in range(1, 5)]
    drop_rows(z, "PAY", PAY_COLUMNS, three, seq="001")
    name, data = drop_rows(z, "PAY", PAY_COLUMNS, four, seq="002")
    results = run_day()
    assert [(r["name"], r["status"], r["code"]) for r in results[:2]] == [
        (f"{STEM}.csv", "INTAKE_OK", None),
        (name, "REJECTED", "F_TOO_LARGE"),
    ]
    assert set(outbox(z)) == {f"{STEM}.ack.csv", f"{CLIENT}_PAY_{DAY8}_002.rej"}
    assert z.landing.get(f"{CLIENT}/outbox/{STEM}.ack.csv") == expected_ack(
        CLIENT, "PAY", "001", ["K1", "K2", "K3"], ["", "", ""]
    )
    assert z.landing.get(f"{CLIENT}/outbox/{CLIENT}_PAY_{DAY8}_002.rej") == (
        b"F_TOO_LARGE|the control file declares 4 data rows; a file holds at most 3 (the configured limit): "
        b"split it into files of at most 3 rows\n"
    )
    assert z.landing.get(f"{CLIENT}/rejected/{name}") == data
    assert z.landing.exists(f"{CLIENT}/rejected/{CLIENT}_PAY_{DAY8}_002.ctl")
    refused = next(f for f in files_table() if f["name"] == name)
    assert (refused["status"], refused["reason_code"], refused["record_count"]) == (
        "REJECTED",
        "F_TOO_LARGE",
        None,
    )
    # Nothing of the refused file is loaded ...
    assert [(no, ref) for _, no, ref in records_table()] == [
        (f"{CLIENT}-PAY-{DAY8}-001-00000{i}", f"K{i}") for i in (1, 2, 3)
    ]
    # ... and its refs are not taken: the client resends them in files of at most 3 rows.
    drop_rows(z, "PAY", PAY_COLUMNS, four[:3], seq="003")
    drop_rows(z, "PAY", PAY_COLUMNS, four[3:], seq="004")
    run_day()
    assert z.landing.get(f"{CLIENT}/outbox/{CLIENT}_PAY_{DAY8}_003.ack.csv") == expected_ack(
        CLIENT, "PAY", "003", ["M1", "M2", "M3"], ["", "", ""]
    )
    assert z.landing.get(f"{CLIENT}/outbox/{CLIENT}_PAY_{DAY8}_004.ack.csv") == expected_ack(
        CLIENT, "PAY", "004", ["M4"], [""]
    )


@BOTH_DBS
@pytest.mark.parametrize(
    ("count", "answer"),
    [
        ("1000000", TOO_MANY_ROWS.format(declared=1000000)),
        ("0001000000", TOO_MANY_ROWS.format(declared=1000000)),  # leading zeros: the same number
        ("999999999999999999", TOO_MANY_ROWS.format(declared=999999999999999999)),  # 18 digits allowed
        # Within the limit: the data file's 2 rows differ from the count, F_COUNT as before.
        ("999999", "F_COUNT|the control file says 999999 records, the data file has 2\n"),
    ],
    ids=["1000000", "leading-zeros", "18-digits", "999999-is-f-count"],
)
def test_with_the_default_limit_a_count_above_999999_is_f_too_large_not_f_count(
    business_db, intake_zones, count, answer
):
    z = intake_zones
    data = two_rows()
    drop(z.landing, NAME, data, count=count, total="3.00")
    (result,) = run_day()
    assert (result["status"], result["code"]) == ("REJECTED", answer.split("|")[0])
    assert z.landing.get(f"{CLIENT}/outbox/{STEM}.rej") == answer.encode("utf-8")
    assert outbox(z) == [f"{STEM}.rej"]
    assert z.landing.get(f"{CLIENT}/rejected/{NAME}") == data
    assert records_table() == []
    # Refused as a whole, it counts as received (its bytes are F_DUPLICATE under a new name), but its
    # refs stay free: the same rows in new bytes, with the right count, are accepted.
    drop(z.landing, f"{CLIENT}_PAY_{DAY8}_002.csv", data, count=2, total="3.00")
    assert run_intake()[0]["code"] == "F_DUPLICATE"
    again = csv_text(PAY_HEADER, [pay("R1", amount="1.00")[:12], pay("R2", amount="2.00")[:12]], eol="\r\n")
    drop(z.landing, f"{CLIENT}_PAY_{DAY8}_003.csv", again.encode(), count=2, total="3.00")
    run_day()
    assert z.landing.get(f"{CLIENT}/outbox/{CLIENT}_PAY_{DAY8}_003.ack.csv") == expected_ack(
        CLIENT, "PAY", "003", ["R1", "R2"], ["", ""]
    )


def test_the_size_limits_speak_bytes_first_then_rows_then_a_gz_expansion(
    business_db, intake_zones, monkeypatch
):
    """Both limits give F_TOO_LARGE; for a file above more than one, the message names the first in
    this order (docs/reason-codes.md): the bytes as dropped, the rows the control file declares,
    the bytes a .csv.gz expands to."""
    z = intake_zones
    monkeypatch.setenv("DAYBOOK_MAX_FILE_ROWS", "3")
    monkeypatch.setenv("DAYBOOK_MAX_FILE_BYTES", "1000")
    plain = [pay_file([f"{a}.00"] * 40) for a in (1, 2, 3)]  # three contents: no F_DUPLICATE
    assert all(len(p) > 1000 and len(gz(p)) < 1000 for p in plain)
    names = [
        f"{CLIENT}_PAY_{DAY8}_001.csv",
        f"{CLIENT}_PAY_{DAY8}_002.csv.gz",
        f"{CLIENT}_PAY_{DAY8}_003.csv.gz",
    ]
    drop(z.landing, names[0], plain[0], count=40, total="40.00")  # above all three
    drop(z.landing, names[1], gz(plain[1]), count=40, total="80.00")  # above the rows and the expansion
    drop(z.landing, names[2], gz(plain[2]), count=3, total="120.00")  # declares 3 rows, expands too far
    assert [(r["name"], r["code"]) for r in run_intake()] == [(n, "F_TOO_LARGE") for n in names]
    messages = [rej(z, n.removesuffix(".gz").removesuffix(".csv"))[1] for n in names]
    assert messages == [
        f"file has {len(plain[0])} bytes, the limit is 1000 bytes",
        "the control file declares 40 data rows; a file holds at most 3 (the configured limit): "
        "split it into files of at most 3 rows",
        "the .csv.gz file expands to more than 1000 bytes, the limit",
    ]
    assert records_table() == []


@pytest.mark.parametrize("value", ["1000000", "0"])
def test_a_row_limit_outside_1_to_999999_stops_intake_before_it_touches_a_file(
    business_db, intake_zones, monkeypatch, value
):
    from daybook.config import ConfigError

    z = intake_zones
    data = two_rows()
    drop(z.landing, NAME, data, count=2, total="3.00")
    monkeypatch.setenv("DAYBOOK_MAX_FILE_ROWS", value)
    with pytest.raises(
        ConfigError, match=f"DAYBOOK_MAX_FILE_ROWS must be a whole number from 1 to 999999 .*'{value}'"
    ):
        run_intake()
    monkeypatch.delenv("DAYBOOK_MAX_FILE_ROWS")
    assert z.landing.get(f"{CLIENT}/inbox/{NAME}") == data and outbox(z) == []
    assert files_table() == []
    # Once the setting is fixed the file is judged as usual.
    assert run_intake()[0]["status"] == "INTAKE_OK"


# ---------------------------------------------------------------------------------------------------
# F_ERROR_RATE: "above the client's threshold" (default 20%)
# ---------------------------------------------------------------------------------------------------


def test_exactly_the_threshold_is_not_above_it(business_db, intake_zones):
    z = intake_zones
    rows = [pay("T1", amount="0"), *[pay(f"T{i}") for i in range(2, 6)]]  # 1 of 5 = 20%
    drop_rows(z, "PAY", PAY_COLUMNS, rows, folder="TRUSTB")
    run_day("TRUSTB")
    assert outbox(z, "TRUSTB") == [f"TRUSTB_PAY_{DAY8}_001.ack.csv"]
    assert z.landing.get(f"TRUSTB/outbox/TRUSTB_PAY_{DAY8}_001.ack.csv") == expected_ack(
        "TRUSTB", "PAY", "001", [r[0] for r in rows], ["R_AMOUNT", "", "", "", ""]
    )


def test_above_the_threshold_the_file_is_f_error_rate_and_its_refs_stay_free(business_db, intake_zones):
    """2 of 9 rows rejected (22%): F_ERROR_RATE, no ack, no row published; the corrected file sent
    under a new sequence number may use the same refs."""
    z = intake_zones
    rows = [pay("E1", amount="0"), pay("E2", currency="EUR"), *[pay(f"E{i}") for i in range(3, 10)]]
    drop_rows(z, "PAY", PAY_COLUMNS, rows, folder="TRUSTB")
    run_day("TRUSTB")
    code, message = rej(z, f"TRUSTB_PAY_{DAY8}_001", "TRUSTB")
    assert code == "F_ERROR_RATE", message
    assert outbox(z, "TRUSTB") == [f"TRUSTB_PAY_{DAY8}_001.rej"]
    fixed = [pay(f"E{i}") for i in range(1, 10)]
    drop_rows(z, "PAY", PAY_COLUMNS, fixed, seq="002", folder="TRUSTB")
    run_day("TRUSTB")
    assert z.landing.get(f"TRUSTB/outbox/TRUSTB_PAY_{DAY8}_002.ack.csv") == expected_ack(
        "TRUSTB", "PAY", "002", [r[0] for r in fixed], [""] * 9
    )


# ---------------------------------------------------------------------------------------------------
# Section 2 and 5: names, and where a badly named file is answered
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "rej_stem"),
    [
        (f"banka_PAY_{DAY8}_001.csv", f"banka_PAY_{DAY8}_001"),
        (f"AB_PAY_{DAY8}_001.csv", f"AB_PAY_{DAY8}_001"),  # 2 characters
        (f"ABCDEFGHIJKLMNOPQ_PAY_{DAY8}_001.csv", f"ABCDEFGHIJKLMNOPQ_PAY_{DAY8}_001"),  # 17 characters
        (f"{CLIENT}_PAY_{DAY8}_000.csv", f"{CLIENT}_PAY_{DAY8}_000"),
        (f"{CLIENT}_PAY_{DAY8}_1000.csv", f"{CLIENT}_PAY_{DAY8}_1000"),
        (f"{CLIENT}_PAY_{DAY8}_001.CSV", f"{CLIENT}_PAY_{DAY8}_001"),
        (f"{CLIENT}_PAY_{DAY8}_001.Csv.gz", f"{CLIENT}_PAY_{DAY8}_001.Csv"),
        (f"{CLIENT}_PAY_{DAY8}_001.csv.GZ", f"{CLIENT}_PAY_{DAY8}_001.csv"),
        (f"{CLIENT}_pay_{DAY8}_001.csv", f"{CLIENT}_pay_{DAY8}_001"),
        (f"{CLIENT}_PAY_20270229_001.csv", f"{CLIENT}_PAY_20270229_001"),
        (f"{CLIENT}_PAY_{DAY8}_001.csv.filepart", f"{CLIENT}_PAY_{DAY8}_001.csv"),
        (".hidden", ".hidden"),
        (f".{CLIENT}_PAY_{DAY8}_001.csv", f".{CLIENT}_PAY_{DAY8}_001"),
    ],
)
def test_a_name_outside_section_2_is_f_name_under_its_own_name_without_extension(
    business_db, intake_zones, name, rej_stem
):
    z = intake_zones
    z.landing.put(f"{CLIENT}/inbox/{name}", two_rows())
    (result,) = run_intake()
    assert (result["status"], result["code"]) == ("REJECTED", "F_NAME")
    assert rej(z, rej_stem)[0] == "F_NAME"
    assert outbox(z) == [f"{rej_stem}.rej"]
    assert z.landing.list(f"{CLIENT}/inbox") == []


@pytest.mark.parametrize("client", ["ABC", "ABCDEFGHIJKLMNOP"])
def test_three_and_sixteen_character_client_ids_are_names(business_db, intake_zones, client):
    z = intake_zones
    name = f"{client}_PAY_{DAY8}_999.csv"
    data = two_rows()
    drop(z.landing, name, data, count=2, total="3.00", folder=client)
    run_day(client)
    assert z.landing.get(f"{client}/outbox/{client}_PAY_{DAY8}_999.ack.csv") == expected_ack(
        client, "PAY", "999", ["R1", "R2"], ["", ""]
    )


def test_a_pair_dropped_in_another_clients_folder_is_answered_there(business_db, intake_zones):
    """The name names TRUSTB, the folder is BANKA: F_NAME for the data file and for its control file,
    answered in BANKA's outbox (where it was dropped); nothing is written for TRUSTB."""
    z = intake_zones
    name = f"TRUSTB_PAY_{DAY8}_001.csv"
    drop(z.landing, name, two_rows(), count=2, total="3.00")
    results = run_intake()
    assert sorted((r["name"], r["code"]) for r in results) == [
        (name, "F_NAME"),
        (f"TRUSTB_PAY_{DAY8}_001.ctl", "F_NAME"),
    ]
    assert rej(z, f"TRUSTB_PAY_{DAY8}_001")[0] == "F_NAME"
    assert outbox(z) == [f"TRUSTB_PAY_{DAY8}_001.rej"]
    assert z.landing.list("TRUSTB") == []


def test_a_sub_folder_in_a_local_inbox(business_db, intake_zones):
    """A file inside a sub-folder is not a name of section 2 (F_NAME, answered under a harmless key);
    an empty sub-folder holds no file and is left alone."""
    z = intake_zones
    root = Path(z.landing.root)
    (root / CLIENT / "inbox" / "empty").mkdir(parents=True)
    (root / CLIENT / "inbox" / "sub").mkdir()
    (root / CLIENT / "inbox" / "sub" / NAME).write_bytes(two_rows())
    (result,) = run_intake()
    assert (result["name"], result["code"]) == (f"sub/{NAME}", "F_NAME")
    assert outbox(z) == [f"sub_{STEM}.rej"]
    assert rej(z, f"sub_{STEM}")[0] == "F_NAME"
    assert (root / CLIENT / "inbox" / "empty").is_dir()
    assert run_intake() == []


@pytest.mark.parametrize("store_kind", ["s3"], indirect=True)
def test_s3_folder_markers_are_folders_not_files(business_db, intake_zones):
    """Section 1: one folder (or S3 prefix) per client, the same code path for both. S3 consoles and
    sync tools create a folder as a zero-byte key ending in ``/``: ``<CLIENT>/inbox/`` for the inbox
    itself, ``<CLIENT>/inbox/sub/`` for a sub-folder. Like a local directory, such a key is not a file
    in the inbox: it is neither answered nor moved, and the files beside it are processed as usual."""
    z = intake_zones
    for key in (f"{CLIENT}/", f"{CLIENT}/inbox/", f"{CLIENT}/inbox/sub/", f"{CLIENT}/outbox/"):
        z.landing.put(key, b"")
    data = two_rows()
    drop(z.landing, NAME, data, count=2, total="3.00")
    results = run_intake()
    assert [(r["name"], r["status"]) for r in results] == [(NAME, "INTAKE_OK")]
    assert [k for k in outbox(z) if k] == [], "no answer: only the outbox folder marker is there"
    assert z.landing.exists(f"{CLIENT}/inbox/") and z.landing.exists(f"{CLIENT}/inbox/sub/")
    assert run_intake() == []


@pytest.mark.parametrize("store_kind", ["s3"], indirect=True)
def test_an_s3_key_ending_in_a_slash_that_holds_bytes_is_f_name(business_db, intake_zones):
    """Not a folder marker: bytes were sent under a name that is no file name (section 2)."""
    z = intake_zones
    z.landing.put(f"{CLIENT}/inbox/{NAME}/", two_rows())
    (result,) = run_intake()
    assert (result["name"], result["status"], result["code"]) == (f"{NAME}/", "REJECTED", "F_NAME")
    # Its own name in a harmless form ("/" becomes "_"), without its last extension (".csv_").
    assert [k for k in outbox(z) if k.endswith(".rej")] == [f"{STEM}.rej"]
    assert rej(z, STEM)[0] == "F_NAME"
    assert not z.landing.exists(f"{CLIENT}/inbox/{NAME}/")


def test_a_badly_named_copy_does_not_count_as_received(business_db, intake_zones):
    """F_NAME refuses the name before anything is judged: the same bytes sent again under the right
    name are a new file, not F_DUPLICATE."""
    z = intake_zones
    data = two_rows()
    z.landing.put(f"{CLIENT}/inbox/{STEM}.CSV", data)
    assert run_intake()[0]["code"] == "F_NAME"
    drop(z.landing, NAME, data, count=2, total="3.00")
    (result,) = run_intake()
    assert result["status"] == "INTAKE_OK"
    assert outbox(z) == [], "the stem's F_NAME answer is withdrawn once a file of the stem is accepted"


def test_the_same_bytes_under_two_names_in_one_drop(business_db, intake_zones):
    z = intake_zones
    data = two_rows()
    second = f"{CLIENT}_PAY_{DAY8}_002.csv"
    drop(z.landing, NAME, data, count=2, total="3.00")
    drop(z.landing, second, data, count=2, total="3.00")
    results = run_intake()
    assert [(r["name"], r["code"]) for r in results] == [(NAME, None), (second, "F_DUPLICATE")]
    assert rej(z, f"{CLIENT}_PAY_{DAY8}_002")[0] == "F_DUPLICATE"
