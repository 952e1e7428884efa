"""csvsafe.arrow_cells is csvsafe.cell over a whole Arrow column: the same text for every value."""

from __future__ import annotations

import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from daybook import csvsafe

PIECES = ["=", "+", "-", "@", "\t", "\r", "1", "12.50", ".", "A1", "SUM(", "张", " ", "'", ""]
values = st.one_of(
    st.none(),
    st.lists(st.sampled_from(PIECES), max_size=5).map("".join),
    st.text(max_size=12),
)


@given(st.lists(values, max_size=40))
def test_arrow_cells_equal_cell_for_every_value(cells):
    got = csvsafe.arrow_cells(pa.array(cells, type=pa.string())).to_pylist()
    assert got == [csvsafe.cell(v) for v in cells]


def test_arrow_cells_on_a_sliced_chunked_column():
    column = pa.chunked_array([["=1+1", "-12.50", None], ["@x", "plain", "-2+3"]]).slice(1, 4)
    assert csvsafe.arrow_cells(column).to_pylist() == ["-12.50", "", "'@x", "plain"]
