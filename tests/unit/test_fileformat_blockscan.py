"""Unit tests of fileformat.BlockScanner: the block scan of a data file gives the parser's answer or none.

The oracle is the contract parser itself (``scan_table(..., block_scan=False)``, whose rules
test_fileformat.py checks against the contract): for any bytes, the block scan either vouches with
exactly the parser's TableScan (header, record count, encoding, exact amount total down to the
Decimal's exponent) or leaves the file to the parser. Ordinary well-formed files must be vouched for,
or the fast path would be dead code.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daybook import fileformat
from daybook.codes import FileRejection
from daybook.fileformat import BlockScanner, TableScan, exact_sum


def _chunks(data: bytes, size: int):
    return lambda: (data[i : i + size] for i in range(0, len(data), size))


def parser(data: bytes, column: str = "amount") -> tuple[str, object]:
    """The contract parser's outcome: ("ok", scan) or (code, message)."""
    try:
        return "ok", fileformat.scan_table(_chunks(data, 7), False, column, block_scan=False)
    except FileRejection as exc:
        return exc.code, exc.message


def block(data: bytes, column: str = "amount", *, chunk: int = 1 << 20, **kwargs) -> TableScan | None:
    with BlockScanner(column, **kwargs) as scanner:
        for i in range(0, len(data), chunk):
            if not scanner.feed(data[i : i + chunk]):
                break
        return scanner.result()


def same_scan(a: TableScan, b: TableScan) -> bool:
    """Equal, and the totals written the same way (``0.014`` is not ``0.0140``)."""
    return a == b and str(a.amount_total) == str(b.amount_total)


def assert_agrees(data: bytes, column: str = "amount", **kwargs) -> TableScan | None:
    quick = block(data, column, **kwargs)
    if quick is not None:
        outcome = parser(data, column)
        assert outcome[0] == "ok", f"block scan vouched for a file the parser refuses: {outcome}"
        assert same_scan(quick, outcome[1]), (quick, outcome[1])
    return quick


# ---------------------------------------------------------------------------------------------------
# Any bytes: the block scan vouches only with the parser's answer
# ---------------------------------------------------------------------------------------------------

PIECES = [
    "amount", "a", ",", '"', '""', "\n", "\r\n", "\r", "\n\n", "1", "-", ".", "0.5", "12.34", "-7",
    "1.005", "张", "\ufeff", "\x00", " ", "1e3",
]  # fmt: skip
CSV_ISH = st.lists(st.sampled_from(PIECES), max_size=50).map("".join)
RAW_BYTES = st.sampled_from(
    [b"", b"\xef\xbb\xbf", b"\xff", b"\xd5\xc5", b"\x81\x30\x81\x30", b"\xed\xa0\x80"]
)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=CSV_ISH,
    prefix=RAW_BYTES,
    suffix=RAW_BYTES,
    block_bytes=st.integers(1, 40),
    chunk=st.integers(1, 9),
    workers=st.sampled_from([1, 2]),
)
def test_block_scan_vouches_only_with_the_parsers_answer(
    text: str, prefix: bytes, suffix: bytes, block_bytes: int, chunk: int, workers: int
) -> None:
    for column in ("amount", "a"):
        assert_agrees(
            prefix + text.encode() + suffix, column, chunk=chunk, block_bytes=block_bytes, workers=workers
        )


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80), st.integers(1, 30))
def test_block_scan_on_arbitrary_bytes(data: bytes, block_bytes: int) -> None:
    assert_agrees(b"amount,b\n" + data, block_bytes=block_bytes, workers=1)


# ---------------------------------------------------------------------------------------------------
# Well-formed files: vouched for, whatever the block and chunk sizes
# ---------------------------------------------------------------------------------------------------

CELLS = st.text(alphabet=st.sampled_from('ab ,"\r\n张-.0'), max_size=8)
AMOUNTS = st.one_of(
    st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-(10**14), max_value=10**14).map(str),
    st.integers(-(10**20), 10**20).map(str),
    st.sampled_from(["", "0", "-0.00", "007.50", "1.", ".5", "1.005", "1e3", "+1", " 1", "１２", "-", "--1",
                     "1.2.3", "12345678901234567.89", "9" * 40 + ".125", "0.0000001", "-9" * 3]),
)  # fmt: skip


@st.composite
def tables(draw: st.DrawFn) -> tuple[list[list[str]], int]:
    width = draw(st.integers(1, 5))
    at = draw(st.integers(0, width - 1))
    header = [f"c{i}" for i in range(width)]
    header[at] = "amount"
    rows = []
    for _ in range(draw(st.integers(0, 12))):
        row = draw(st.lists(CELLS, min_size=width, max_size=width))
        row[at] = draw(AMOUNTS)
        rows.append(row)
    return [header, *rows], at


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    table=tables(),
    eol=st.sampled_from(["\n", "\r\n"]),
    quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]),
    bom=st.booleans(),
    trailing=st.sampled_from(["", "\n", "\r\n\n"]),
    block_bytes=st.integers(1, 64),
    chunk=st.integers(1, 13),
    workers=st.sampled_from([1, 2]),
)
def test_well_formed_files_are_vouched_for(
    table: tuple[list[list[str]], int],
    eol: str,
    quoting: int,
    bom: bool,
    trailing: str,
    block_bytes: int,
    chunk: int,
    workers: int,
) -> None:
    rows, _at = table
    if eol == "\n":  # csv.writer leaves a CR unquoted with LF line ends: not RFC 4180 (see test_fileformat)
        rows = [[cell.replace("\r", "") for cell in row] for row in rows]
    if len(rows[0]) == 1:  # a one-column row with an empty cell would be an empty line
        rows = [row for row in rows if row != [""]]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=eol, quoting=quoting).writerows(rows)
    data = (codecs.BOM_UTF8 if bom else b"") + (buffer.getvalue() + trailing).encode()
    quick = assert_agrees(data, chunk=chunk, block_bytes=block_bytes, workers=workers)
    assert quick is not None, "a well-formed UTF-8 file must not fall back to the parser"
    assert quick.record_count == len(rows) - 1
    assert quick.encoding == ("utf-8-sig" if bom else "utf-8")


@pytest.mark.parametrize(
    ("cells", "total"),
    [
        (["100.00", "23.45"], "123.45"),
        (["0.005", "0.005", "0.005", "-0.001"], "0.014"),
        (["1", "2"], "3"),
        (["1.5", "2"], "3.5"),
        (["-0.00"], "0.00"),
        (["007.50"], "7.50"),
        (["1.", ".5", "1e3", "+1", " 1", "１２", "-", "--1", "1.2.3", "", "abc"], "0"),
        (["123456789012345.67", "0.01"], "123456789012345.68"),  # 17 digits: summed by exact_sum
        (["9" * 40 + ".125", "1"], "1" + "0" * 40 + ".125"),
        (['"12.34"', '"1,000.00"', '"-5"'], "7.34"),  # quoted cells count at their value
    ],
)
def test_amounts_are_summed_exactly(cells: list[str], total: str) -> None:
    data = ("ref,amount\n" + "".join(f"r{i},{cell}\n" for i, cell in enumerate(cells))).encode()
    quick = block(data, block_bytes=8, chunk=3)
    assert quick is not None
    assert str(quick.amount_total) == total
    unquoted = [c[1:-1].replace('""', '"') if c.startswith('"') else c for c in cells]
    assert quick.amount_total == exact_sum(unquoted)
    assert same_scan(quick, parser(data)[1])


def test_amounts_beyond_int64_per_block_stay_exact() -> None:
    """Many 15-digit amounts: their int64 sum would overflow, the total must not."""
    amount = "999999999999999.99"[:15] + ".99"  # 15 digits in cents
    data = ("ref,amount\n" + f"r,{amount}\n" * 200).encode()
    quick = block(data)
    assert quick is not None and quick.amount_total == Decimal(amount) * 200


# ---------------------------------------------------------------------------------------------------
# What the block scan leaves to the parser
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"",  # no header row: F_HEADER
        b"\n\na,amount\n",  # an empty first line
        b"ref,amount\n\nr,1\n",  # an empty line before a record
        b"ref,amount\nr,1\rs,2\n",  # a bare CR
        b"ref,amount\nr,1\r",  # a last line ending in a lone CR
        b'ref,amount\nr,"1\n',  # a quoted field never closed
        b'ref,amount\nr"x,1\n',  # a quote inside an unquoted field
        b'ref,amount\n"r"x,1\n',  # a closing quote followed by a character
        b"ref,amount\nr,1,2\n",  # a ragged record
        b"ref,amount\nr,1\x00\n",  # a NUL
        "ref,amount\n王,1\n".encode("gb18030"),  # GB18030, not UTF-8
        b"\xef\xbb\xbfref,amount\n\xd5\xc5,1\n",  # a BOM then invalid UTF-8
        "ref,amount\n".encode("utf-16-le"),  # UTF-16 without BOM
    ],
)
def test_problems_and_other_encodings_go_to_the_parser(data: bytes) -> None:
    assert block(data, block_bytes=4, chunk=2) is None
    assert block(data) is None


def test_scan_table_answers_from_the_block_scan_without_the_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_parser(*_args, **_kwargs):
        raise AssertionError("the parser ran")

    data = 'ref,amount,note\nr1,100.00,"a, b"\nr2,23.45,张\n'.encode()
    monkeypatch.setattr(fileformat, "iter_csv", no_parser)
    scan = fileformat.scan_table(_chunks(data, 5), False, "amount")
    assert (scan.header, scan.record_count, scan.amount_total) == (
        ["ref", "amount", "note"],
        2,
        Decimal("123.45"),
    )
    scan = fileformat.scan_table(_chunks(gzip.compress(data), 5), True, "amount")
    assert scan.record_count == 2


@pytest.mark.parametrize(
    ("data", "compressed", "limit", "code"),
    [
        (b"ref,amount\nr,1\n\nx,2\n", False, None, "F_MALFORMED"),
        ("ref,amount\n王,1\n".encode("gbk"), False, None, "ok"),
        (gzip.compress(b"ref,amount\n" + b"r,1\n" * 500), True, 1000, "F_TOO_LARGE"),
        (gzip.compress(b"ref,amount\nr,1\n")[:-4], True, None, "F_MALFORMED"),
        (b"ref,amount\nr,1\n\xff\n", False, None, "F_ENCODING"),
    ],
)
def test_scan_table_falls_back_to_the_parser_with_its_answer(
    data: bytes, compressed: bool, limit: int | None, code: str
) -> None:
    def outcome(block_scan: bool) -> tuple[str, object]:
        try:
            scan = fileformat.scan_table(
                _chunks(data, 3), compressed, "amount", limit=limit, block_scan=block_scan
            )
        except FileRejection as exc:
            return exc.code, exc.message
        return "ok", scan

    assert outcome(True) == outcome(False)
    assert outcome(True)[0] == code


def test_a_record_longer_than_a_block_is_read_on() -> None:
    long_note = "x" * 5000 + "\n" + "y" * 3000  # a quoted field spanning lines, longer than the block
    data = f'ref,amount,note\nr1,1.50,"{long_note}"\nr2,2,z\n'.encode()
    quick = assert_agrees(data, block_bytes=64, chunk=100)
    assert quick is not None and quick.record_count == 2 and quick.amount_total == Decimal("3.50")


def test_stopping_early_ends_the_worker_threads() -> None:
    import threading

    before = threading.active_count()
    with BlockScanner("amount", block_bytes=16, workers=2) as scanner:
        scanner.feed(b"ref,amount\n" + b"r,1\n" * 50)
    assert threading.active_count() == before
