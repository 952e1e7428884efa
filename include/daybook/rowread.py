"""Rows of an intake-accepted data file for validation, read by pyarrow's streaming CSV reader.

Intake has already proved the file well-formed (encoding, RFC 4180 framing, header, counts and
totals, contract sections 4 and 6), so validation may read the raw bytes again with a fast
reader: pyarrow parses and converts in C++ and hands over arrow string columns, with no Python
object per cell. The cells are those of the contract parser (:func:`daybook.fileformat.parse_csv`,
as used by :func:`daybook.intake.iter_frames`): kept exactly as sent, quoted fields with commas,
quotes, CR and LF inside, LF or CRLF line ends, trailing empty lines ignored, a UTF-8 byte order
mark dropped, GB18030 transcoded to UTF-8. ``tests/unit/test_rowread.py`` holds the two readers
to the same cells for arbitrary valid files.

If pyarrow refuses the file (a record longer than its block, say), the rest of the file is read
by the contract parser, from the first row not yet given out: the caller sees one stream of rows
either way.
"""

from __future__ import annotations

import codecs
import io
import os
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from daybook.fileformat import iter_decoded, iter_gunzip, stream_encoding
from daybook.storage import Store

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

BLOCK_BYTES = 1 << 20  # pyarrow parses (and reads ahead) blocks of this size; a longer record falls back


@dataclass(frozen=True)
class Chunk:
    """Consecutive data rows: text cells in the header's column order, rows numbered from ``first_line``."""

    table: pa.Table
    first_line: int

    def __len__(self) -> int:
        return self.table.num_rows

    def frame(self) -> pd.DataFrame:
        """The rows as a DataFrame: ``line_no`` (int64) then the header's columns (``str`` dtype)."""
        import numpy as np

        frame = self.table.to_pandas()
        n = self.table.num_rows
        frame.insert(0, "line_no", np.arange(self.first_line, self.first_line + n, dtype="int64"))
        return frame


class _ChunkFile(io.RawIOBase):
    """A read-only file object over an iterator of byte chunks (pyarrow reads it as a stream)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._it = iter(chunks)
        self._buf = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not len(self._buf):
            try:
                self._buf = memoryview(bytes(next(self._it)))
            except StopIteration:
                return 0
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


def _utf8_source(store: Store, key: str, compressed: bool, encoding: str) -> Any:
    """What pyarrow reads: a local path when the bytes are already UTF-8 on disk, else a stream of
    UTF-8 bytes (gunzipped, GB18030 transcoded; a GB18030 byte order mark dropped)."""
    location = store.uri(key)
    if not compressed and encoding.startswith("utf-8") and os.path.isfile(location):
        return location  # pyarrow drops a UTF-8 byte order mark itself

    def raw() -> Iterator[bytes]:
        chunks: Iterable[bytes] = store.iter_chunks(key)
        return iter_gunzip(chunks) if compressed else iter(chunks)

    if encoding.startswith("utf-8"):
        return _ChunkFile(raw())
    return _ChunkFile(text.encode("utf-8") for text in iter_decoded(raw(), encoding))


def _arrow_tables(
    store: Store, key: str, compressed: bool, encoding: str, columns: Collection[str]
) -> Iterator[pa.Table]:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    reader = pcsv.open_csv(
        _utf8_source(store, key, compressed, encoding),
        read_options=pcsv.ReadOptions(block_size=BLOCK_BYTES, use_threads=True),
        parse_options=pcsv.ParseOptions(
            delimiter=",", quote_char='"', double_quote=True, escape_char=False, newlines_in_values=True
        ),
        convert_options=pcsv.ConvertOptions(
            column_types=dict.fromkeys(columns, pa.large_string()),  # pandas' str: no copy
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    for field in reader.schema:
        if field.type != pa.large_string():  # a column the caller did not name: intake lets none through
            raise ValueError(f"column {field.name!r} is not one of the business type's columns")
    yielded = False
    for batch in reader:
        yielded = True
        yield pa.Table.from_batches([batch])
    if not yielded:
        yield reader.schema.empty_table()


def _contract_tables(store: Store, key: str, compressed: bool, skip: int) -> Iterator[pa.Table]:
    """The rows after the first ``skip`` by the contract parser (intake's reader), as arrow tables."""
    import pyarrow as pa

    from daybook.intake import iter_frames

    for frame in iter_frames(store, key, compressed):
        if skip and skip >= len(frame):
            skip -= len(frame)
            continue
        frame = frame.iloc[skip:].drop(columns="line_no")
        skip = 0
        schema = pa.schema([(column, pa.large_string()) for column in frame.columns])
        yield pa.Table.from_pandas(frame, schema=schema, preserve_index=False)


def _tables(
    store: Store, key: str, compressed: bool, encoding: str, columns: Collection[str]
) -> Iterator[pa.Table]:
    import pyarrow as pa

    given = 0
    header: list[str] | None = None
    try:
        for table in _arrow_tables(store, key, compressed, encoding, columns):
            header = table.column_names
            given += table.num_rows
            yield table
        return
    except pa.ArrowInvalid:
        pass
    for table in _contract_tables(store, key, compressed, given):
        if header is not None and table.column_names != header:
            raise RuntimeError("the two readers disagree on the header")  # cannot happen: same bytes
        yield table


def iter_chunks(
    store: Store,
    key: str,
    compressed: bool,
    columns: Collection[str],
    *,
    encoding: str | None = None,
    chunk_rows: int = 500_000,
) -> Iterator[Chunk]:
    """The data rows of an intake-accepted file in file order, at most ``chunk_rows`` per chunk.

    ``columns`` are the business type's column names (every header column is one of them, intake
    checked); ``encoding`` is what intake found (``utf-8``, ``utf-8-sig`` or ``gb18030``), found
    again here when not given. A file without data rows gives one empty chunk with the header.
    Memory holds one chunk and one parse block, whatever the file size.
    """
    import pyarrow as pa

    if encoding is None:
        encoding = stream_encoding(lambda: store.iter_chunks(key), compressed)
    codecs.lookup(encoding)  # an unknown name fails here, not inside pyarrow's reader thread
    pending: list[pa.Table] = []
    size = 0
    line = 1
    for table in _tables(store, key, compressed, encoding, columns):
        pending.append(table)
        size += table.num_rows
        while size >= chunk_rows:
            whole = pa.concat_tables(pending)
            head = whole.slice(0, chunk_rows)
            yield Chunk(head, line)
            line += chunk_rows
            rest = whole.slice(chunk_rows)
            pending, size = [rest], rest.num_rows
    if size or line == 1:
        yield Chunk(pa.concat_tables(pending) if pending else pa.table({}), line)


def iter_frames(
    store: Store,
    key: str,
    compressed: bool,
    columns: Collection[str],
    *,
    encoding: str | None = None,
    chunk_rows: int = 500_000,
) -> Iterator[pd.DataFrame]:
    """:func:`iter_chunks` as DataFrames, the shape of :func:`daybook.intake.iter_frames`."""
    for chunk in iter_chunks(store, key, compressed, columns, encoding=encoding, chunk_rows=chunk_rows):
        yield chunk.frame()
