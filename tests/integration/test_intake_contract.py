"""Intake against the client file contract, one case per file-level code and per encoding/framing
variant, on local folders and on a real HTTP S3 endpoint (moto server), on SQLite and PostgreSQL.

Every fixture is built here by hand from the contract text (file-contract.md sections 2-4 and 6);
expected codes and totals are worked out from the contract, not read back from the code.
"""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy

from daybook import db, intake
from s3_fixtures import (
    CLIENT,
    DAY,
    DAY8,
    LOAN_HEADER,
    PAY_HEADER,
    csv_text,
    ctl,
    drop,
    gz,
    pay_csv,
    pay_row,
    sha,
)

pytest_plugins = ["s3_fixtures"]
pytestmark = pytest.mark.integration


# The whole matrix runs on SQLite; PostgreSQL runs one case per code and the duplicate rules
# (parametrized with ``backend`` below), to keep the suite fast while covering both engines.
@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


BOTH_DBS = pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)
NAME = f"{CLIENT}_PAY_{DAY8}_001.csv"
STEM = f"{CLIENT}_PAY_{DAY8}_001"


def run_intake(day: str = DAY) -> list[dict]:
    """One intake pass, as the DAG wires it: list the drops, answer each."""
    return [intake.process_drop(d, day) for d in intake.list_drops(day)]


def files_table() -> list[dict]:
    with db.begin() as conn:
        rows = conn.execute(sqlalchemy.text("SELECT * FROM files ORDER BY file_id")).mappings().all()
    return [dict(r) for r in rows]


def alerts() -> list[dict]:
    with db.begin() as conn:
        rows = conn.execute(sqlalchemy.text("SELECT * FROM alert_events ORDER BY alert_id")).mappings()
        return [dict(r) for r in rows]


def rej_of(z, stem: str, folder: str = CLIENT) -> tuple[str, str]:
    """The ``.rej`` answer: exactly one line ``<code>|<message>`` in UTF-8."""
    text = z.landing.get(f"{folder}/outbox/{stem}.rej").decode("utf-8")
    assert text.endswith("\n") and text.count("\n") == 1, text
    code, sep, message = text[:-1].partition("|")
    assert sep and message.strip(), text
    return code, message


def assert_rejected(z, name: str, code: str, data: bytes, *, control: str | None = None) -> str:
    stem = name.removesuffix(".gz").removesuffix(".csv")
    got, message = rej_of(z, stem)
    assert got == code, message
    assert not z.landing.exists(f"{CLIENT}/inbox/{name}")
    assert z.landing.get(f"{CLIENT}/rejected/{name}") == data, "the exact bytes, moved to rejected/"
    if control:
        assert z.landing.exists(f"{CLIENT}/rejected/{control}")
        assert not z.landing.exists(f"{CLIENT}/inbox/{control}")
    processed = f"{CLIENT}/processed/{name}"
    assert not z.landing.exists(processed) or z.landing.get(processed) != data
    rows = [r for r in files_table() if r["name"] == name and r["sha256"] == sha(data)]
    assert len(rows) == 1, rows
    row = rows[0]
    assert (row["status"], row["reason_code"], row["inbox_done"]) == ("REJECTED", code, 1)
    assert z.raw.get(row["raw_key"]) == data, "raw zone keeps the exact bytes"
    return message


def assert_accepted(z, name: str, data: bytes, count: int, cents: int, encoding: str) -> None:
    stem = name.removesuffix(".gz").removesuffix(".csv")
    assert not z.landing.exists(f"{CLIENT}/outbox/{stem}.rej")
    assert z.landing.get(f"{CLIENT}/processed/{name}") == data
    assert z.landing.exists(f"{CLIENT}/processed/{stem}.ctl")
    assert not z.landing.exists(f"{CLIENT}/inbox/{name}")
    (row,) = [r for r in files_table() if r["name"] == name]
    assert row["status"] == "INTAKE_OK" and row["reason_code"] is None
    assert (row["record_count"], row["amount_total_cents"], row["encoding"]) == (count, cents, encoding)
    assert row["sha256"] == sha(data) and row["inbox_done"] == 1 and row["original"] == 1
    assert z.raw.get(row["raw_key"]) == data


# ---------------------------------------------------------------------------------------------------
# Accepted encodings and framings (contract section 4)
# ---------------------------------------------------------------------------------------------------

GB_ONLY = "𠀀"  # U+20000: a 4-byte GB18030 sequence, outside GBK


@pytest.mark.parametrize(
    ("variant", "name", "build", "count", "cents", "encoding"),
    [
        ("utf8-lf", NAME, lambda: pay_csv(["100.00", "23.45"]).encode(), 2, 12345, "utf-8"),
        ("utf8-crlf", NAME, lambda: pay_csv(["100.00", "23.45"], eol="\r\n").encode(), 2, 12345, "utf-8"),
        (
            "utf8-bom",
            NAME,
            lambda: b"\xef\xbb\xbf" + pay_csv(["100.00", "23.45"]).encode(),
            2,
            12345,
            "utf-8-sig",
        ),
        (
            "gbk",
            NAME,
            lambda: pay_csv(["1.00", "2.00"], payer_name="王建华").encode("gbk"),
            2,
            300,
            "gb18030",
        ),
        (
            "gb18030-4byte",
            NAME,
            lambda: pay_csv(["1.00"], payer_name="王" + GB_ONLY, eol="\r\n").encode("gb18030"),
            1,
            100,
            "gb18030",
        ),
        (
            "quoted-commas-newlines",
            NAME,
            lambda: csv_text(
                [*PAY_HEADER, "purpose"],
                [
                    pay_row("R1", "5.00", payer_name='Zhang, "Wei"', purpose="line one\nline two"),
                    pay_row("R2", "6.00", purpose="a,b,\r\nc"),
                ],
            ).encode(),
            2,
            1100,
            "utf-8",
        ),
        ("csv-gz", f"{STEM}.csv.gz", lambda: gz(pay_csv(["0.10", "0.20", "0.30"]).encode()), 3, 60, "utf-8"),
        (
            "trailing-empty-lines",
            NAME,
            lambda: (pay_csv(["7.00"], eol="\r\n") + "\r\n\r\n").encode(),
            1,
            700,
            "utf-8",
        ),
    ],
)
def test_accepted_variant(business_db, intake_zones, variant, name, build, count, cents, encoding):
    z = intake_zones
    data = build()
    total = f"{cents // 100}.{cents % 100:02d}"
    drop(z.landing, name, data, count=count, total=total)
    (result,) = run_intake()
    assert result["status"] == "INTAKE_OK", result
    assert_accepted(z, name, data, count, cents, encoding)


def test_loan_without_conditional_columns_is_accepted(business_db, intake_zones):
    """phone and collateral_value are conditionally required: a header may leave them out."""
    z = intake_zones
    name = f"{CLIENT}_LOAN_{DAY8}_001.csv"
    row = [
        "L1",
        "某某公司",
        "USCC",
        "91110000600037341L",
        "SME",
        "250000.50",
        "12",
        "0",
        "700",
        "ACCOUNT",
        "001234567890",
    ]
    data = csv_text(LOAN_HEADER, [row]).encode()
    drop(z.landing, name, data, count=1, total="250000.50")
    run_intake()
    assert_accepted(z, name, data, 1, 25000050, "utf-8")


def test_cells_arrive_as_sent_through_iter_frames(business_db, intake_zones):
    """NA/NULL/None stay text, leading zeros stay, quoted newlines stay; line_no counts data rows."""
    z = intake_zones
    rows = [pay_row("NA", "1.00", payer_name="NULL", purpose=" x\ny "), pay_row("None", "2.00", purpose="")]
    data = csv_text([*PAY_HEADER, "purpose"], rows).encode()
    drop(z.landing, NAME, data, count=2, total="3.00")
    run_intake()
    (row,) = files_table()
    frames = list(intake.iter_frames(z.raw, row["raw_key"], False, chunk_rows=1))
    assert [len(f) for f in frames] == [1, 1]
    assert [int(f["line_no"].iloc[0]) for f in frames] == [1, 2]
    assert str(frames[0]["line_no"].dtype) == "int64"
    assert frames[0]["client_ref"].iloc[0] == "NA" and frames[1]["client_ref"].iloc[0] == "None"
    assert frames[0]["payer_name"].iloc[0] == "NULL"
    assert frames[0]["payee_account"].iloc[0] == "0012345678"
    assert frames[0]["purpose"].iloc[0] == " x\ny " and frames[1]["purpose"].iloc[0] == ""
    assert list(frames[0].columns) == ["line_no", *PAY_HEADER, "purpose"]
    assert all(str(frames[0][c].dtype) == "str" for c in PAY_HEADER)


# ---------------------------------------------------------------------------------------------------
# File-level codes, one fixture each (contract sections 2-4, 7)
# ---------------------------------------------------------------------------------------------------


def two_rows() -> bytes:
    return pay_csv(["100.00", "23.45"]).encode()


def case_control_three_fields(landing):
    data = drop(landing, NAME, two_rows(), control=f"{NAME}|2|123.45\n".encode())
    return NAME, data


def case_control_names_other_file(landing):
    data = two_rows()
    return NAME, drop(landing, NAME, data, control=ctl(f"{CLIENT}_PAY_{DAY8}_002.csv", 2, "123.45", data))


def case_control_total_one_decimal(landing):
    data = two_rows()
    return NAME, drop(landing, NAME, data, control=ctl(NAME, 2, "123.4", data))


def case_control_count_not_integer(landing):
    data = two_rows()
    return NAME, drop(landing, NAME, data, control=ctl(NAME, "2.0", "123.45", data))


def case_control_not_utf8(landing):
    data = two_rows()
    return NAME, drop(landing, NAME, data, control=b"\xff\xfe" + ctl(NAME, 2, "123.45", data))


def case_control_two_lines(landing):
    data = two_rows()
    return NAME, drop(landing, NAME, data, control=ctl(NAME, 2, "123.45", data) * 2)


def case_checksum(landing):
    data = two_rows()
    return NAME, drop(landing, NAME, data, control=ctl(NAME, 2, "123.45", data + b"x"))


def case_checksum_of_uncompressed_bytes_for_gz(landing):
    plain = two_rows()
    name = f"{STEM}.csv.gz"
    return name, drop(landing, name, gz(plain), control=ctl(name, 2, "123.45", plain))


def case_date_weekend(landing):
    name = f"{CLIENT}_PAY_20261128_001.csv"  # a Saturday
    return name, drop(landing, name, two_rows(), count=2, total="123.45")


def case_date_holiday(landing):
    name = f"{CLIENT}_PAY_20261001_001.csv"  # National Day, a holiday in config/calendar/2026.yaml
    return name, drop(landing, name, two_rows(), count=2, total="123.45")


def case_date_closed_day(landing):
    with db.begin() as conn:
        conn.execute(
            sqlalchemy.text(
                "INSERT INTO business_days (business_date, status) VALUES ('2026-11-26', 'CLOSED')"
            )
        )
    name = f"{CLIENT}_PAY_20261126_001.csv"  # a Thursday that is already closed
    return name, drop(landing, name, two_rows(), count=2, total="123.45")


def case_encoding_utf16(landing):
    return NAME, drop(landing, NAME, pay_csv(["1.00"]).encode("utf-16"), count=1, total="1.00")


def case_encoding_bom_then_gbk(landing):
    data = b"\xef\xbb\xbf" + pay_csv(["1.00"], payer_name="王伟").encode("gbk")
    return NAME, drop(landing, NAME, data, count=1, total="1.00")


def case_encoding_latin1(landing):
    row = [c.replace("李芳", "Zo\xeb M\xfcller") for c in pay_row("R1", "1.00", payer_name="Jos\xe9")]
    data = csv_text(PAY_HEADER, [row]).encode("latin-1")
    return NAME, drop(landing, NAME, data, count=1, total="1.00")


def case_encoding_utf16le_without_bom(landing):
    # Valid UTF-8 byte for byte (ASCII with a NUL after each character), but UTF-16 text.
    return NAME, drop(landing, NAME, pay_csv(["1.00"]).encode("utf-16-le"), count=1, total="1.00")


def case_encoding_utf16be_without_bom(landing):
    # The Chinese names make it invalid UTF-8 but valid GB18030 byte for byte: still UTF-16.
    return NAME, drop(landing, NAME, pay_csv(["1.00"]).encode("utf-16-be"), count=1, total="1.00")


def case_encoding_utf32le_without_bom_gz(landing):
    name = f"{STEM}.csv.gz"
    return name, drop(landing, name, gz(pay_csv(["1.00"]).encode("utf-32-le")), count=1, total="1.00")


def case_malformed_ragged(landing):
    text = pay_csv(["1.00", "2.00"]).replace("2.00,CNY", "2.00,CNY,extra")
    return NAME, drop(landing, NAME, text.encode(), count=2, total="3.00")


def case_malformed_short_row(landing):
    text = pay_csv(["1.00", "2.00"]) + "R9,2026-11-27\n"
    return NAME, drop(landing, NAME, text.encode(), count=3, total="3.00")


def case_malformed_unclosed_quote(landing):
    text = pay_csv(["1.00"]) + csv_text([], [pay_row("R2", "2.00")]).replace("李芳", '"李芳')
    return NAME, drop(landing, NAME, text.encode(), count=2, total="3.00")


def case_malformed_quote_in_unquoted_field(landing):
    text = pay_csv(["1.00"]).replace("张伟", 'Zhang "Wei"')
    return NAME, drop(landing, NAME, text.encode(), count=1, total="1.00")


def case_malformed_text_after_closing_quote(landing):
    text = pay_csv(["1.00"]).replace("张伟", '"Zhang"Wei')
    return NAME, drop(landing, NAME, text.encode(), count=1, total="1.00")


def case_malformed_bare_cr(landing):
    text = pay_csv(["1.00", "2.00"]).replace("\n", "\r", 2).replace("\r", "\n", 1)
    return NAME, drop(landing, NAME, text.encode(), count=2, total="3.00")


def case_malformed_empty_line_in_middle(landing):
    text = pay_csv(["1.00"]) + "\n" + csv_text([], [pay_row("R2", "2.00")])
    return NAME, drop(landing, NAME, text.encode(), count=2, total="3.00")


def case_malformed_truncated_gz(landing):
    name = f"{STEM}.csv.gz"
    packed = gz(pay_csv(["1.00"] * 50).encode())
    return name, drop(landing, name, packed[: len(packed) // 2], count=50, total="50.00")


def case_malformed_not_gzip(landing):
    name = f"{STEM}.csv.gz"
    return name, drop(landing, name, pay_csv(["1.00"]).encode(), count=1, total="1.00")


def case_header_missing_amount(landing):
    header = [c for c in PAY_HEADER if c != "amount"]
    rows = [[c for i, c in enumerate(pay_row("R1", "1.00")) if PAY_HEADER[i] != "amount"]]
    return NAME, drop(landing, NAME, csv_text(header, rows).encode(), count=1, total="0.00")


def case_header_unknown_column(landing):
    data = csv_text([*PAY_HEADER, "memo"], [[*pay_row("R1", "1.00"), "x"]]).encode()
    return NAME, drop(landing, NAME, data, count=1, total="1.00")


def case_header_wrong_case(landing):
    header = ["Amount" if c == "amount" else c for c in PAY_HEADER]
    return NAME, drop(
        landing, NAME, csv_text(header, [pay_row("R1", "1.00")]).encode(), count=1, total="0.00"
    )


def case_header_no_header_row(landing):
    return NAME, drop(landing, NAME, b"", count=0, total="0.00")


def case_header_loan_column_in_pay(landing):
    data = csv_text([*PAY_HEADER, "phone"], [[*pay_row("R1", "1.00"), "13800138000"]]).encode()
    return NAME, drop(landing, NAME, data, count=1, total="1.00")


def case_count_more(landing):
    return NAME, drop(landing, NAME, two_rows(), count=3, total="123.45")


def case_count_leading_zero_ok_but_wrong(landing):
    return NAME, drop(landing, NAME, two_rows(), count="0001", total="123.45")


def case_total_off_by_a_cent(landing):
    return NAME, drop(landing, NAME, two_rows(), count=2, total="123.44")


def case_total_half_up_not_half_even(landing):
    # 0.125 + 0.000 = 0.125 exactly; half-up gives 0.13 (half-even would give 0.12).
    return NAME, drop(landing, NAME, pay_csv(["0.125", "0.000"]).encode(), count=2, total="0.12")


def case_total_counts_non_plain_as_zero(landing):
    # Only "10.50" and "-0.50" are plain decimals: the total is 10.00, not 10.00 + 1000 + 5 + ...
    amounts = ["10.50", "1000", "1,000.00", " 5.00", "5.00 ", "1e3", "+5", "５", ".5", "5.", "abc", "-0.50"]
    amounts[1] = "0x10"
    return NAME, drop(landing, NAME, pay_csv(amounts).encode(), count=12, total="1015.00")


def case_total_rounded_before_compare(landing):
    # 0.004 + 0.004 = 0.008 -> 0.01; a client that rounds each cell first writes 0.00 and is refused.
    return NAME, drop(landing, NAME, pay_csv(["0.004", "0.004"]).encode(), count=2, total="0.00")


def case_empty(landing):
    return NAME, drop(landing, NAME, csv_text(PAY_HEADER, []).encode(), count=0, total="0.00")


def case_empty_crlf_trailing_lines(landing):
    return NAME, drop(
        landing, NAME, csv_text(PAY_HEADER, [], eol="\r\n").encode() + b"\r\n", count=0, total="0.00"
    )


def case_too_large(landing, monkeypatch):
    monkeypatch.setenv("DAYBOOK_MAX_FILE_BYTES", "200")
    data = pay_csv(["1.00"] * 3).encode()
    assert len(data) > 200
    return NAME, drop(landing, NAME, data, count=3, total="3.00")


def case_too_large_gz_expands(landing, monkeypatch):
    monkeypatch.setenv("DAYBOOK_MAX_FILE_BYTES", "2000")
    name = f"{STEM}.csv.gz"
    data = gz(pay_csv(["1.00"] * 100).encode())
    assert len(data) < 2000 < len(pay_csv(["1.00"] * 100).encode())
    return name, drop(landing, name, data, count=100, total="100.00")


# Precedence (section 6): two defects in one file, the earlier code speaks.
def case_prec_control_over_checksum(landing):
    data = two_rows()
    return NAME, drop(landing, NAME, data, control=ctl(NAME, "x", "123.45", "0" * 64))


def case_prec_checksum_over_malformed(landing):
    data = pay_csv(["1.00"]).encode() + b"a,b\n"
    return NAME, drop(landing, NAME, data, control=ctl(NAME, 2, "1.00", b"other"))


def case_prec_too_large_over_date(landing, monkeypatch):
    monkeypatch.setenv("DAYBOOK_MAX_FILE_BYTES", "100")
    name = f"{CLIENT}_PAY_20261128_001.csv"
    return name, drop(landing, name, two_rows(), count=2, total="123.45")


def case_prec_too_large_gz_expansion_over_date(landing, monkeypatch):
    monkeypatch.setenv("DAYBOOK_MAX_FILE_BYTES", "2000")
    name = f"{CLIENT}_PAY_20261128_001.csv.gz"  # a Saturday
    plain = pay_csv(["1.00"] * 100).encode()
    data = gz(plain)
    assert len(data) < 2000 < len(plain), "small as dropped, too large once expanded"
    return name, drop(landing, name, data, count=100, total="100.00")


def case_prec_date_over_truncated_gz(landing):
    name = f"{CLIENT}_PAY_20261128_001.csv.gz"  # a Saturday; F_MALFORMED comes after F_DATE
    packed = gz(pay_csv(["1.00"] * 50).encode())
    return name, drop(landing, name, packed[: len(packed) // 2], count=50, total="50.00")


def case_prec_date_over_encoding(landing):
    name = f"{CLIENT}_PAY_20261128_001.csv"
    return name, drop(landing, name, pay_csv(["1.00"]).encode("utf-16"), count=1, total="1.00")


def case_prec_encoding_over_malformed(landing):
    # A ragged first row, and an invalid byte (neither UTF-8 nor GB18030) near the end.
    text = pay_csv(["1.00", "2.00"]).replace("1.00,CNY", "1.00,CNY,x")
    return NAME, drop(landing, NAME, text.encode() + b"\x80\x80\n", count=2, total="3.00")


def case_prec_malformed_over_header(landing):
    data = csv_text([*PAY_HEADER, "memo"], [[*pay_row("R1", "1.00"), "x"], pay_row("R2", "2.00")]).encode()
    return NAME, drop(landing, NAME, data, count=2, total="3.00")


def case_prec_header_over_count(landing):
    data = csv_text([*PAY_HEADER, "memo"], [[*pay_row("R1", "1.00"), "x"]]).encode()
    return NAME, drop(landing, NAME, data, count=5, total="1.00")


def case_prec_count_over_total(landing):
    return NAME, drop(landing, NAME, two_rows(), count=1, total="9.99")


def case_prec_total_over_empty(landing):
    return NAME, drop(landing, NAME, csv_text(PAY_HEADER, []).encode(), count=0, total="1.00")


CODE_CASES = [
    ("F_CONTROL", case_control_three_fields),
    ("F_CONTROL", case_control_names_other_file),
    ("F_CONTROL", case_control_total_one_decimal),
    ("F_CONTROL", case_control_count_not_integer),
    ("F_CONTROL", case_control_not_utf8),
    ("F_CONTROL", case_control_two_lines),
    ("F_CHECKSUM", case_checksum),
    ("F_CHECKSUM", case_checksum_of_uncompressed_bytes_for_gz),
    ("F_DATE", case_date_weekend),
    ("F_DATE", case_date_holiday),
    ("F_DATE", case_date_closed_day),
    ("F_ENCODING", case_encoding_utf16),
    ("F_ENCODING", case_encoding_bom_then_gbk),
    ("F_ENCODING", case_encoding_latin1),
    ("F_ENCODING", case_encoding_utf16le_without_bom),
    ("F_ENCODING", case_encoding_utf16be_without_bom),
    ("F_ENCODING", case_encoding_utf32le_without_bom_gz),
    ("F_MALFORMED", case_malformed_ragged),
    ("F_MALFORMED", case_malformed_short_row),
    ("F_MALFORMED", case_malformed_unclosed_quote),
    ("F_MALFORMED", case_malformed_quote_in_unquoted_field),
    ("F_MALFORMED", case_malformed_text_after_closing_quote),
    ("F_MALFORMED", case_malformed_bare_cr),
    ("F_MALFORMED", case_malformed_empty_line_in_middle),
    ("F_MALFORMED", case_malformed_truncated_gz),
    ("F_MALFORMED", case_malformed_not_gzip),
    ("F_HEADER", case_header_missing_amount),
    ("F_HEADER", case_header_unknown_column),
    ("F_HEADER", case_header_wrong_case),
    ("F_HEADER", case_header_no_header_row),
    ("F_HEADER", case_header_loan_column_in_pay),
    ("F_COUNT", case_count_more),
    ("F_COUNT", case_count_leading_zero_ok_but_wrong),
    ("F_TOTAL", case_total_off_by_a_cent),
    ("F_TOTAL", case_total_half_up_not_half_even),
    ("F_TOTAL", case_total_counts_non_plain_as_zero),
    ("F_TOTAL", case_total_rounded_before_compare),
    ("F_EMPTY", case_empty),
    ("F_EMPTY", case_empty_crlf_trailing_lines),
    ("F_TOO_LARGE", case_too_large),
    ("F_TOO_LARGE", case_too_large_gz_expands),
    ("F_CONTROL", case_prec_control_over_checksum),
    ("F_CHECKSUM", case_prec_checksum_over_malformed),
    ("F_TOO_LARGE", case_prec_too_large_over_date),
    ("F_TOO_LARGE", case_prec_too_large_gz_expansion_over_date),
    ("F_DATE", case_prec_date_over_truncated_gz),
    ("F_DATE", case_prec_date_over_encoding),
    ("F_ENCODING", case_prec_encoding_over_malformed),
    ("F_MALFORMED", case_prec_malformed_over_header),
    ("F_HEADER", case_prec_header_over_count),
    ("F_COUNT", case_prec_count_over_total),
    ("F_TOTAL", case_prec_total_over_empty),
]


@pytest.mark.parametrize(("code", "case"), CODE_CASES, ids=[c.__name__[5:] for _, c in CODE_CASES])
def test_file_level_code(business_db, intake_zones, monkeypatch, code, case):
    z = intake_zones
    args = (z.landing, monkeypatch) if case.__code__.co_argcount == 2 else (z.landing,)
    name, data = case(*args)
    stem = name.removesuffix(".gz").removesuffix(".csv")
    (result,) = run_intake()
    assert (result["status"], result["code"]) == ("REJECTED", code), rej_of(z, stem)
    assert_rejected(z, name, code, data, control=f"{stem}.ctl")


ONE_PER_CODE = list({code: (code, case) for code, case in CODE_CASES}.values())


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
@pytest.mark.parametrize(("code", "case"), ONE_PER_CODE, ids=[c for c, _ in ONE_PER_CODE])
def test_file_level_code_on_postgres(business_db, intake_zones, monkeypatch, code, case):
    test_file_level_code(business_db, intake_zones, monkeypatch, code, case)


def test_half_up_total_matches_when_written_rounded_up(business_db, intake_zones):
    """The counterpart of the half-up case: 0.125 written as 0.13 is accepted."""
    z = intake_zones
    data = pay_csv(["0.125", "0.000"]).encode()
    drop(z.landing, NAME, data, count=2, total="0.13")
    run_intake()
    assert_accepted(z, NAME, data, 2, 13, "utf-8")


def test_non_plain_amounts_count_as_zero_and_file_is_accepted(business_db, intake_zones):
    z = intake_zones
    amounts = ["10.50", "1,000.00", " 5.00", "1e3", "+5", "５", ".5", "5.", "abc", "-0.50", "NULL", ""]
    data = pay_csv(amounts).encode()
    drop(z.landing, NAME, data, count=12, total="10.00")
    run_intake()
    assert_accepted(z, NAME, data, 12, 1000, "utf-8")


# ---------------------------------------------------------------------------------------------------
# F_NAME: answered in the folder it was dropped in, under its own name without extension
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "rej_stem"),
    [
        ("notes.txt", "notes"),
        (f"{CLIENT}_PAY_{DAY8}_01.csv", f"{CLIENT}_PAY_{DAY8}_01"),
        (f"{CLIENT}_PAY_{DAY8}_001.CSV", f"{CLIENT}_PAY_{DAY8}_001"),
        (f"{CLIENT}_FX_{DAY8}_001.csv", f"{CLIENT}_FX_{DAY8}_001"),
        (f"{CLIENT}_PAY_20261131_001.csv", f"{CLIENT}_PAY_20261131_001"),
        (f"{CLIENT}_PAY_{DAY8}_000.csv", f"{CLIENT}_PAY_{DAY8}_000"),
        (f"TRUSTB_PAY_{DAY8}_001.csv", f"TRUSTB_PAY_{DAY8}_001"),  # another client's name in BANKA/
        (f"{CLIENT}_PAY_{DAY8}_001.csv.zip", f"{CLIENT}_PAY_{DAY8}_001.csv"),
        ("README", "README"),
    ],
)
def test_f_name(business_db, intake_zones, name, rej_stem):
    z = intake_zones
    data = b"anything at all\n"
    z.landing.put(f"{CLIENT}/inbox/{name}", data)
    (result,) = run_intake()
    assert (result["status"], result["code"]) == ("REJECTED", "F_NAME")
    code, _ = rej_of(z, rej_stem)
    assert code == "F_NAME"
    assert z.landing.list(f"{CLIENT}/outbox") == [f"{CLIENT}/outbox/{rej_stem}.rej"]
    assert z.landing.get(f"{CLIENT}/rejected/{name}") == data
    assert z.landing.list(f"{CLIENT}/inbox") == []
    (row,) = files_table()
    assert (row["status"], row["reason_code"], row["folder"], row["name"]) == (
        "REJECTED",
        "F_NAME",
        CLIENT,
        name,
    )


def test_f_name_wins_over_a_bad_control_file(business_db, intake_zones):
    z = intake_zones
    name = f"{CLIENT}_PAY_{DAY8}_1.csv"
    z.landing.put(f"{CLIENT}/inbox/{name}", two_rows())
    z.landing.put(f"{CLIENT}/inbox/{CLIENT}_PAY_{DAY8}_1.ctl", b"garbage")
    results = run_intake()
    assert sorted((r["name"], r["code"]) for r in results) == [
        (f"{CLIENT}_PAY_{DAY8}_1.csv", "F_NAME"),
        (f"{CLIENT}_PAY_{DAY8}_1.ctl", "F_NAME"),
    ]
    assert rej_of(z, f"{CLIENT}_PAY_{DAY8}_1")[0] == "F_NAME"


# ---------------------------------------------------------------------------------------------------
# Arrival, resending, renaming (sections 1, 3; F_DUPLICATE)
# ---------------------------------------------------------------------------------------------------


def test_data_file_without_control_waits_untouched(business_db, intake_zones):
    z = intake_zones
    data = two_rows()
    drop(z.landing, NAME, data)
    assert run_intake() == []
    assert z.landing.list(CLIENT) == [f"{CLIENT}/inbox/{NAME}"]
    assert z.landing.get(f"{CLIENT}/inbox/{NAME}") == data
    assert files_table() == [] and z.raw.list() == []
    # The control file arrives: the next pass picks the pair up.
    z.landing.put(f"{CLIENT}/inbox/{STEM}.ctl", ctl(NAME, 2, "123.45", data))
    (result,) = run_intake()
    assert result["status"] == "INTAKE_OK"
    assert_accepted(z, NAME, data, 2, 12345, "utf-8")


@BOTH_DBS
def test_unknown_client_folder_alerts_and_leaves_files_untouched(business_db, intake_zones):
    z = intake_zones
    data = two_rows()
    name = f"ZZZ9_PAY_{DAY8}_001.csv"
    drop(z.landing, name, data, count=2, total="123.45", folder="ZZZ9")
    before = {k: z.landing.get(k) for k in z.landing.list("ZZZ9")}
    assert run_intake() == []
    assert run_intake() == []  # a second pass does not raise the alert twice
    assert {k: z.landing.get(k) for k in z.landing.list("ZZZ9")} == before
    assert files_table() == []
    (alert,) = alerts()
    assert (alert["kind"], alert["business_date"]) == ("UNKNOWN_CLIENT", DAY)
    assert "ZZZ9" in alert["message"]


@BOTH_DBS
def test_same_stem_resent_is_duplicate(business_db, intake_zones):
    z = intake_zones
    first = two_rows()
    drop(z.landing, NAME, first, count=2, total="123.45")
    run_intake()
    second = pay_csv(["5.00"]).encode()  # new content under the same name
    drop(z.landing, NAME, second, count=1, total="5.00")
    (result,) = run_intake()
    assert result["code"] == "F_DUPLICATE"
    assert z.landing.get(f"{CLIENT}/processed/{NAME}") == first, "the original stays where it was"
    assert_rejected(z, NAME, "F_DUPLICATE", second, control=f"{STEM}.ctl")
    rows = files_table()
    assert [(r["status"], r["original"]) for r in rows] == [("INTAKE_OK", 1), ("REJECTED", 0)]
    assert rows[1]["duplicate_of"] == rows[0]["file_id"]


def test_same_stem_as_gz_is_duplicate(business_db, intake_zones):
    z = intake_zones
    drop(z.landing, NAME, two_rows(), count=2, total="123.45")
    run_intake()
    name = f"{STEM}.csv.gz"
    data = gz(pay_csv(["5.00"]).encode())
    drop(z.landing, name, data, count=1, total="5.00")
    (result,) = run_intake()
    assert result["code"] == "F_DUPLICATE"
    assert_rejected(z, name, "F_DUPLICATE", data)


@BOTH_DBS
def test_same_bytes_under_a_new_name_is_duplicate(business_db, intake_zones):
    z = intake_zones
    data = two_rows()
    drop(z.landing, NAME, data, count=2, total="123.45")
    run_intake()
    renamed = f"{CLIENT}_PAY_{DAY8}_002.csv"
    drop(z.landing, renamed, data, count=2, total="123.45")
    (result,) = run_intake()
    assert result["code"] == "F_DUPLICATE"
    assert_rejected(z, renamed, "F_DUPLICATE", data, control=f"{CLIENT}_PAY_{DAY8}_002.ctl")


def test_duplicate_detection_survives_a_restart(business_db, intake_zones):
    """Receipts are in the database: a new process (fresh engine) still sees the earlier file."""
    z = intake_zones
    data = two_rows()
    drop(z.landing, NAME, data, count=2, total="123.45")
    run_intake()
    db._engine_for.cache_clear()
    drop(z.landing, f"{CLIENT}_PAY_{DAY8}_009.csv", data, count=2, total="123.45")
    (result,) = run_intake()
    assert result["code"] == "F_DUPLICATE"


def test_a_rejected_file_for_its_content_is_not_a_duplicate_source(business_db, intake_zones):
    """A file refused for F_TOTAL was received: its stem cannot be reused (F_DUPLICATE)."""
    z = intake_zones
    drop(z.landing, NAME, two_rows(), count=2, total="1.00")
    assert run_intake()[0]["code"] == "F_TOTAL"
    fixed = pay_csv(["1.00"]).encode()
    drop(z.landing, NAME, fixed, count=1, total="1.00")
    assert run_intake()[0]["code"] == "F_DUPLICATE"


@pytest.mark.parametrize("first_code", ["F_CONTROL", "F_CHECKSUM"])
@BOTH_DBS
def test_refused_for_control_or_checksum_may_be_resent_under_the_same_name(
    business_db, intake_zones, first_code
):
    """Decision: a file refused with F_CONTROL or F_CHECKSUM was not "received" for F_DUPLICATE."""
    z = intake_zones
    data = two_rows()
    bad = ctl(NAME, "two", "123.45", data) if first_code == "F_CONTROL" else ctl(NAME, 2, "123.45", b"x")
    drop(z.landing, NAME, data, control=bad)
    assert run_intake()[0]["code"] == first_code
    drop(z.landing, NAME, data, count=2, total="123.45")  # same name, same bytes, good control file
    (result,) = run_intake()
    assert result["status"] == "INTAKE_OK", result
    assert z.landing.get(f"{CLIENT}/processed/{NAME}") == data
    assert not z.landing.exists(f"{CLIENT}/outbox/{STEM}.rej"), "the stale .rej is withdrawn"
    rows = files_table()
    assert [(r["reason_code"], r["original"]) for r in rows] == [(first_code, 0), (None, 1)]


def test_other_open_date_waits_for_its_own_day(business_db, intake_zones):
    z = intake_zones
    name = f"{CLIENT}_PAY_20261130_001.csv"  # Monday, open, not today's run
    drop(z.landing, name, two_rows(), count=2, total="123.45")
    assert run_intake() == []
    assert z.landing.exists(f"{CLIENT}/inbox/{name}")
    (result,) = run_intake("2026-11-30")
    assert result["status"] == "INTAKE_OK"


@pytest.mark.parametrize(
    ("day8", "ahead", "answered"),
    [
        ("20261225", "", False),  # 28 days after the 27th: waits for its run
        ("20261228", "", True),  # 31 days: F_DATE
        ("20261130", "2", True),  # with DAYBOOK_MAX_DAYS_AHEAD=2, the next Monday is 3 days ahead
        ("20261130", "3", False),
    ],
)
def test_a_date_too_far_ahead_is_f_date_a_nearer_one_waits(
    business_db, intake_zones, monkeypatch, day8, ahead, answered
):
    z = intake_zones
    monkeypatch.setenv("DAYBOOK_MAX_DAYS_AHEAD", ahead)
    day = f"{day8[:4]}-{day8[4:6]}-{day8[6:]}"
    name = f"{CLIENT}_PAY_{day8}_001.csv"
    drop(z.landing, name, two_rows(), count=2, total="123.45")
    results = run_intake()
    if not answered:
        assert results == []
        assert z.landing.exists(f"{CLIENT}/inbox/{name}")
        return
    assert [r["code"] for r in results] == ["F_DATE"]
    limit = ahead or "30"
    assert rej_of(z, f"{CLIENT}_PAY_{day8}_001") == (
        "F_DATE",
        f"business date {day} is not open for processing: it is more than {limit} days after "
        "today's business date 2026-11-27",
    )


def _day_status(day: str) -> str | None:
    with db.begin() as conn:
        return conn.execute(
            sqlalchemy.text("SELECT status FROM business_days WHERE business_date = :d"), {"d": day}
        ).scalar()


@BOTH_DBS
def test_a_past_business_day_never_run_waits_for_a_backfill_of_it(business_db, intake_zones):
    # 2026-11-26 (Thursday) is a business day before today's run (2026-11-27) that was never run.
    # Today's run may come before an operator's backfill of the missed day: the file must still be
    # there for it, not refused.
    z = intake_zones
    name = f"{CLIENT}_PAY_20261126_001.csv"
    drop(z.landing, name, two_rows(), count=2, total="123.45")
    assert run_intake() == []
    assert z.landing.exists(f"{CLIENT}/inbox/{name}")
    assert not z.landing.exists(f"{CLIENT}/outbox/{CLIENT}_PAY_20261126_001.rej")
    assert _day_status("2026-11-26") is None
    assert _day_status(DAY) == "OPEN"  # the run opened its own day
    (result,) = run_intake("2026-11-26")  # the backfill of the 26th takes it
    assert result["status"] == "INTAKE_OK"


@pytest.mark.parametrize("was_run", [False, True])
def test_a_file_waiting_for_a_past_day_is_alerted_at_the_cutoff_and_clears_when_taken(
    business_db, intake_zones, was_run
):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from daybook import alerting

    shanghai = ZoneInfo("Asia/Shanghai")
    z = intake_zones
    if was_run:
        assert run_intake("2026-11-26") == []  # the 26th ran before its file came
    name = f"{CLIENT}_PAY_20261126_001.csv"
    drop(z.landing, name, two_rows(), count=2, total="123.45")
    assert run_intake() == []
    before = intake.alert_at_cutoff(DAY, now=datetime(2026, 11, 27, 12, 0, tzinfo=shanghai))
    assert [a for a in before if a["kind"] == "PAST_DATE_FILE"] == []  # not before the cutoff
    raised = intake.alert_at_cutoff(DAY, now=datetime(2026, 11, 27, 23, 0, tzinfo=shanghai))
    assert [(a["kind"], a["name"]) for a in raised if a["kind"] == "PAST_DATE_FILE"] == [
        ("PAST_DATE_FILE", name)
    ]
    [event] = [a for a in alerts() if a["kind"] == "PAST_DATE_FILE"]
    assert event["dedup_key"] == f"past-date:{CLIENT}/{name}:{DAY}"
    hint = "that day was run: rerun its intake_daily" if was_run else "that day was never run: backfill it"
    assert f"{CLIENT}/inbox/{name} is complete but dated 2026-11-26" in event["message"]
    assert hint in event["message"]
    assert alerting.cleared(event) is False
    intake.alert_at_cutoff(DAY, now=datetime(2026, 11, 27, 23, 30, tzinfo=shanghai))
    assert len([a for a in alerts() if a["kind"] == "PAST_DATE_FILE"]) == 1  # recorded once
    (result,) = run_intake("2026-11-26")
    assert result["status"] == "INTAKE_OK"
    assert alerting.cleared(event) is True


def test_a_past_day_that_was_opened_and_not_closed_waits_for_its_own_runs(business_db, intake_zones):
    z = intake_zones
    assert run_intake("2026-11-26") == []  # the run of the 26th opened it (nothing dropped yet)
    assert _day_status("2026-11-26") == "OPEN"
    name = f"{CLIENT}_PAY_20261126_001.csv"
    drop(z.landing, name, two_rows(), count=2, total="123.45")
    assert run_intake() == []  # the 27th's run leaves it to the 26th's runs
    assert z.landing.exists(f"{CLIENT}/inbox/{name}")
    (result,) = run_intake("2026-11-26")  # a rerun of the 26th takes it
    assert result["status"] == "INTAKE_OK"


@pytest.mark.parametrize(
    ("day8", "closed", "reason"),
    [
        ("20261128", False, "it is not a business day"),  # Saturday
        ("20261001", False, "it is not a business day"),  # National Day
        ("20261126", True, "that day is already closed"),
    ],
)
def test_f_date_says_why_the_day_is_not_open(business_db, intake_zones, day8, closed, reason):
    z = intake_zones
    day = f"{day8[:4]}-{day8[4:6]}-{day8[6:]}"
    if closed:
        run_intake(day)
        with db.begin() as conn:
            db.run(conn, "upsert_business_day_closed", {"business_date": day})
    name = f"{CLIENT}_PAY_{day8}_001.csv"
    drop(z.landing, name, two_rows(), count=2, total="123.45")
    (result,) = run_intake()
    assert result["code"] == "F_DATE"
    assert rej_of(z, f"{CLIENT}_PAY_{day8}_001") == (
        "F_DATE",
        f"business date {day} is not open for processing: {reason}",
    )


@BOTH_DBS
def test_opening_a_day_never_reopens_a_closed_one_and_closing_stamps_it_once(business_db, intake_zones):
    intake.open_day(date(2026, 11, 26))
    intake.open_day(date(2026, 11, 26))
    assert _day_status("2026-11-26") == "OPEN"
    with db.begin() as conn:
        db.run(conn, "upsert_business_day_closed", {"business_date": "2026-11-26"})
        first = conn.execute(
            sqlalchemy.text("SELECT closed_at FROM business_days WHERE business_date = '2026-11-26'")
        ).scalar()
    assert first is not None
    intake.open_day(date(2026, 11, 26))
    with db.begin() as conn:
        db.run(conn, "upsert_business_day_closed", {"business_date": "2026-11-26"})
        again = conn.execute(
            sqlalchemy.text("SELECT status, closed_at FROM business_days WHERE business_date = '2026-11-26'")
        ).one()
    assert tuple(again) == ("CLOSED", first)
    intake.open_day(date(2026, 11, 28))  # a Saturday is never opened
    assert _day_status("2026-11-28") is None


@pytest.mark.parametrize("named", [f"{STEM}.csv", f"{STEM}.csv.gz"])
def test_csv_and_csv_gz_of_one_stem_the_control_file_completes_the_one_it_names(
    business_db, intake_zones, named
):
    """Section 3: a data file is complete only when its control file exists. With both
    ``<stem>.csv`` and ``<stem>.csv.gz`` in the inbox and one ``<stem>.ctl``, the control file
    completes the file it names, which is answered; the other is incomplete and waits untouched
    (it used to be paired with the control file too, and its turn failed once that was moved)."""
    z = intake_zones
    plain = two_rows()
    files = {f"{STEM}.csv": plain, f"{STEM}.csv.gz": gz(plain)}
    for name, data in files.items():
        z.landing.put(f"{CLIENT}/inbox/{name}", data)
    z.landing.put(f"{CLIENT}/inbox/{STEM}.ctl", ctl(named, 2, "123.45", files[named]))
    (other,) = set(files) - {named}
    (result,) = run_intake()
    assert (result["name"], result["status"]) == (named, "INTAKE_OK")
    encoding = "utf-8"
    assert_accepted(z, named, files[named], 2, 12345, encoding)
    assert z.landing.list(f"{CLIENT}/inbox") == [f"{CLIENT}/inbox/{other}"]
    assert z.landing.get(f"{CLIENT}/inbox/{other}") == files[other]
    assert run_intake() == [], "the other file waits for a control file of its own"
