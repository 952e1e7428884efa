"""Unit tests of daybook.fileformat: contract sections 2-4 and the decisions documented in the module."""

from __future__ import annotations

import csv
import dataclasses
import datetime
import gzip
import hashlib
import io
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daybook import fileformat
from daybook.codes import FileRejection
from daybook.fileformat import (
    Control,
    FileName,
    amount_total_cents,
    check_counts,
    check_header,
    decompress,
    detect_encoding,
    iter_gunzip,
    parse_control,
    parse_csv,
    parse_name,
    sha256_hex,
    stem_of,
)

TYPES = ("PAY", "LOAN")
SHA = "ab" * 32


def rejection(code: str, func, *args, **kwargs) -> str:
    """Call ``func`` expecting a FileRejection with ``code``; return its message."""
    with pytest.raises(FileRejection) as info:
        func(*args, **kwargs)
    assert info.value.code == code, info.value
    assert info.value.message and "\n" not in info.value.message
    return info.value.message


# ---------------------------------------------------------------------------------------------------
# Section 2: names
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "ABC_PAY_20240131_001.csv",
            FileName("ABC", "PAY", datetime.date(2024, 1, 31), "001", "ABC_PAY_20240131_001", "data", False),
        ),
        (
            "ABC_PAY_20240131_001.csv.gz",
            FileName("ABC", "PAY", datetime.date(2024, 1, 31), "001", "ABC_PAY_20240131_001", "data", True),
        ),
        (
            "ABC_PAY_20240131_001.ctl",
            FileName(
                "ABC", "PAY", datetime.date(2024, 1, 31), "001", "ABC_PAY_20240131_001", "control", False
            ),
        ),
        (
            "BANK0123456789XY_LOAN_20240229_999.csv",
            FileName(
                "BANK0123456789XY",
                "LOAN",
                datetime.date(2024, 2, 29),
                "999",
                "BANK0123456789XY_LOAN_20240229_999",
                "data",
                False,
            ),
        ),
        (
            "007_PAY_19991231_010.csv",
            FileName("007", "PAY", datetime.date(1999, 12, 31), "010", "007_PAY_19991231_010", "data", False),
        ),
    ],
)
def test_parse_name_valid(name: str, expected: FileName) -> None:
    assert parse_name(name, TYPES) == expected


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("ABC_PAY_20240131_001.CSV", ".csv, .csv.gz or .ctl"),  # case-sensitive
        ("ABC_PAY_20240131_001.csv.GZ", ".csv, .csv.gz or .ctl"),
        ("ABC_PAY_20240131_001.Ctl", ".csv, .csv.gz or .ctl"),
        ("ABC_PAY_20240131_001.txt", ".csv, .csv.gz or .ctl"),
        ("ABC_PAY_20240131_001", ".csv, .csv.gz or .ctl"),
        ("ABC_PAY_20240131_001.csv\n", ".csv, .csv.gz or .ctl"),
        ("ABC_PAY_20240131_001.gz", ".csv, .csv.gz or .ctl"),
        ("ABC_PAY_001.csv", "does not follow"),
        ("ABCPAY20240131001.csv", "does not follow"),
        (".csv", "does not follow"),
        ("abc_PAY_20240131_001.csv", "client id 'abc'"),
        ("AB_PAY_20240131_001.csv", "3-16 characters"),
        ("ABCDEFGHIJKLMNOPQ_PAY_20240131_001.csv", "3-16 characters"),  # 17 characters
        ("AB-C_PAY_20240131_001.csv", "client id"),
        (" ABC_PAY_20240131_001.csv", "client id"),
        ("ＡＢＣ_PAY_20240131_001.csv", "client id"),  # full-width letters
        ("ABC_pay_20240131_001.csv", "file type 'pay'"),
        ("ABC_FX_20240131_001.csv", "LOAN, PAY"),
        ("ABC__20240131_001.csv", "file type ''"),
        ("ABC_PAY_X_20240131_001.csv", "file type 'PAY_X'"),
        ("ABC_PAY_20230229_001.csv", "not a real calendar date"),
        ("ABC_PAY_20241301_001.csv", "not a real calendar date"),
        ("ABC_PAY_20240100_001.csv", "not a real calendar date"),
        ("ABC_PAY_00000101_001.csv", "not a real calendar date"),
        ("ABC_PAY_2024013_001.csv", "8 digits"),
        ("ABC_PAY_202401311_001.csv", "8 digits"),
        ("ABC_PAY_2024-1-31_001.csv", "8 digits"),
        ("ABC_PAY_２０２４０１３１_001.csv", "8 digits"),  # full-width digits
        ("ABC_PAY_20240131_000.csv", "001 to 999"),
        ("ABC_PAY_20240131_01.csv", "001 to 999"),
        ("ABC_PAY_20240131_1000.csv", "001 to 999"),
        ("ABC_PAY_20240131_00a.csv", "001 to 999"),
        ("ABC_PAY_20240131_٠٠١.csv", "001 to 999"),  # Arabic-Indic digits
        ("ABC_PAY_20240131_001_X.csv", "file type"),  # one part too many
    ],
)
def test_parse_name_rejects(name: str, hint: str) -> None:
    assert hint in rejection("F_NAME", parse_name, name, TYPES)


def test_parse_name_types_are_a_parameter() -> None:
    # A new type is registered, not coded; a type may even hold an underscore (the date and seq are
    # taken from the right, the client id from the left).
    parsed = parse_name("ABC_FX_SPOT_20240131_001.csv", {"FX_SPOT"})
    assert (parsed.client_id, parsed.type, parsed.seq) == ("ABC", "FX_SPOT", "001")
    rejection("F_NAME", parse_name, "ABC_PAY_20240131_001.csv", {"FX_SPOT"})
    rejection("F_NAME", parse_name, "ABC_PAY_20240131_001.csv", ())


def test_file_name_is_frozen() -> None:
    parsed = parse_name("ABC_PAY_20240131_001.csv", TYPES)
    with pytest.raises(dataclasses.FrozenInstanceError):
        parsed.seq = "002"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("name", "stem"),
    [
        ("ABC_PAY_20240131_001.csv", "ABC_PAY_20240131_001"),
        ("ABC_PAY_20240131_001.csv.gz", "ABC_PAY_20240131_001"),
        ("ABC_PAY_20240131_001.ctl", "ABC_PAY_20240131_001"),
        # Decision: any other name loses its last extension only.
        ("foo.txt", "foo"),
        ("foo.tar.gz", "foo.tar"),
        ("ABC_PAY_20240131_001.CSV", "ABC_PAY_20240131_001"),
        ("report.final.xlsx", "report.final"),
        ("foo.", "foo"),
        # Decision: no extension, or a dot file, is kept as is (never an empty stem).
        ("README", "README"),
        (".hidden", ".hidden"),
        (".csv", ".csv"),
        ("..", ".."),
    ],
)
def test_stem_of(name: str, stem: str) -> None:
    assert stem_of(name) == stem


# ---------------------------------------------------------------------------------------------------
# Section 3: control file, sha256, amount total, counts
# ---------------------------------------------------------------------------------------------------

DATA = "ABC_PAY_20240131_001.csv"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (f"{DATA}|120|1234.50|{SHA}".encode(), Control(DATA, 120, 123450, SHA)),
        (f"{DATA}|120|1234.50|{SHA}\n".encode(), Control(DATA, 120, 123450, SHA)),
        (f"{DATA}|120|1234.50|{SHA}\r\n".encode(), Control(DATA, 120, 123450, SHA)),
        # Decision: trailing empty lines are ignored, as in CSV files.
        (f"{DATA}|120|1234.50|{SHA}\n\n".encode(), Control(DATA, 120, 123450, SHA)),
        (f"{DATA}|120|1234.50|{SHA}\r\n\r\n".encode(), Control(DATA, 120, 123450, SHA)),
        # Decision: a UTF-8 BOM is tolerated.
        (b"\xef\xbb\xbf" + f"{DATA}|120|1234.50|{SHA}\r\n".encode(), Control(DATA, 120, 123450, SHA)),
        # sha256 in upper case is stored in lower case.
        (f"{DATA}|1|0.01|{SHA.upper()}".encode(), Control(DATA, 1, 1, SHA)),
        # Decision: leading zeros in the count are accepted.
        (f"{DATA}|0120|1234.50|{SHA}".encode(), Control(DATA, 120, 123450, SHA)),
        (f"{DATA}|0|0.00|{SHA}".encode(), Control(DATA, 0, 0, SHA)),
        (f"{DATA}|2|-3.05|{SHA}".encode(), Control(DATA, 2, -305, SHA)),
        (f"{DATA}|2|-0.00|{SHA}".encode(), Control(DATA, 2, 0, SHA)),
        (f"{DATA}|999999999999999999|99999999999999999999.99|{SHA}".encode(),
         Control(DATA, 999999999999999999, 9999999999999999999999, SHA)),
    ],
)  # fmt: skip
def test_parse_control_valid(raw: bytes, expected: Control) -> None:
    assert parse_control(raw, DATA) == expected


@pytest.mark.parametrize(
    ("raw", "hint"),
    [
        (b"", "empty"),
        (b"\n", "empty"),
        (b"\r\n\r\n", "empty"),
        (f"{DATA}|1|1.00|{SHA}\n{DATA}|1|1.00|{SHA}\n".encode(), "one line, found 2"),
        (f"\n{DATA}|1|1.00|{SHA}".encode(), "one line, found 2"),
        (f"{DATA}|1|1.00|{SHA}\n\nx".encode(), "one line, found 3"),
        (f"{DATA}|1|1.00".encode(), "found 3"),
        (f"{DATA}|1|1.00|{SHA}|".encode(), "found 5"),
        (f"{DATA},1,1.00,{SHA}".encode(), "found 1"),
        (f"ABC_PAY_20240131_002.csv|1|1.00|{SHA}".encode(), "names another file"),
        (f"ABC_PAY_20240131_001.csv.gz|1|1.00|{SHA}".encode(), "names another file"),
        (f"abc_pay_20240131_001.csv|1|1.00|{SHA}".encode(), "names another file"),
        (f" {DATA}|1|1.00|{SHA}".encode(), "names another file"),
        (f"{DATA}| 1|1.00|{SHA}".encode(), "record count"),
        (f"{DATA}|+1|1.00|{SHA}".encode(), "record count"),
        (f"{DATA}|-1|1.00|{SHA}".encode(), "record count"),
        (f"{DATA}|1.0|1.00|{SHA}".encode(), "record count"),
        (f"{DATA}||1.00|{SHA}".encode(), "record count"),
        (f"{DATA}|1e3|1.00|{SHA}".encode(), "record count"),
        (f"{DATA}|１|1.00|{SHA}".encode(), "record count"),
        (f"{DATA}|{'1' * 19}|1.00|{SHA}".encode(), "19 digits"),
        (f"{DATA}|{'1' * 5000}|1.00|{SHA}".encode(), "5000 digits"),
        (f"{DATA}|1|1.0|{SHA}".encode(), "exactly 2 decimals"),
        (f"{DATA}|1|1.000|{SHA}".encode(), "exactly 2 decimals"),
        (f"{DATA}|1|1|{SHA}".encode(), "exactly 2 decimals"),
        (f"{DATA}|1|.50|{SHA}".encode(), "exactly 2 decimals"),
        (f"{DATA}|1|+1.00|{SHA}".encode(), "exactly 2 decimals"),
        (f"{DATA}|1|1,000.00|{SHA}".encode(), "exactly 2 decimals"),
        (f"{DATA}|1| 1.00|{SHA}".encode(), "exactly 2 decimals"),
        (f"{DATA}|1|1.00 |{SHA}".encode(), "exactly 2 decimals"),
        (f"{DATA}|1|１.00|{SHA}".encode(), "exactly 2 decimals"),
        (f"{DATA}|1|1.00|{SHA[:-1]}".encode(), "64 hexadecimal"),
        (f"{DATA}|1|1.00|{SHA}0".encode(), "64 hexadecimal"),
        (f"{DATA}|1|1.00|{SHA[:-1]}g".encode(), "64 hexadecimal"),
        (f"{DATA}|1|1.00|{SHA} ".encode(), "64 hexadecimal"),
        (f"{DATA}|1|1.00|{SHA}\r\r\n".encode(), "64 hexadecimal"),
        (f"{DATA}|1|1.00|{SHA}".encode("utf-16"), "not valid UTF-8"),
        ("张三.csv|1|1.00|".encode("gbk") + SHA.encode(), "not valid UTF-8"),
    ],
)
def test_parse_control_rejects(raw: bytes, hint: str) -> None:
    assert hint in rejection("F_CONTROL", parse_control, raw, DATA)


def test_parse_control_message_names_both_files() -> None:
    message = rejection("F_CONTROL", parse_control, f"OTHER.csv|1|1.00|{SHA}".encode(), DATA)
    assert "'OTHER.csv'" in message and repr(DATA) in message


def test_parse_control_reads_the_name_as_utf8() -> None:
    name = "张三.csv"  # never a valid data name, but the control file itself is decoded as UTF-8
    raw = f"{name}|1|1.00|{SHA}".encode()
    assert parse_control(raw, name).record_count == 1


@pytest.mark.parametrize(
    ("data", "digest"),
    [
        (b"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        (b"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
    ],
)
def test_sha256_hex(data: bytes, digest: str) -> None:
    assert sha256_hex(data) == digest


@pytest.mark.parametrize(
    ("cells", "cents"),
    [
        ([], 0),
        (["0.005"], 1),  # half-up
        (["0.004"], 0),
        (["-0.005"], -1),  # half away from zero
        (["-0.004"], 0),
        (["0.025"], 3),  # half-up, not banker's rounding (which gives 2)
        (["12.345"], 1235),
        (["1.005"], 101),
        (["-1.005"], -101),
        (["0.0049999999"], 0),
        (["0.004", "0.001"], 1),  # summed exactly first, rounded once
        (["0.1", "0.1", "0.1"], 30),  # exact, no binary floating point
        (["1", "2.5", "-0.25"], 325),
        (["007"], 700),  # leading zeros are a plain decimal
        (["-0"], 0),
        (["999999999999.99"] * 3, 299999999999997),
        (["100.00", "abc", "", "NA", "NULL", "None"], 10000),
        ([" 1.00"], 0),  # not even spaces
        (["1.00 "], 0),
        (["1e3"], 0),
        (["1E3"], 0),
        (["１"], 0),  # full-width digit
        (["٣"], 0),  # Arabic-Indic digit: Decimal() would accept it
        (["1_000"], 0),  # Decimal() would accept it
        (["+1"], 0),
        (["1,000.00"], 0),
        (["1."], 0),
        ([".5"], 0),
        (["-"], 0),
        (["--1"], 0),
        (["NaN"], 0),
        (["Infinity"], 0),
        (["1.0\n"], 0),
    ],
)
def test_amount_total_cents(cells: list[str], cents: int) -> None:
    assert amount_total_cents(cells) == cents


def test_amount_total_cents_accepts_any_iterable_and_huge_numbers() -> None:
    assert amount_total_cents(iter(["1.10", "2.20"])) == 330
    # Exact beyond the 28 digits of the default decimal context and beyond Python's int-string limit.
    assert amount_total_cents(["1" * 40, "0.01"]) == int("1" * 40) * 100 + 1
    assert amount_total_cents(["9" * 5000]) == (10**5000 - 1) * 100


@given(st.lists(st.integers(min_value=-(10**14), max_value=10**14), max_size=30))
def test_amount_total_cents_matches_integer_cents(values: list[int]) -> None:
    cells = [("-" if v < 0 else "") + f"{abs(v) // 100}.{abs(v) % 100:02d}" for v in values]
    assert amount_total_cents(cells) == sum(values)


def control(count: int, cents: int) -> Control:
    return Control(DATA, count, cents, SHA)


def test_check_counts_passes() -> None:
    assert check_counts(control(2, 1050), 2, 1050) is None


@pytest.mark.parametrize(
    ("ctl", "n_rows", "total", "code", "message"),
    [
        (control(120, 100), 118, 100, "F_COUNT", "the control file says 120 records, the data file has 118"),
        (control(2, 100), 3, 999, "F_COUNT", "the control file says 2 records, the data file has 3"),  # count first
        (control(0, 0), 1, 0, "F_COUNT", "the control file says 0 records, the data file has 1"),
        (control(2, 100), 2, 99, "F_TOTAL", "the control file says the amount total is 1.00, the data file's amounts sum to 0.99"),
        (control(2, -5), 2, 0, "F_TOTAL", "the control file says the amount total is -0.05, the data file's amounts sum to 0.00"),
        (control(2, 123456789012345), 2, 1, "F_TOTAL", "the control file says the amount total is 1234567890123.45, the data file's amounts sum to 0.01"),
        (control(0, 5), 0, 0, "F_TOTAL", "the control file says the amount total is 0.05, the data file's amounts sum to 0.00"),  # total before empty
        (control(0, 0), 0, 0, "F_EMPTY", "the data file has a header but no data rows"),
    ],
)  # fmt: skip
def test_check_counts_precedence(ctl: Control, n_rows: int, total: int, code: str, message: str) -> None:
    assert rejection(code, check_counts, ctl, n_rows, total) == message


def test_check_counts_formats_huge_totals() -> None:
    message = rejection("F_TOTAL", check_counts, control(1, 0), 1, 10**5000 + 7)
    assert message.endswith("0" * 10 + ".07")


# ---------------------------------------------------------------------------------------------------
# Section 4: gzip
# ---------------------------------------------------------------------------------------------------

CSV_BYTES = b"client_ref,amount\nA1,10.00\nA2,20.50\n"
GZ = gzip.compress(CSV_BYTES, mtime=0)


def test_decompress_plain_is_identity() -> None:
    assert decompress(CSV_BYTES, False) == CSV_BYTES
    assert decompress(GZ, False) == GZ  # a .csv is never gunzipped, even if it is gzip


@pytest.mark.parametrize(
    "raw",
    [GZ, gzip.compress(b"", mtime=0) + GZ, gzip.compress(CSV_BYTES[:10]) + gzip.compress(CSV_BYTES[10:])],
)  # fmt: skip
def test_decompress_gzip_and_concatenated_members(raw: bytes) -> None:
    assert decompress(raw, True) == CSV_BYTES


@pytest.mark.parametrize("keep", [1, 2, 5, 10, len(GZ) // 2, len(GZ) - 8, len(GZ) - 4, len(GZ) - 1])
def test_decompress_truncated(keep: int) -> None:
    assert "truncated" in rejection("F_MALFORMED", decompress, GZ[:keep], True)


def test_decompress_truncated_second_member() -> None:
    rejection("F_MALFORMED", decompress, GZ + GZ[:-3], True)


@pytest.mark.parametrize(
    ("raw", "hint"),
    [
        (b"", "empty"),
        (CSV_BYTES, "not valid gzip"),  # a plain CSV named .csv.gz
        (GZ[:-8] + bytes([GZ[-8] ^ 0xFF]) + GZ[-7:], "not valid gzip"),  # CRC32 wrong
        (GZ[:-4] + bytes([GZ[-4] ^ 0x01]) + GZ[-3:], "not valid gzip"),  # length wrong
        (GZ[:12] + bytes([GZ[12] ^ 0xFF]) + GZ[13:], "gzip"),  # deflate data damaged
        (GZ + b"garbage", "not valid gzip"),
        (GZ + b"\x00" * 8, "not valid gzip"),  # decision: zero padding is not accepted
    ],
)
def test_decompress_corrupt(raw: bytes, hint: str) -> None:
    assert hint in rejection("F_MALFORMED", decompress, raw, True)


def test_decompress_limit() -> None:
    assert decompress(GZ, True, limit=len(CSV_BYTES)) == CSV_BYTES
    assert "more than" in rejection("F_TOO_LARGE", decompress, GZ, True, limit=len(CSV_BYTES) - 1)


def test_gunzip_stops_a_bomb_early() -> None:
    bomb = gzip.compress(b"\x00" * (50 << 20), mtime=0)  # 50 MiB of zeros, about 50 KiB compressed
    pieces = iter_gunzip([bomb], limit=3 << 20)
    seen = 0
    with pytest.raises(FileRejection) as info:
        for piece in pieces:
            seen += len(piece)
    assert info.value.code == "F_TOO_LARGE"
    assert seen <= 3 << 20


def test_iter_gunzip_chunked_and_large_output() -> None:
    payload = b"x,y\n" + b"1,2\n" * (1 << 20)  # 4 MiB: several capped pieces of output
    raw = gzip.compress(payload, mtime=0) + gzip.compress(b"3,4\n", mtime=0)
    pieces = list(iter_gunzip(raw[i : i + 7] for i in range(0, len(raw), 7)))
    assert b"".join(pieces) == payload + b"3,4\n"
    assert max(len(p) for p in pieces) <= 1 << 20
    assert b"".join(iter_gunzip([raw])) == payload + b"3,4\n"


# ---------------------------------------------------------------------------------------------------
# Section 4: encoding
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "encoding", "text"),
    [
        (b"", "utf-8", ""),
        (b"client_ref,amount\n", "utf-8", "client_ref,amount\n"),  # pure ASCII is UTF-8
        ("payer_name\n张三\n".encode(), "utf-8", "payer_name\n张三\n"),
        (b"\xef\xbb\xbf" + "a,b\r\n张三,1\r\n".encode(), "utf-8-sig", "a,b\r\n张三,1\r\n"),
        (b"\xef\xbb\xbf", "utf-8-sig", ""),
        ("payer_name\n张三\n".encode("gbk"), "gb18030", "payer_name\n张三\n"),
        ("n\n欧阳娜娜,李四\n".encode("gb18030"), "gb18030", "n\n欧阳娜娜,李四\n"),
        ("n\n€𠀀\n".encode("gb18030"), "gb18030", "n\n€𠀀\n"),  # 2- and 4-byte GB18030 sequences
        # Decision: a GB18030 BOM (U+FEFF, bytes 84 31 95 33) is dropped too.
        ("\ufeffa,张\n".encode("gb18030"), "gb18030", "a,张\n"),
        # Surprise: Latin-1 often is valid GB18030 (0xFC 0x6C is a GBK pair): accepted, as mojibake.
        (b"M\xfcller\n", "gb18030", "M黮ler\n"),
        # Surprise: GBK text can be valid UTF-8 (楼 = C2 A5, 隆 = C2 A1); UTF-8 is tried first and wins.
        ("楼隆".encode("gbk"), "utf-8", "¥¡"),
        # A stray NUL is valid in both encodings: the text is UTF-8 (the CSV parser refuses the NUL).
        (b"client_ref,amount\nR1,1\x00\n", "utf-8", "client_ref,amount\nR1,1\x00\n"),
    ],
)
def test_detect_encoding(data: bytes, encoding: str, text: str) -> None:
    assert detect_encoding(data) == (encoding, text)


@pytest.mark.parametrize(
    "data",
    [
        b"caf\xe9\n",  # Latin-1 e-acute before LF: a GB18030 trail byte must be >= 0x40
        b"caf\xe9",  # at the end: incomplete sequence
        b"Jos\xe9 Garc\xeda\n",
        b"\x80",  # a lone 0x80 is invalid in both
        b"\xff",
        b"a,b\n\xff\n",
        "a,b".encode("utf-16"),  # UTF-16 with BOM starts with FF FE
        b"\x93hi\x94",  # Windows-1252 quotes: 0x94 at the end is incomplete
        b"\xed\xa0\x80",  # UTF-8 encoded surrogate: invalid UTF-8, and 0x80 alone invalid GB18030
        # Decision: a UTF-8 BOM then non-UTF-8 is refused, although these bytes are valid GB18030.
        b"\xef\xbb\xbfA\xd5\xc5",
    ],
)
def test_detect_encoding_rejects(data: bytes) -> None:
    message = rejection("F_ENCODING", detect_encoding, data)
    assert "UTF-8" in message and "offset" in message


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
@pytest.mark.parametrize("text", ["client_ref,amount\nR1,1.00\n", "client_ref,payer_name\nR1,王伟\n"])
def test_utf16_and_utf32_without_bom_are_f_encoding(codec: str, text: str) -> None:
    """Contract section 4: UTF-8 or GB18030, anything else is F_ENCODING. These bytes decode as
    UTF-8 or GB18030 (NUL is valid in both), but the text is UTF-16/UTF-32, not CSV in either."""
    data = text.encode(codec)
    assert "UTF-16 or UTF-32" in rejection("F_ENCODING", detect_encoding, data)
    for size in (1, 7, len(data)):
        message = rejection("F_ENCODING", fileformat.stream_encoding, _chunks(data, size), False)
        assert "UTF-16 or UTF-32" in message
    rejection("F_ENCODING", fileformat.scan_table, _chunks(data, 5), False, "amount")
    rejection("F_ENCODING", fileformat.scan_table, _chunks(gzip.compress(data), 5), True, "amount")


def test_a_stray_nul_is_still_f_malformed_not_f_encoding() -> None:
    data = b"client_ref,amount\nR1,1.00\nR2,2\x00.00\n"
    assert "NUL" in rejection("F_MALFORMED", fileformat.scan_table, _chunks(data, 4), False, "amount")


def test_bom_then_invalid_utf8_would_be_valid_gb18030() -> None:
    data = b"\xef\xbb\xbfA\xd5\xc5"
    assert data.decode("gb18030")  # so the refusal above is a decision, not a decoding failure
    assert "byte order mark" in rejection("F_ENCODING", detect_encoding, data)


# ---------------------------------------------------------------------------------------------------
# Section 4: CSV
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "header", "rows"),
    [
        ("a,b\n1,2\n", ["a", "b"], [["1", "2"]]),
        ("a,b\r\n1,2\r\n", ["a", "b"], [["1", "2"]]),
        ("a,b\r\n1,2\n3,4\r\n", ["a", "b"], [["1", "2"], ["3", "4"]]),  # mixed line ends
        ("a,b\n1,2", ["a", "b"], [["1", "2"]]),  # no final line end
        ("a,b\n1,2\n\n\n", ["a", "b"], [["1", "2"]]),  # trailing empty lines ignored
        ("a,b\r\n1,2\r\n\r\n\n\r\n", ["a", "b"], [["1", "2"]]),
        ("a,b\n", ["a", "b"], []),  # header only
        ("a,b", ["a", "b"], []),
        ("a\n\n", ["a"], []),
        # cells exactly as sent: no trimming, no NA guessing, leading zeros kept
        ("a,b,c\nNA,NULL,None\n", ["a", "b", "c"], [["NA", "NULL", "None"]]),
        ("a,b,c\n007, x ,\n", ["a", "b", "c"], [["007", " x ", ""]]),
        ("a,b\n,\n", ["a", "b"], [["", ""]]),
        ("a,b\n\t,1e3\n", ["a", "b"], [["\t", "1e3"]]),
        ("名,额\n张三,１００\n", ["名", "额"], [["张三", "１００"]]),
        # quoting
        ('a,b\n"x,y",2\n', ["a", "b"], [["x,y", "2"]]),
        ('a,b\r\n"x,y",2\r\n', ["a", "b"], [["x,y", "2"]]),
        ('a,b\n"say ""hi""",""\n', ["a", "b"], [['say "hi"', ""]]),
        ('a,b\n"",""""\n', ["a", "b"], [["", '"']]),
        ('"a","b"\n1,2\n', ["a", "b"], [["1", "2"]]),
        ('a,b\n"line1\nline2",2\n', ["a", "b"], [["line1\nline2", "2"]]),
        ('a,b\r\n"line1\r\nline2",2\r\n', ["a", "b"], [["line1\r\nline2", "2"]]),  # CRLF kept in cell
        ('a,b\n"x\ry",2\n', ["a", "b"], [["x\ry", "2"]]),  # CR inside quotes is data
        ('a,b\n"\n\n",2\n', ["a", "b"], [["\n\n", "2"]]),  # empty lines inside quotes are data
        ('a\n"x\n\n"\n\n', ["a"], [["x\n\n"]]),  # trailing empty lines after a multi-line cell
        ('a,b\n1,"2"\r\n', ["a", "b"], [["1", "2"]]),
        ('a,b\n1,""\n', ["a", "b"], [["1", ""]]),
        ('a\n""\n', ["a"], [[""]]),  # one empty cell in a one-column file must be quoted
        # only LF and CRLF end lines
        ("a,b\nx\u2028y,\x0b\x0c\x1c\x85\n", ["a", "b"], [["x\u2028y", "\x0b\x0c\x1c\x85"]]),
        ("a,b\n\x00,2\n", ["a", "b"], [["\x00", "2"]]),
    ],
)
def test_parse_csv(text: str, header: list[str], rows: list[list[str]]) -> None:
    assert parse_csv(text) == (header, rows)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a,b\n1,2,3\n", "data row 1 (line 2) has 3 fields, the header has 2"),
        ("a,b\n1,2\n3\n", "data row 2 (line 3) has 1 field, the header has 2"),
        ("a,b\r\n1,2\r\n3,4,\r\n", "data row 2 (line 3) has 3 fields, the header has 2"),
        ('a,b\n"1,2"\n', "data row 1 (line 2) has 1 field, the header has 2"),
        ('a,b\n"x\ny",2\n3\n', "data row 2 (line 4) has 1 field, the header has 2"),  # after a 2-line cell
        ('"a\nb",c\n1,2\n3\n', "data row 2 (line 4) has 1 field, the header has 2"),
        ('a,b\n1,"2"\n1,2,"3"\n', "data row 2 (line 3) has 3 fields, the header has 2"),
        # Decision: an empty line before the end is malformed, even with one column.
        ("a,b\n1,2\n\n3,4\n", "line 3 is empty"),
        ("a,b\r\n1,2\r\n\r\n3,4\r\n", "line 3 is empty"),
        ("a\n1\n\n2\n", "line 3 is empty"),
        ("\na,b\n1,2\n", "line 1 is empty"),
        ('a,b\n"1",2\n\n3,4\n', "line 3 is empty"),
        # broken quoting
        ('a,b\n"ab"c,2\n', "line 2: a closing quote must be followed by a comma or the line end, found 'c'"),
        ('a,b\n"ab" ,2\n', "found ' '"),
        ('a,b\n1,"ab""\n', "never closed"),
        ('a,b\nab"c,2\n', "line 2: a quote inside an unquoted field"),
        ('a,b\nab",2\n', "a quote inside an unquoted field"),
        ('a,b\n "ab",2\n', "a quote inside an unquoted field"),
        ('a,b\n1,x""\n', "a quote inside an unquoted field"),
        ('a,b\n1,"ab\n', "a quoted field that starts on line 2 is never closed"),
        ('a,b\n1,"ab\n2,3\n4,5\n', "a quoted field that starts on line 2 is never closed"),
        ('a,b\n1,"ab', "a quoted field that starts on line 2 is never closed"),
        ('a,"b\n', "a quoted field that starts on line 1 is never closed"),
        ('"', "a quoted field that starts on line 1 is never closed"),
        # Decision: a CR is only allowed inside quotes or right before LF.
        ("a,b\nx\ry,2\n", "line 2 has a carriage return (CR)"),
        ("a,b\r\n1,2\r\r\n", "line 2 has a carriage return (CR)"),
        ("a,b\r1,2\r", "line 1 ends with a carriage return (CR) without a line feed"),
        ("a,b\n1,2\r", "line 2 ends with a carriage return (CR) without a line feed"),
        ("\r", "line 1 ends with a carriage return"),
        ("a,b\r1,2\n", "line 1 has a carriage return (CR)"),  # old Mac line ends
        ('a,b\n"x"\r,2\n', "found '\\r'"),
        ('a,b\n1,"x"\nx\ry,2\n', "line 3 has a carriage return (CR)"),
        ('a,b\n"x",y\rz\n', "line 2 has a carriage return (CR)"),
    ],
)
def test_parse_csv_malformed(text: str, message: str) -> None:
    assert message in rejection("F_MALFORMED", parse_csv, text)


@pytest.mark.parametrize("text", ["", "\n", "\r\n", "\n\n\r\n"])
def test_parse_csv_without_header_is_f_header(text: str) -> None:
    # Decision: no header row at all is F_HEADER (F_HEADER speaks before F_EMPTY).
    assert rejection("F_HEADER", parse_csv, text) == "the file has no header row"


def test_parse_csv_keeps_gc_state() -> None:
    import gc

    assert gc.isenabled()
    parse_csv("a\n1\n")
    assert gc.isenabled()
    rejection("F_MALFORMED", parse_csv, "a\n1,2\n")
    assert gc.isenabled()


def test_parse_csv_large_quoted_field_falls_back_to_state_machine() -> None:
    big = "x," * (csv.field_size_limit() // 2 + 10)  # above the csv module's field limit
    header, rows = parse_csv(f'a,b\n"{big}",1\n"q",2\n')
    assert rows == [[big, "1"], ["q", "2"]]


def test_full_pipeline_gbk_gzip() -> None:
    text = 'client_ref,payer_name,amount\r\nR1,张三,10.00\r\nR2,"李四, 王五",0.005\r\nR3,赵六,NA\r\n'
    raw = gzip.compress(text.encode("gbk"), mtime=0)
    ctl = parse_control(
        f"ABC_PAY_20240131_001.csv.gz|3|10.01|{sha256_hex(raw)}\n".encode(), "ABC_PAY_20240131_001.csv.gz"
    )
    assert ctl.sha256 == hashlib.sha256(raw).hexdigest()
    encoding, decoded = detect_encoding(decompress(raw, True))
    header, rows = parse_csv(decoded)
    check_header(header, ["client_ref", "payer_name", "amount"], ["purpose"])
    assert encoding == "gb18030"
    assert rows[1] == ["R2", "李四, 王五", "0.005"]
    check_counts(ctl, len(rows), amount_total_cents(row[2] for row in rows))  # 10.005 -> 10.01


# ---------------------------------------------------------------------------------------------------
# Section 4: header
# ---------------------------------------------------------------------------------------------------

REQUIRED = ["client_ref", "amount", "currency"]
OPTIONAL = ["purpose"]


@pytest.mark.parametrize(
    "header",
    [
        ["client_ref", "amount", "currency"],
        ["currency", "client_ref", "amount"],  # any order
        ["purpose", "amount", "currency", "client_ref"],  # optional present
    ],
)
def test_check_header_ok(header: list[str]) -> None:
    assert check_header(header, REQUIRED, OPTIONAL) is None


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (["client_ref", "amount"], "missing required column(s) 'currency'"),
        (["client_ref"], "missing required column(s) 'amount', 'currency'"),
        (["client_ref", "amount", "currency", "memo"], "unknown column(s) 'memo'"),
        (["client_ref", "Amount", "currency"],
         "missing required column(s) 'amount'; unknown column(s) 'Amount' (did you mean 'amount'?)"),
        (["client_ref", " amount", "currency"],
         "missing required column(s) 'amount'; unknown column(s) ' amount' (did you mean 'amount'?)"),
        (["client_ref", "amount", "currency", ""], "unknown column(s) ''"),  # a trailing comma
        (["client_ref", "amount", "currency", "amount"], "repeated column(s) 'amount'"),
        (["client_ref", "amount", "currency", "purpose", "purpose"], "repeated column(s) 'purpose'"),
        (["\ufeffclient_ref", "amount", "currency"],
         "missing required column(s) 'client_ref'; unknown column(s) '\\ufeffclient_ref'"),
        ([""], "missing required column(s) 'amount', 'client_ref', 'currency'; unknown column(s) ''"),
    ],
)  # fmt: skip
def test_check_header_rejects(header: list[str], message: str) -> None:
    assert rejection("F_HEADER", check_header, header, REQUIRED, OPTIONAL) == message


def test_check_header_message_is_deterministic_and_short() -> None:
    # Sets as input: the message must not depend on hash order (return files are byte-reproducible).
    required = {f"col{i}" for i in range(30)}
    message = rejection("F_HEADER", check_header, ["x"], required, set())
    assert message.startswith("missing required column(s) 'col0', 'col1', 'col10'")
    assert "and 20 more" in message


# ---------------------------------------------------------------------------------------------------
# Property tests
# ---------------------------------------------------------------------------------------------------


def _write(table: list[list[str]], lineterminator: str, quoting: int) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=lineterminator, quoting=quoting).writerows(table)
    return buffer.getvalue()


@st.composite
def tables(draw: st.DrawFn, cells: st.SearchStrategy[str]) -> list[list[str]]:
    width = draw(st.integers(min_value=1, max_value=5))
    n_rows = draw(st.integers(min_value=1, max_value=6))  # the header and up to 5 data rows
    return [draw(st.lists(cells, min_size=width, max_size=width)) for _ in range(n_rows)]


CELL_TEXT = st.text(max_size=12)
CSV_ISH_TEXT = st.text(alphabet=st.sampled_from('a,"\r\n 张'), max_size=8)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    table=tables(st.one_of(CELL_TEXT, CSV_ISH_TEXT)),
    lineterminator=st.sampled_from(["\r\n", "\n"]),
    quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]),
)
def test_round_trip_of_python_csv_writer(table: list[list[str]], lineterminator: str, quoting: int) -> None:
    if lineterminator == "\n" and quoting == csv.QUOTE_MINIMAL:
        # Python's csv.writer does not quote a CR when the line terminator is "\n"; a cell ending in CR
        # would then be read as a CRLF line end. Such output is not RFC 4180, so CR is left out here.
        table = [[cell.replace("\r", "") for cell in row] for row in table]
    text = _write(table, lineterminator, quoting)
    assert parse_csv(text) == (table[0], table[1:])


def _reference_parse(text: str) -> list[list[str]]:
    """The exact Python state machine on the whole text, as parse_csv prepares it."""
    lines = text.split("\n")
    while lines and lines[-1] in ("", "\r"):
        lines.pop()
    return fileformat._parse_with_quotes(lines)


def _outcome(func, text: str) -> tuple[str, object]:
    try:
        return "ok", func(text)
    except FileRejection as exc:
        return exc.code, exc.message


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from('ab,"\r\n'), max_size=40))
def test_fast_paths_agree_with_state_machine(text: str) -> None:
    if text.endswith("\r"):
        text += "\n"
    fast = _outcome(parse_csv, text)
    slow = _outcome(_reference_parse, text)
    if fast[0] == "F_HEADER":
        assert slow == ("ok", [])
    elif fast[0] == "ok":
        assert slow[0] == "ok" and slow[1] == [fast[1][0], *fast[1][1]]
    else:
        assert fast == slow


BYTES_CSV_ISH = st.lists(
    st.sampled_from([b",", b'"', b"\r", b"\n", b"a", b"\xe9", b"\xd5\xc5", b"\xef\xbb\xbf", b"\x80", b"\xff", b"\x00", b"\x81\x30"]),
    max_size=30,
).map(b"".join)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=64), BYTES_CSV_ISH))
def test_any_bytes_return_or_raise_file_rejection(data: bytes) -> None:
    try:
        _encoding, text = detect_encoding(data)
        header, rows = parse_csv(text)
        check_header(header, REQUIRED, OPTIONAL)
        amount_total_cents(row[0] for row in rows)
    except FileRejection as exc:
        assert exc.code in {"F_ENCODING", "F_MALFORMED", "F_HEADER"}


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=64), st.binary(max_size=64))
def test_any_bytes_gunzip_or_control_raise_file_rejection(data: bytes, tail: bytes) -> None:
    for raw in (data, gzip.compress(data, mtime=0) + tail, gzip.compress(data, mtime=0)[: len(tail)]):
        try:
            decompress(raw, True)
        except FileRejection as exc:
            assert exc.code == "F_MALFORMED"
    try:
        parse_control(data, DATA)
    except FileRejection as exc:
        assert exc.code == "F_CONTROL"


# ---------------------------------------------------------------------------------------------------
# Streaming: iter_csv over small pieces agrees with parse_csv over the whole text
# ---------------------------------------------------------------------------------------------------


def _stream_outcome(text: str, piece_chars: int, split: int) -> tuple[str, object]:
    pieces = [text[i : i + split] for i in range(0, len(text), split)] or [""]
    try:
        batches = list(fileformat.iter_csv(pieces, piece_chars=piece_chars))
    except FileRejection as exc:
        return exc.code, exc.message
    header = batches[0][0]
    assert all(b[0] is header or b[0] == header for b in batches)
    return "ok", (header, [row for _, rows in batches for row in rows])


def _whole_outcome(text: str) -> tuple[str, object]:
    try:
        return "ok", parse_csv(text)
    except FileRejection as exc:
        return exc.code, exc.message


STREAM_TEXT = st.lists(
    st.sampled_from(["a", "b", ",", '"', "\n", "\r\n", "\r", '""', "x,y", "\n\n", "é", "张"]), max_size=60
).map("".join)


@given(text=STREAM_TEXT, piece_chars=st.integers(1, 12), split=st.integers(1, 7))
@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
def test_iter_csv_in_pieces_equals_parse_csv(text: str, piece_chars: int, split: int) -> None:
    """Same rows, same code and the same message (line and row numbers of the whole file).

    One known difference: parse_csv looks at a last line ending in a lone CR before anything else,
    the stream meets the problems in file order; both are F_MALFORMED.
    """
    streamed, whole = _stream_outcome(text, piece_chars, split), _whole_outcome(text)
    if text.endswith("\r") and whole[0] == "F_MALFORMED":
        assert streamed[0] == "F_MALFORMED"
    else:
        assert streamed == whole


@pytest.mark.parametrize(
    ("text", "code", "needle"),
    [
        ("h1,h2\na,b\nc,d\ne\n", "F_MALFORMED", "data row 3 (line 4)"),
        ("h1,h2\na,b\n\nc,d\n", "F_MALFORMED", "line 3 is empty"),
        ('h1,h2\na,b\n"c,d\n', "F_MALFORMED", "starts on line 3"),
    ],
)
def test_iter_csv_messages_count_lines_of_the_whole_file(text: str, code: str, needle: str) -> None:
    outcome = _stream_outcome(text, 2, 3)
    assert outcome[0] == code and needle in outcome[1]


def _chunks(data: bytes, size: int):
    return lambda: (data[i : i + size] for i in range(0, len(data), size))


@pytest.mark.parametrize("size", [1, 2, 3, 1000])
@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (b"\xef\xbb\xbfa,b\n", "utf-8-sig"),
        ("名,b\n".encode(), "utf-8"),
        ("名,b\n王建华\n".encode("gbk"), "gb18030"),
        ("\ufeff名,b\n".encode("gb18030"), "gb18030"),
        (b"", "utf-8"),
    ],
)
def test_stream_encoding_matches_detect_encoding(data: bytes, encoding: str, size: int) -> None:
    assert fileformat.stream_encoding(_chunks(data, size), False) == encoding
    assert detect_encoding(data)[0] == encoding


@pytest.mark.parametrize("size", [1, 5, 1000])
@pytest.mark.parametrize(
    "data", [b"a,b\n\xff\xfe", b"\xef\xbb\xbfa,\xd5\xc5\n", "h\n".encode("utf-16"), b"abc\x81"]
)
def test_stream_encoding_rejects_like_detect_encoding(data: bytes, size: int) -> None:
    whole = rejection("F_ENCODING", detect_encoding, data)
    assert rejection("F_ENCODING", fileformat.stream_encoding, _chunks(data, size), False) == whole


def test_scan_table_sums_exactly_over_pieces_and_rounds_once() -> None:
    rows = "".join(f"r{i},0.005\n" for i in range(3)) + "x,1e3\ny,-0.001\n"
    data = ("ref,amount\n" + rows).encode()
    scan = fileformat.scan_table(_chunks(data, 4), False, "amount")
    # 3 x 0.005 - 0.001 = 0.014 exactly (1e3 is not a plain decimal); half-up to cents: 0.01
    assert (scan.encoding, scan.header, scan.record_count) == ("utf-8", ["ref", "amount"], 5)
    assert scan.amount_total == Decimal("0.014")
    assert fileformat.cents_half_up(scan.amount_total) == 1


def test_scan_table_encoding_speaks_before_malformed() -> None:
    data = b"a,b\nc\n" + b"\xff" * 3
    rejection("F_ENCODING", fileformat.scan_table, _chunks(data, 2), False, "b")
    rejection("F_MALFORMED", fileformat.scan_table, _chunks(b"a,b\nc\n", 2), False, "b")


def test_scan_table_gzip_limit_is_too_large_even_when_not_decodable() -> None:
    data = gzip.compress(b"\xff" * 5000)
    rejection("F_TOO_LARGE", fileformat.scan_table, _chunks(data, 100), True, "b", limit=1000)
    rejection("F_ENCODING", fileformat.scan_table, _chunks(data, 100), True, "b", limit=10_000)
