"""The validation reader (pyarrow) yields exactly the cells of the contract parser (intake's reader).

Any file that intake accepts as well-formed (contract section 4: UTF-8 with or without BOM or
GB18030, gzip or not, RFC 4180 quoting with commas, quotes, CR and LF inside quoted fields, LF or
CRLF line ends, trailing empty lines) must give the same rows, cells and line numbers through
``daybook.rowread`` as through ``daybook.intake.iter_frames``, whatever the chunk size, and also
when pyarrow gives up part-way (a record longer than its parse block) and the contract parser
reads the rest.
"""

from __future__ import annotations

import codecs
import gzip
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from daybook import intake, rowread
from daybook.business_types import PAY
from daybook.codes import FileRejection
from daybook.fileformat import decompress, detect_encoding, scan_table
from daybook.storage import LocalStore

COLUMNS = [*PAY.required, *PAY.optional]

# Any text a client may put in a cell: commas, quotes, CR, LF, spaces, CJK, "NA"/"NULL", leading zeros.
cell = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=12),
    st.sampled_from(["", "NA", "NULL", "None", "007", " x ", '"', '""', ",", "\r\n", "\n", "\r", "王伟"]),
)


def _field(text: str, force_quotes: bool) -> str:
    if force_quotes or any(ch in text for ch in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _csv(header: list[str], rows: list[list[str]], eol: str, quote_all: bool, trailing: int) -> str:
    lines = [",".join(_field(c, quote_all) for c in header)]
    lines += [",".join(_field(c, quote_all) for c in row) for row in rows]
    return eol.join(lines) + eol + eol * trailing


@st.composite
def data_files(draw):
    header = draw(st.permutations(COLUMNS))
    if draw(st.booleans()):
        header = [c for c in header if c != "purpose"]  # an optional column may be absent
    rows = draw(st.lists(st.lists(cell, min_size=len(header), max_size=len(header)), max_size=25))
    text = _csv(
        header, rows, draw(st.sampled_from(["\n", "\r\n"])), draw(st.booleans()), draw(st.integers(0, 2))
    )
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]))
    data = text.encode(encoding)
    compressed = draw(st.booleans())
    return (gzip.compress(data) if compressed else data), compressed


def _intake_accepts(data: bytes, compressed: bool) -> bool:
    """Gzip, encoding and CSV framing as intake judges them (the header is always valid here)."""
    try:
        scan_table(lambda: iter([data]), compressed, "amount")
    except FileRejection:
        return False
    return True


def _put(tmp: Path, data: bytes, compressed: bool) -> tuple[LocalStore, str]:
    store = LocalStore(str(tmp))
    key = "BANKA/raw.csv.gz" if compressed else "BANKA/raw.csv"
    store.put(key, data)
    return store, key


def _both(store: LocalStore, key: str, compressed: bool, chunk_rows: int, encoding: str | None):
    contract = list(intake.iter_frames(store, key, compressed, chunk_rows=chunk_rows))
    fast = list(
        rowread.iter_frames(store, key, compressed, COLUMNS, encoding=encoding, chunk_rows=chunk_rows)
    )
    return contract, fast


def _assert_same(contract: list[pd.DataFrame], fast: list[pd.DataFrame]) -> None:
    assert [len(f) for f in fast] == [len(f) for f in contract]
    for a, b in zip(fast, contract, strict=True):
        assert list(a.columns) == list(b.columns)
        assert a["line_no"].tolist() == b["line_no"].tolist()
        for column in a.columns[1:]:
            assert a[column].dtype == b[column].dtype
            assert a[column].tolist() == b[column].tolist(), column


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(file=data_files(), chunk_rows=st.integers(1, 30), tell_encoding=st.booleans())
def test_same_cells_as_the_contract_parser(tmp_path: Path, file, chunk_rows: int, tell_encoding: bool):
    data, compressed = file
    assume(_intake_accepts(data, compressed))
    store, key = _put(tmp_path, data, compressed)
    encoding = detect_encoding(decompress(data, compressed))[0] if tell_encoding else None
    _assert_same(*_both(store, key, compressed, chunk_rows, encoding))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(file=data_files(), chunk_rows=st.integers(1, 30))
def test_same_cells_when_pyarrow_gives_up_part_way(tmp_path: Path, monkeypatch, file, chunk_rows: int):
    data, compressed = file
    assume(_intake_accepts(data, compressed))
    monkeypatch.setattr(rowread, "BLOCK_BYTES", 64)  # most records straddle two blocks: pyarrow refuses
    store, key = _put(tmp_path, data, compressed)
    _assert_same(*_both(store, key, compressed, chunk_rows, None))


def test_a_long_record_after_many_short_ones_is_read_by_the_contract_parser(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(rowread, "BLOCK_BYTES", 4096)
    rows = [[f"R{i}", *["x"] * (len(COLUMNS) - 1)] for i in range(500)]
    rows.append(["LONG", *["y" * 10_000] * (len(COLUMNS) - 1)])
    rows += [[f"S{i}", *['a,"b"\r\nc'] * (len(COLUMNS) - 1)] for i in range(300)]
    data = _csv(COLUMNS, rows, "\r\n", False, 1).encode("utf-8")
    store, key = _put(tmp_path, data, False)
    skipped = []
    contract_tables = rowread._contract_tables

    def spy(store, key, compressed, skip):
        skipped.append(skip)
        return contract_tables(store, key, compressed, skip)

    monkeypatch.setattr(rowread, "_contract_tables", spy)
    contract, fast = _both(store, key, False, 128, "utf-8")
    _assert_same(contract, fast)
    assert sum(len(f) for f in fast) == 801
    assert len(skipped) == 1 and 0 < skipped[0] <= 500  # pyarrow gave some rows, the parser the rest


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gb18030"])
def test_bom_and_gb18030_read_as_text(tmp_path: Path, encoding: str):
    rows = [["R1", *["王伟, 李娜"] * (len(COLUMNS) - 1)]]
    data = _csv(COLUMNS, rows, "\n", False, 0).encode(encoding)
    if encoding == "gb18030":
        data = codecs.encode("\ufeff", "gb18030") + data  # GB18030's own byte order mark is dropped too
    store, key = _put(tmp_path, data, False)
    (frame,) = rowread.iter_frames(store, key, False, COLUMNS)
    assert list(frame.columns) == ["line_no", *COLUMNS]
    assert frame.iloc[0].tolist() == [1, "R1", *["王伟, 李娜"] * (len(COLUMNS) - 1)]
