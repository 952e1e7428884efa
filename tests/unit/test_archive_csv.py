"""CSV members written from Arrow batches: byte for byte what Python's csv writer gives for the
same values with every cell passed through csvsafe.cell (the reference the archive and the
handover promise people), and Python values turned into text exactly as str() does.

The oracle is the standard library's csv module with csvsafe's scalar rule, never the Arrow code.
"""

from __future__ import annotations

import csv
import io

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from daybook import archive, csvsafe

PROPS = settings(max_examples=300, deadline=None, database=None)
# Characters that matter to quoting and formula neutralization, plus ordinary and non-ASCII ones.
ALPHABET = st.sampled_from(list("=+-@\t\r\n,\"' .;\\\x00\x0b01239aZé张€"))
TEXT = st.one_of(st.none(), st.text(ALPHABET, max_size=8))
INT = st.one_of(st.none(), st.integers(min_value=-(2**63), max_value=2**63 - 1))


def _reference(rows: list[tuple]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for r in rows:
        writer.writerow(csvsafe.row(r))
    return out.getvalue().encode("utf-8")


@st.composite
def tables(draw):
    kinds = draw(st.lists(st.sampled_from(["text", "int"]), min_size=1, max_size=4))
    n = draw(st.integers(min_value=1, max_value=12))
    columns = [draw(st.lists(TEXT if k == "text" else INT, min_size=n, max_size=n)) for k in kinds]
    return kinds, columns


@PROPS
@given(tables())
def test_arrow_csv_lines_are_the_csv_writers_bytes(table):
    kinds, columns = table
    batch = pa.RecordBatch.from_arrays(
        [
            pa.array(c, type=pa.string() if k == "text" else pa.int64())
            for k, c in zip(kinds, columns, strict=True)
        ],
        names=[f"c{i}" for i in range(len(columns))],
    )
    assert archive._csv_lines(batch) == _reference(list(zip(*columns, strict=True)))


def test_hand_written_cells():
    """A few cells whose CSV text is known by heart (csv.writer and csvsafe's documented rule)."""
    batch = pa.RecordBatch.from_arrays(
        [
            pa.array(["=1+2", "-12.50", "-x", "a,b", 'say "hi"', "", None, "line\nbreak", "\tTAB"]),
            pa.array([1, -2, None, 4, 5, 6, 7, 8, 9], type=pa.int64()),
        ],
        names=["a", "n"],
    )
    assert archive._csv_lines(batch) == (
        b'\'=1+2,1\n-12.50,-2\n\'-x,\n"a,b",4\n"say ""hi""",5\n,6\n,7\n"line\nbreak",8\n\'\tTAB,9\n'
    )


def test_a_row_of_one_empty_field_is_quoted_as_csv_writer_does():
    batch = pa.RecordBatch.from_arrays([pa.array(["", None, "x"])], names=["a"])
    assert archive._csv_lines(batch) == b'""\n""\nx\n'


MIXED = st.one_of(
    st.none(),
    st.text(max_size=5),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.booleans(),
    st.dates(),
    st.datetimes(),
    st.binary(max_size=3),
)


@PROPS
@given(st.one_of(st.lists(MIXED, max_size=8), st.lists(st.one_of(st.none(), st.text()), max_size=8)))
def test_python_values_become_the_text_str_gives(values):
    assert archive._text_array(tuple(values)).to_pylist() == [None if v is None else str(v) for v in values]
