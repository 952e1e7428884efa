"""Pure checks of the client file contract, sections 2-4: names, control files, gzip, encoding, CSV.

Everything here takes bytes or text and returns values or raises ``FileRejection``; there is no I/O.
Intake calls these functions in the order of contract section 6.

Decisions where the contract is silent (documented in the functions and covered by tests):

- ``stem_of``: a name without a contract extension loses its last extension (``foo.txt`` -> ``foo``,
  ``foo.tar.gz`` -> ``foo.tar``); a name without any extension, or a dot file such as ``.hidden``,
  is kept as is.
- Control file: a UTF-8 BOM is tolerated and dropped; trailing empty lines (LF or CRLF) are ignored, as
  for CSV files; anything else besides the one line (a second line, a leading empty line) is F_CONTROL.
  The record count may have leading zeros and at most 18 digits.
- gzip: several concatenated gzip members are read as one stream (as ``gunzip`` does); bytes after the
  last member that are not another gzip member, including zero padding, are F_MALFORMED. A corrupt or
  truncated stream whose text, as far as it goes, is already neither UTF-8 nor GB18030 (a byte both
  decoders refuse, or UTF-16/UTF-32 without a BOM in its first KiB) is F_ENCODING, which comes before
  F_MALFORMED in section 6; if the text read so far decodes, the framing problem is F_MALFORMED.
- Encoding: a UTF-8 BOM followed by invalid UTF-8 is F_ENCODING (the BOM declares UTF-8, so no fallback
  to GB18030). A leading U+FEFF in GB18030 text (bytes ``84 31 95 33``) is dropped as a BOM too.
  UTF-8 is tried first, so a GBK text whose bytes happen to be valid UTF-8 is read as UTF-8.
  UTF-16 or UTF-32 without a byte order mark decodes as UTF-8 or GB18030 (NUL bytes are valid in
  both), so a text whose first KiB is at least a quarter NUL bytes is F_ENCODING: it is one of those
  encodings, not UTF-8 or GB18030 text. A lone NUL in a text stays F_MALFORMED (CSV cannot carry it).
- CSV speed: text without quotes is split with C-level str methods; lines that are whole records are
  checked by a regular expression and split by the C ``csv`` reader; only records with a quoted field
  spanning lines (and errors) go through the Python state machine. The garbage collector is paused
  while parsing.
- Scan speed: :func:`scan_table` first tries :class:`BlockScanner`, which checks a UTF-8 file and sums
  its amounts on whole blocks of bytes (numpy, two threads) and vouches only for a file it proves
  well-formed; anything else (GB18030, any CSV or encoding problem, a gzip fault) is left to the parser
  below, so every rejection and message is the parser's.
- CSV: a carriage return (CR) is allowed only inside a quoted field or directly before a line feed (LF);
  a bare CR elsewhere, including a last line ending in a lone CR, is F_MALFORMED. Line ends may be mixed.
  An empty line before the last non-empty line is F_MALFORMED, even when the header has one column.
  A text without any line (zero bytes, or only line ends) has no header row and is F_HEADER.
  Only ``\\n`` and ``\\r\\n`` end lines (not VT, FF, U+2028 or the other ``str.splitlines`` breaks).
"""

from __future__ import annotations

import codecs
import csv
import datetime
import decimal
import gc
import hashlib
import itertools
import operator
import posixpath
import re
import zlib
from collections import deque
from collections.abc import Collection, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from daybook.business_types import MAX_LINE_NO
from daybook.codes import FileRejection

__all__ = [
    "BlockScanner",
    "Control",
    "FileName",
    "TableScan",
    "amount_total_cents",
    "cents_half_up",
    "check_counts",
    "check_header",
    "check_row_limit",
    "decompress",
    "detect_encoding",
    "exact_sum",
    "iter_csv",
    "iter_decoded",
    "iter_gunzip",
    "parse_control",
    "parse_csv",
    "parse_name",
    "scan_table",
    "sha256_hex",
    "stem_of",
    "stream_encoding",
]

# ---------------------------------------------------------------------------------------------------
# Section 2: file names
# ---------------------------------------------------------------------------------------------------

_NAME_PATTERN = "<CLIENT_ID>_<TYPE>_<YYYYMMDD>_<SEQ>.csv, .csv.gz or .ctl"
# Longest first: ".csv.gz" must win over ".csv".
_EXTENSIONS: tuple[tuple[str, str, bool], ...] = (
    (".csv.gz", "data", True),
    (".csv", "data", False),
    (".ctl", "control", False),
)
_STEM_RE = re.compile(r"([^_]*)_(.*)_([^_]*)_([^_]*)")
_CLIENT_RE = re.compile(r"[A-Z0-9]{3,16}")
_DATE_RE = re.compile(r"[0-9]{8}")
_SEQ_RE = re.compile(r"[0-9]{3}")


@dataclass(frozen=True)
class FileName:
    """A file name that follows contract section 2."""

    client_id: str
    type: str
    business_date: datetime.date
    seq: str
    stem: str
    kind: str  # "data" or "control"
    compressed: bool


def _name_error(message: str) -> FileRejection:
    return FileRejection("F_NAME", message)


def parse_name(name: str, known_types: Collection[str]) -> FileName:
    """Parse ``<CLIENT_ID>_<TYPE>_<YYYYMMDD>_<SEQ>.csv|.csv.gz|.ctl``; raise F_NAME for anything else.

    The match is case-sensitive (``.CSV`` is F_NAME) and digits are ASCII only.
    """
    found = next((entry for entry in _EXTENSIONS if name.endswith(entry[0])), None)
    if found is None:
        raise _name_error(f"file name {name!r} must end in .csv, .csv.gz or .ctl (lower case)")
    extension, kind, compressed = found
    stem = name[: -len(extension)]
    match = _STEM_RE.fullmatch(stem)
    if match is None:
        raise _name_error(f"file name {name!r} does not follow {_NAME_PATTERN}")
    client_id, type_, date_text, seq = match.groups()
    if not _CLIENT_RE.fullmatch(client_id):
        raise _name_error(f"client id {client_id!r} in {name!r} must be 3-16 characters of A-Z and 0-9")
    if type_ not in known_types:
        allowed = ", ".join(sorted(known_types))
        raise _name_error(f"file type {type_!r} in {name!r} is not one of: {allowed}")
    if not _DATE_RE.fullmatch(date_text):
        raise _name_error(f"business date {date_text!r} in {name!r} must be 8 digits YYYYMMDD")
    try:
        business_date = datetime.date(int(date_text[:4]), int(date_text[4:6]), int(date_text[6:]))
    except ValueError:
        raise _name_error(f"business date {date_text} in {name!r} is not a real calendar date") from None
    if not _SEQ_RE.fullmatch(seq) or seq == "000":
        raise _name_error(f"sequence {seq!r} in {name!r} must be 3 digits from 001 to 999")
    return FileName(
        client_id=client_id,
        type=type_,
        business_date=business_date,
        seq=seq,
        stem=stem,
        kind=kind,
        compressed=compressed,
    )


def stem_of(name: str) -> str:
    """The name without ``.csv.gz``, ``.csv`` or ``.ctl``; used to name the ``.rej`` answer of any file.

    Decision for other names (F_NAME files are answered "under their own name without extension"):
    the last extension is stripped (``foo.txt`` -> ``foo``, ``foo.tar.gz`` -> ``foo.tar``); a name
    without extension or a dot file (``.hidden``) is returned unchanged.
    """
    for extension, _kind, _compressed in _EXTENSIONS:
        if name.endswith(extension) and len(name) > len(extension):
            return name[: -len(extension)]
    root, _ext = posixpath.splitext(name)
    return root or name


# ---------------------------------------------------------------------------------------------------
# Section 3: control file, checksum, amount total
# ---------------------------------------------------------------------------------------------------

_COUNT_RE = re.compile(r"[0-9]+")
_MAX_COUNT_DIGITS = 18
_TOTAL_RE = re.compile(r"-?[0-9]+\.[0-9]{2}")
_SHA256_RE = re.compile(r"[0-9a-fA-F]{64}")
_PLAIN_DECIMAL_RE = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
# Additions are exact at this precision; only additions, quantize and scaleb are done with it.
_EXACT = decimal.Context(
    prec=decimal.MAX_PREC, rounding=decimal.ROUND_HALF_UP, traps=[decimal.InvalidOperation]
)
_CENT = Decimal("0.01")


@dataclass(frozen=True)
class Control:
    """The content of a control file (contract section 3)."""

    data_name: str
    record_count: int
    amount_total_cents: int
    sha256: str  # lower-case hex


def _control_error(message: str) -> FileRejection:
    return FileRejection("F_CONTROL", message)


def _short(text: str, limit: int = 80) -> str:
    """``repr`` of a text, cut so that a message stays readable."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + "..."


def parse_control(raw: bytes, expected_data_name: str) -> Control:
    """Parse ``<data file name>|<record count>|<amount total>|<sha256>``; raise F_CONTROL if anything is off.

    Tolerated: a UTF-8 BOM, a CR before each LF or at the very end, and trailing empty lines.
    """
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8) :]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _control_error(
            f"the control file is not valid UTF-8 (bad byte at offset {exc.start})"
        ) from None
    lines = [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]
    while lines and lines[-1] == "":
        lines.pop()
    if not lines:
        raise _control_error("the control file is empty; expected one line name|count|total|sha256")
    if len(lines) > 1:
        raise _control_error(f"the control file must hold one line, found {len(lines)} lines")
    fields = lines[0].split("|")
    if len(fields) != 4:
        raise _control_error(
            f"expected 4 fields separated by '|' (name|count|total|sha256), found {len(fields)}"
        )
    data_name, count_text, total_text, sha = fields
    if data_name != expected_data_name:
        raise _control_error(
            f"the control file names another file: {_short(data_name)}, expected {expected_data_name!r}"
        )
    if not _COUNT_RE.fullmatch(count_text):
        raise _control_error(f"record count {_short(count_text)} is not a plain non-negative integer")
    if len(count_text) > _MAX_COUNT_DIGITS:
        raise _control_error(
            f"record count has {len(count_text)} digits, at most {_MAX_COUNT_DIGITS} allowed"
        )
    if not _TOTAL_RE.fullmatch(total_text):
        raise _control_error(
            f"amount total {_short(total_text)} must be a number with exactly 2 decimals, like 1234.50"
        )
    if not _SHA256_RE.fullmatch(sha):
        raise _control_error(f"sha256 {_short(sha)} must be 64 hexadecimal characters")
    return Control(
        data_name=data_name,
        record_count=int(count_text),
        amount_total_cents=int(_EXACT.scaleb(Decimal(total_text), 2)),
        sha256=sha.lower(),
    )


def sha256_hex(data: bytes) -> str:
    """Lower-case hex sha256 of the bytes as dropped (for ``.csv.gz``, the compressed bytes)."""
    return hashlib.sha256(data).hexdigest()


def exact_sum(cells: Iterable[str]) -> Decimal:
    """Exact sum of the plain decimal cells (``-?[0-9]+(\\.[0-9]+)?``, ASCII); other cells count 0.

    No rounding: partial sums of several chunks add up exactly; round once with :func:`cents_half_up`.
    The loop runs in C (``filter``/``map``/``sum``), not per row in Python.
    """
    with decimal.localcontext(_EXACT):
        return sum(map(Decimal, filter(_PLAIN_DECIMAL_RE.fullmatch, cells)), Decimal(0))


def cents_half_up(total: Decimal) -> int:
    """An exact decimal rounded half-up (away from zero on a tie) to 2 decimals, in integer cents."""
    return int(_EXACT.scaleb(total.quantize(_CENT, context=_EXACT), 2))


def amount_total_cents(cells: Iterable[str]) -> int:
    """Sum of the plain decimal cells (``-?[0-9]+(\\.[0-9]+)?``, ASCII), others count 0; in cents.

    The sum is exact and rounded half-up (away from zero on a tie) to 2 decimals only at the end.
    """
    return cents_half_up(exact_sum(cells))


def _format_cents(cents: int) -> str:
    """``12345`` -> ``'123.45'``; works for integers of any size."""
    return str(_EXACT.scaleb(Decimal(cents), -2))


def check_row_limit(declared: int, limit: int) -> None:
    """F_TOO_LARGE if the control file declares more data rows than ``limit``.

    Every row gets a business number ending in its line number in 6 digits (contract section 5), so
    no file may hold more than MAX_LINE_NO (999,999) rows, the ceiling of the configured limit. The
    declared count is judged (it is known once F_CONTROL has passed, before the data is read): a data
    file whose rows differ from it is F_COUNT later, so a file that passes intake holds at most
    ``limit`` rows."""
    if declared > limit:
        why = (
            "business numbers carry a 6-digit line number" if limit == MAX_LINE_NO else "the configured limit"
        )
        raise FileRejection(
            "F_TOO_LARGE",
            f"the control file declares {declared} data rows; a file holds at most {limit} ({why}): "
            f"split it into files of at most {limit} rows",
        )


def check_counts(control: Control, n_rows: int, total_cents: int) -> None:
    """Compare the data file with its control file: F_COUNT, then F_TOTAL, then F_EMPTY (section 6)."""
    if n_rows != control.record_count:
        raise FileRejection(
            "F_COUNT", f"the control file says {control.record_count} records, the data file has {n_rows}"
        )
    if total_cents != control.amount_total_cents:
        raise FileRejection(
            "F_TOTAL",
            f"the control file says the amount total is {_format_cents(control.amount_total_cents)}, "
            f"the data file's amounts sum to {_format_cents(total_cents)}",
        )
    if n_rows == 0:
        raise FileRejection("F_EMPTY", "the data file has a header but no data rows")


# ---------------------------------------------------------------------------------------------------
# Section 4: gzip, encoding, CSV, header
# ---------------------------------------------------------------------------------------------------

_GZIP_WBITS = 16 + zlib.MAX_WBITS
_OUT_CHUNK = 1 << 20


def iter_gunzip(chunks: Iterable[bytes], *, limit: int | None = None) -> Iterator[bytes]:
    """Decompress a gzip stream given in chunks; yield the output in pieces of at most 1 MiB.

    Concatenated gzip members are one stream. Corrupt or truncated data is F_MALFORMED, raised once
    every byte zlib could decompress before the fault was given out (whatever the chunking); more than
    ``limit`` bytes of output is F_TOO_LARGE (checked as the output grows, so a gzip bomb stops early).
    """
    inflater = zlib.decompressobj(_GZIP_WBITS)
    seen_input = False
    member_open = False  # bytes of the current member were read but its end was not reached yet
    produced = 0
    try:
        for chunk in chunks:
            data = bytes(chunk)
            while data:
                seen_input = member_open = True
                before, given = inflater.copy(), 0  # zlib drops a call's output when it raises
                try:
                    out = inflater.decompress(data, _OUT_CHUNK)
                    rest = inflater.unconsumed_tail
                    while out:
                        produced = _grown(produced, len(out), limit)
                        yield out
                        given += len(out)
                        # Output was capped at _OUT_CHUNK with all input taken: zlib may still hold some.
                        full = len(out) == _OUT_CHUNK and not rest and not inflater.eof
                        out = inflater.decompress(b"", _OUT_CHUNK) if full else b""
                except zlib.error:
                    for out in _salvage(before, data, given):
                        produced = _grown(produced, len(out), limit)
                        yield out
                    raise
                data = rest
                if inflater.eof:
                    data = inflater.unused_data
                    inflater = zlib.decompressobj(_GZIP_WBITS)
                    member_open = False
    except zlib.error as exc:
        raise FileRejection(
            "F_MALFORMED", f"the .csv.gz file is not valid gzip ({exc}); compress it again with gzip"
        ) from None
    if not seen_input:
        raise FileRejection("F_MALFORMED", "the .csv.gz file is empty; expected gzip-compressed CSV")
    if member_open:
        raise FileRejection(
            "F_MALFORMED", "the .csv.gz file is truncated: the gzip stream ends early; upload the whole file"
        )


def _grown(produced: int, more: int, limit: int | None) -> int:
    """Bytes of output so far after ``more``; F_TOO_LARGE beyond ``limit``."""
    produced += more
    if limit is not None and produced > limit:
        raise FileRejection("F_TOO_LARGE", f"the .csv.gz file expands to more than {limit} bytes, the limit")
    return produced


def _salvage(inflater, data: bytes, skip: int) -> Iterator[bytes]:
    """What zlib decompresses from ``data`` before the byte it refuses, less the first ``skip`` bytes
    (already given out). ``inflater`` is a copy of the state before ``data``; ``data`` is fed one byte
    at a time, so an error loses no output. Only run when a stream is corrupt."""
    for i in range(len(data)):
        try:
            out = inflater.decompress(data[i : i + 1])
        except zlib.error:
            return
        if skip:
            cut = min(skip, len(out))
            out, skip = out[cut:], skip - cut
        if out:
            yield out
        if inflater.eof:  # not reached: zlib stops at a member's end, so the fault is in this member
            return


def decompress(raw: bytes, compressed: bool, *, limit: int | None = None) -> bytes:
    """The CSV bytes of a data file: ``raw`` itself, or gunzipped for ``.csv.gz`` (see ``iter_gunzip``)."""
    if not compressed:
        return raw
    return b"".join(iter_gunzip((raw,), limit=limit))


def detect_encoding(data: bytes) -> tuple[str, str]:
    """Return ``(encoding, text)``: ``utf-8-sig`` (BOM dropped), ``utf-8`` or ``gb18030``; else F_ENCODING.

    Pure ASCII is UTF-8. UTF-8 is tried before GB18030, so GBK bytes that are also valid UTF-8 read as UTF-8.
    UTF-16 or UTF-32 without a byte order mark (see :func:`_looks_wide`) is F_ENCODING.
    """
    if _looks_wide(data[:_WIDE_HEAD]):
        raise _wide_rejection()
    if data.startswith(codecs.BOM_UTF8):
        try:
            return "utf-8-sig", data[len(codecs.BOM_UTF8) :].decode("utf-8")
        except UnicodeDecodeError as exc:
            offset = exc.start + len(codecs.BOM_UTF8)
            raise FileRejection(
                "F_ENCODING",
                f"the file starts with a UTF-8 byte order mark but is not valid UTF-8 "
                f"(byte 0x{data[offset]:02X} at offset {offset}); save it as UTF-8",
            ) from None
    try:
        return "utf-8", data.decode("utf-8")
    except UnicodeDecodeError as exc:
        utf8_offset = exc.start
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError as exc:
        gb_offset = exc.start
    else:
        return "gb18030", text[1:] if text.startswith("\ufeff") else text
    raise FileRejection(
        "F_ENCODING",
        f"the file is neither UTF-8 (byte 0x{data[utf8_offset]:02X} at offset {utf8_offset}) "
        f"nor GB18030 (byte 0x{data[gb_offset]:02X} at offset {gb_offset}); save it as UTF-8",
    )


_WIDE_HEAD = 1024  # bytes looked at for UTF-16/UTF-32 without a byte order mark


def _looks_wide(head: bytes) -> bool:
    """Whether the first bytes of a data file are UTF-16 or UTF-32 text without a byte order mark.

    Those encode the ASCII of a CSV header (and of numbers, dates, codes) with one or three NUL
    bytes beside each character: valid UTF-8 and GB18030 byte for byte, but not text in either.
    A quarter of NUL bytes cannot come from a UTF-8 or GB18030 CSV file, where a NUL is a stray.
    With a UTF-16/UTF-32 byte order mark (FF FE, FE FF) the bytes are not valid UTF-8 or GB18030
    anyway: those are refused by the decoders, with the offending byte named.
    """
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return False
    return len(head) >= 2 and head.count(0) * 4 >= len(head)


def _wide_rejection() -> FileRejection:
    return FileRejection(
        "F_ENCODING",
        "the file looks like UTF-16 or UTF-32 (NUL bytes between the characters), "
        "not UTF-8 or GB18030; save it as UTF-8",
    )


class _WideText(Exception):
    """The data stream starts like UTF-16 or UTF-32 text (see :func:`_looks_wide`)."""


def _malformed(message: str) -> FileRejection:
    return FileRejection("F_MALFORMED", message)


def _bare_cr(line_no: int) -> FileRejection:
    return _malformed(
        f"line {line_no} has a carriage return (CR) that is not part of a CRLF line end; "
        "quote the field or remove the CR"
    )


def _empty_line(line_no: int) -> FileRejection:
    return _malformed(f"line {line_no} is empty; empty lines are only allowed at the end of the file")


def _ragged(data_row: int, line_no: int, found: int, expected: int) -> FileRejection:
    return _malformed(
        f"data row {data_row} (line {line_no}) has {found} field{'' if found == 1 else 's'}, "
        f"the header has {expected}; "
        "quote fields that contain commas"
    )


def _parse_quoted_record(lines: list[str], i: int) -> tuple[list[str], int]:
    """Parse the record starting on ``lines[i]`` (a line with a quote); return its fields and the next index.

    ``lines`` are the physical lines split on LF, so a line may end in the CR of a CRLF.
    """
    line = lines[i]
    end = len(line)
    pos = 0
    fields: list[str] = []
    while True:
        if pos < end and line[pos] == '"':
            start_line = i
            parts: list[str] = []
            scan = pos + 1
            while True:
                quote = line.find('"', scan)
                if quote < 0:  # the field goes on past the line end: keep the LF (and any CR) as data
                    parts.append(line[scan:])
                    parts.append("\n")
                    i += 1
                    if i >= len(lines):
                        raise _malformed(
                            f"a quoted field that starts on line {start_line + 1} is never closed"
                        )
                    line = lines[i]
                    end = len(line)
                    scan = 0
                elif quote + 1 < end and line[quote + 1] == '"':  # "" is one quote
                    parts.append(line[scan : quote + 1])
                    scan = quote + 2
                else:
                    parts.append(line[scan:quote])
                    break
            fields.append("".join(parts))
            pos = quote + 1
            if pos == end or (pos == end - 1 and line[pos] == "\r"):
                return fields, i + 1
            if line[pos] != ",":
                raise _malformed(
                    f"line {i + 1}: a closing quote must be followed by a comma or the line end, "
                    f"found {line[pos]!r}"
                )
            pos += 1
        else:
            comma = line.find(",", pos)
            cell = line[pos:] if comma < 0 else line[pos:comma]
            if '"' in cell:
                raise _malformed(
                    f"line {i + 1}: a quote inside an unquoted field; enclose the field in quotes "
                    'and write each quote in it as ""'
                )
            if comma < 0:
                if cell.endswith("\r"):
                    cell = cell[:-1]
                if "\r" in cell:
                    raise _bare_cr(i + 1)
                fields.append(cell)
                return fields, i + 1
            if "\r" in cell:
                raise _bare_cr(i + 1)
            fields.append(cell)
            pos = comma + 1


def _parse_plain(text: str) -> list[list[str]]:
    """Records of a text without any quote: fast path with C-level string operations."""
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    lines = text.split("\n")
    while lines and lines[-1] == "":
        lines.pop()
    records = [line.split(",") for line in lines]
    if records:
        width = len(records[0])
        if "\r" in text or "" in lines or any(len(record) != width for record in records):
            # Report the first problem in file order, as the state machine does.
            for n, (line, record) in enumerate(zip(lines, records, strict=True)):
                if line == "":
                    raise _empty_line(n + 1)
                if "\r" in line:
                    raise _bare_cr(n + 1)
                if len(record) != width:
                    raise _ragged(n, n + 1, len(record), width)
    return records


def _parse_with_quotes(lines: list[str]) -> list[list[str]]:
    """Records of physical lines with quotes somewhere: lines without a quote are split, others go
    through the state machine. Exact and gives the precise error, but runs in Python."""
    records: list[list[str]] = []
    width = -1
    i = 0
    n_lines = len(lines)
    while i < n_lines:
        line = lines[i]
        start = i
        if '"' in line:
            fields, i = _parse_quoted_record(lines, i)
        else:
            if line == "" or line == "\r":
                raise _empty_line(i + 1)
            if "\r" in line:
                if line.index("\r") != len(line) - 1:
                    raise _bare_cr(i + 1)
                line = line[:-1]
            fields = line.split(",")
            i += 1
        if width < 0:
            width = len(fields)
        elif len(fields) != width:
            raise _ragged(len(records), start + 1, len(fields), width)
        records.append(fields)
    return records


# One physical line that is a whole, well-formed record: not empty, fields quoted or free of '"' and CR,
# an optional CR of a CRLF at the end. A quoted field may hold CR (not LF: that would span lines).
# Possessive quantifiers are safe (a closing quote is never followed by a quote) and make this fast.
_FIELD = r'(?:"[^"]*+(?:""[^"]*+)*+"|[^",\r]*+)'
_SINGLE_LINE_RECORD = re.compile(rf"(?!\r?\Z){_FIELD}(?:,{_FIELD})*+\r?")


def _check_widths(records: list[list[str]], new: list[list[str]], first_line: int) -> None:
    """Append ``new`` records (one per line from ``first_line``, 0-based) after checking their width."""
    width = len(records[0]) if records else len(new[0])
    if any(len(record) != width for record in new):
        k = next(k for k, record in enumerate(new) if len(record) != width)
        raise _ragged(len(records) + k, first_line + k + 1, len(new[k]), width)
    records.extend(new)


def _parse_quoted_text(text: str) -> list[list[str]]:
    """Records of a text with quotes.

    Fast path: a line that is a well-formed record on its own (checked by a regular expression) is
    split by the C ``csv`` reader, which splits what the expression accepts exactly as RFC 4180 does.
    The other lines (start of a quoted field spanning lines, or an error to report) go through the
    Python state machine. If the csv reader refuses a line (a field above ``csv.field_size_limit()``),
    the whole text goes through the state machine.
    """
    lines = text.split("\n")
    while lines and lines[-1] in ("", "\r"):
        lines.pop()
    match = _SINGLE_LINE_RECORD.fullmatch
    others = [k for k, line in enumerate(lines) if not match(line)]
    others.append(len(lines))
    records: list[list[str]] = []
    i = 0
    for k in others:
        if k < i:  # a line inside a quoted field already read
            continue
        if k > i:
            try:
                segment = list(csv.reader(itertools.islice(lines, i, k), strict=True))
            except csv.Error:
                return _parse_with_quotes(lines)
            if len(segment) != k - i:  # cannot happen for lines the expression accepts; stay exact anyway
                return _parse_with_quotes(lines)
            _check_widths(records, segment, i)
        if k == len(lines):
            break
        line = lines[k]
        if '"' in line:
            fields, i = _parse_quoted_record(lines, k)
        elif line == "" or line == "\r":
            raise _empty_line(k + 1)
        else:  # the only other way a line without quotes fails the expression
            raise _bare_cr(k + 1)
        _check_widths(records, [fields], k)
    return records


def parse_csv(text: str) -> tuple[list[str], list[list[str]]]:
    """Split CSV text into ``(header, rows)`` following RFC 4180 strictly; cells are kept exactly as sent.

    Comma delimiter, ``"`` quoting with ``""`` escapes (quoted fields may hold commas, CR and LF), LF or
    CRLF line ends, trailing empty lines ignored. Broken quoting, a bare CR, an empty line in the middle
    or a row whose field count differs from the header's is F_MALFORMED (the message names the data row,
    counted from 1 like ``line_no`` of the ack file, and the file line). No header row is F_HEADER.
    """
    if text.endswith("\r"):
        raise _malformed(
            f"line {text.count(chr(10)) + 1} ends with a carriage return (CR) without a line feed (LF); "
            "line ends must be LF or CRLF"
        )
    # The cyclic garbage collector is paused while millions of (acyclic) lists and strings are built:
    # repeated collections would make a 1M-row parse several times slower. Not a context manager
    # built with contextlib: it would assign __traceback__ to the frozen FileRejection and fail.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        records = _parse_quoted_text(text) if '"' in text else _parse_plain(text)
    finally:
        if gc_was_enabled:
            gc.enable()
    if not records:
        raise FileRejection("F_HEADER", "the file has no header row")
    return records[0], records[1:]


def _names(names: Iterable[str], limit: int = 10) -> str:
    listed = [repr(name) for name in names]
    if len(listed) > limit:
        return ", ".join(listed[:limit]) + f" and {len(listed) - limit} more"
    return ", ".join(listed)


def check_header(header: list[str], required: Collection[str], optional: Collection[str]) -> None:
    """Every required column present, no unknown and no repeated column; case-sensitive, any order.

    Raise F_HEADER naming every problem found; an unknown column that differs from a known one only by
    case or surrounding spaces gets a "did you mean" hint.
    """
    known = set(required) | set(optional)
    seen: set[str] = set()
    repeated: list[str] = []
    for name in header:
        if name in seen and name not in repeated:
            repeated.append(name)
        seen.add(name)
    missing = sorted(name for name in required if name not in seen)  # sorted: messages must not vary
    unknown = [name for name in dict.fromkeys(header) if name not in known]
    if not (missing or unknown or repeated):
        return
    by_folded = {name.casefold(): name for name in sorted(known)}
    problems = []
    if missing:
        problems.append(f"missing required column(s) {_names(missing)}")
    if unknown:
        hints = []
        for name in unknown:
            guess = by_folded.get(name.strip().casefold())
            hints.append(f"{name!r} (did you mean {guess!r}?)" if guess else repr(name))
        listed = ", ".join(hints[:10]) + (f" and {len(hints) - 10} more" if len(hints) > 10 else "")
        problems.append(f"unknown column(s) {listed}")
    if repeated:
        problems.append(f"repeated column(s) {_names(repeated)}")
    raise FileRejection("F_HEADER", "; ".join(problems))


# ---------------------------------------------------------------------------------------------------
# Streaming: bounded memory for files of any size
# ---------------------------------------------------------------------------------------------------
# A data file is read as a stream of byte chunks (from the store, through iter_gunzip for .csv.gz),
# decoded incrementally and cut into pieces of about _PIECE_CHARS characters at record boundaries.
# Each piece is parsed by parse_csv with the header record in front, so every rule (and every
# message) is exactly that of the whole-text parser; line and row numbers in messages are shifted
# to the file's. A record boundary is a LF after which the number of quotes read so far is even: in
# RFC 4180 quotes come in pairs around and inside quoted fields, so an odd count means "inside a
# quoted field". A quote out of place is F_MALFORMED in the piece where it stands, before any later
# cut can be wrong. A piece never ends with an empty line (the empty lines go to the next piece),
# so "empty line before the last non-empty line" is seen across pieces too.

_PIECE_CHARS = 4 << 20
_LINE_REF = re.compile(r"\b(data row|line) ([0-9]+)")


class _BadBytes(Exception):
    """Bytes that do not decode in the encoding tried: the absolute offset and the byte."""

    def __init__(self, offset: int, byte: int | None, bom: bool) -> None:
        super().__init__(offset, byte)
        self.offset, self.byte, self.bom = offset, byte, bom

    def describe(self) -> str:
        shown = "end of file" if self.byte is None else f"0x{self.byte:02X}"
        return f"byte {shown} at offset {self.offset}"


def _coalesce_head(chunks: Iterable[bytes], size: int = 4) -> Iterator[bytes]:
    """The same bytes, with the first chunk holding at least ``size`` bytes (to see a BOM)."""
    it = iter(chunks)
    head = b""
    for chunk in it:
        head += chunk
        if len(head) >= size:
            break
    if head:
        yield head
    yield from it


def iter_decoded(chunks: Iterable[bytes], encoding: str) -> Iterator[str]:
    """Decode a byte stream incrementally as ``utf-8`` (a leading BOM dropped) or ``gb18030``.

    Raise ``_BadBytes`` with the absolute offset of the first byte that does not decode.
    """
    decoder = codecs.getincrementaldecoder(encoding)()
    consumed = 0
    first = True
    bom = False
    for chunk in _coalesce_head(chunks):
        data = bytes(chunk)
        base = consumed
        if first:
            first = False
            if encoding == "utf-8" and data.startswith(codecs.BOM_UTF8):
                bom = True
                data = data[len(codecs.BOM_UTF8) :]
                base += len(codecs.BOM_UTF8)
        consumed = base + len(data)
        pending = len(decoder.getstate()[0])
        try:
            text = decoder.decode(data)
        except UnicodeDecodeError as exc:
            raise _BadBytes(base - pending + exc.start, exc.object[exc.start], bom) from None
        if text:
            if encoding == "gb18030" and base == 0 and text.startswith("\ufeff"):
                text = text[1:]
            yield text
    pending = len(decoder.getstate()[0])
    try:
        text = decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        raise _BadBytes(consumed - pending + exc.start, exc.object[exc.start], bom) from None
    if text:
        yield text


def _data_chunks(open_raw, compressed: bool, limit: int | None) -> Iterator[bytes]:
    raw = open_raw()
    return iter_gunzip(raw, limit=limit) if compressed else iter(raw)


def _encoding_rejection(utf8: _BadBytes, gb: _BadBytes | None) -> FileRejection:
    if gb is None:
        return FileRejection(
            "F_ENCODING",
            f"the file starts with a UTF-8 byte order mark but is not valid UTF-8 "
            f"({utf8.describe()}); save it as UTF-8",
        )
    return FileRejection(
        "F_ENCODING",
        f"the file is neither UTF-8 ({utf8.describe()}) nor GB18030 ({gb.describe()}); save it as UTF-8",
    )


def stream_encoding(open_raw, compressed: bool, *, limit: int | None = None) -> str:
    """The encoding of a data file read as a stream: ``utf-8-sig``, ``utf-8`` or ``gb18030``.

    ``open_raw()`` returns a fresh iterator of the file's bytes (it may be called twice). Same rules as
    :func:`detect_encoding`; F_ENCODING (or a gzip F_MALFORMED/F_TOO_LARGE) otherwise.
    """

    def drain(texts: Iterator[str]) -> None:
        for _ in texts:
            pass

    return _with_encoding(open_raw, compressed, limit, drain)[0]


def _with_encoding(open_raw, compressed: bool, limit: int | None, consume) -> tuple[str, object]:
    """Run ``consume(texts)`` on the decoded stream, UTF-8 first, then GB18030 from the start."""
    bom = [False]

    def utf8_texts() -> Iterator[str]:
        chunks = _coalesce_head(_data_chunks(open_raw, compressed, limit), _WIDE_HEAD)
        for chunk in chunks:
            if _looks_wide(chunk[:_WIDE_HEAD]):
                raise _WideText
            bom[0] = chunk.startswith(codecs.BOM_UTF8)
            yield from iter_decoded(itertools.chain((chunk,), chunks), "utf-8")
            return

    try:
        result = consume(utf8_texts())
        return ("utf-8-sig" if bom[0] else "utf-8"), result
    except _BadBytes as bad:
        utf8_bad = bad
    except _WideText:
        _size_speaks_first(open_raw, compressed, limit)
        raise _wide_rejection() from None
    gb_bad: _BadBytes | None = None
    if not utf8_bad.bom:
        try:
            return "gb18030", consume(iter_decoded(_data_chunks(open_raw, compressed, limit), "gb18030"))
        except _BadBytes as bad:
            gb_bad = bad
    _size_speaks_first(open_raw, compressed, limit)
    raise _encoding_rejection(utf8_bad, gb_bad)


def _size_speaks_first(open_raw, compressed: bool, limit: int | None) -> None:
    """Before F_ENCODING is given to a ``.csv.gz``: F_TOO_LARGE if the stream expands beyond ``limit``
    (it comes first in section 6), so the stream is read to its end. A gzip framing problem found on
    the way (corrupt, truncated) is F_MALFORMED, which comes after F_ENCODING: the bytes already
    decoded were refused by both encodings whatever follows, so F_ENCODING stands."""
    if not compressed:
        return
    try:
        for _ in _data_chunks(open_raw, compressed, limit):
            pass
    except FileRejection as rejection:
        if rejection.code != "F_MALFORMED":
            raise


def _safe_cut(buf: str) -> int:
    """Where to cut ``buf`` at a record boundary: just after the last LF with an even number of quotes
    before it and a non-empty line before it; 0 if there is none (read on)."""
    q_total = buf.count('"')
    q_after = 0
    end = len(buf)
    pos = buf.rfind("\n")
    while pos >= 0:
        q_after += buf.count('"', pos, end)
        end = pos
        if (q_total - q_after) % 2 == 0:
            j = pos - 1
            if j >= 0 and buf[j] == "\r":
                j -= 1
            if j >= 0 and buf[j] != "\n":
                return pos + 1
        pos = buf.rfind("\n", 0, pos)
    return 0


def _first_record_end(text: str) -> int:
    """Index just after the LF that ends the first record (quotes balanced), or ``len(text)``."""
    pos = text.find("\n")
    while pos >= 0:
        if text.count('"', 0, pos) % 2 == 0:
            return pos + 1
        pos = text.find("\n", pos + 1)
    return len(text)


def _shifted(rejection: FileRejection, line_shift: int, row_shift: int) -> FileRejection:
    def shift(match: re.Match[str]) -> str:
        n = int(match.group(2)) + (row_shift if match.group(1) == "data row" else line_shift)
        return f"{match.group(1)} {n}"

    return FileRejection(rejection.code, _LINE_REF.sub(shift, rejection.message))


def iter_csv(
    texts: Iterable[str], *, piece_chars: int = _PIECE_CHARS
) -> Iterator[tuple[list[str], list[list[str]]]]:
    """Parse decoded CSV text given in pieces; yield ``(header, rows)`` batches in file order.

    Exactly the rules of :func:`parse_csv` over the whole text (F_MALFORMED, F_HEADER when there is no
    header row), with memory bounded by ``piece_chars`` (plus the longest record).
    """
    parts: list[str] = []
    size = 0
    header: list[str] | None = None
    header_text = ""
    header_lines = 0
    line_base = 0  # LFs before the unparsed text
    row_base = 0  # data rows before the unparsed text
    carry = ""

    def parse(piece: str) -> tuple[list[str], list[list[str]]]:
        nonlocal header, header_text, header_lines, line_base, row_base
        if header is None:
            head, rows = parse_csv(piece)
            header = head
            header_text = piece[: _first_record_end(piece)]
            header_lines = header_text.count("\n")
        else:
            try:
                _, rows = parse_csv(header_text + piece)
            except FileRejection as exc:
                raise _shifted(exc, line_base - header_lines, row_base) from None
        line_base += piece.count("\n")
        row_base += len(rows)
        return header, rows

    yielded = False
    for text in texts:
        if "\x00" in text:
            # RFC 4180 text holds no control characters but CR/LF; a NUL also cannot be stored
            # in PostgreSQL text. Refused as a whole file, in the order of section 6.
            raise _malformed(
                "the file holds a NUL character (0x00), which CSV text cannot carry; "
                "remove it and send the file again"
            )
        parts.append(text)
        size += len(text)
        if size < piece_chars:
            continue
        buf = carry + "".join(parts)
        parts, size = [], 0
        cut = _safe_cut(buf)
        if cut == 0:
            carry = buf
            continue
        carry = buf[cut:]
        batch = parse(buf[:cut])
        if batch[1] or not yielded:
            yielded = True
            yield batch
    buf = carry + "".join(parts)
    if header is None or buf:
        batch = parse(buf)
        if batch[1] or not yielded:
            yield batch


@dataclass(frozen=True)
class TableScan:
    """What intake learns by reading a data file once: encoding, header, row count, exact amount sum."""

    encoding: str
    header: list[str]
    record_count: int
    amount_total: Decimal  # exact sum of the plain decimals of the amount column; 0 if no such column


def scan_table(
    open_raw, compressed: bool, amount_column: str, *, limit: int | None = None, block_scan: bool = True
) -> TableScan:
    """Read a data file once (twice for GB18030) in bounded memory; return its :class:`TableScan`.

    ``open_raw()`` returns a fresh iterator of the bytes as dropped. Problems are reported in the order
    of contract section 6: the output ``limit`` (F_TOO_LARGE), then F_ENCODING (the whole file is
    decoded before a CSV problem is reported; in a corrupt or truncated gzip stream, as far as it
    goes), then F_MALFORMED (gzip framing or CSV), then F_HEADER for a file without a header row. The header rule itself, F_COUNT and
    F_TOTAL are for the caller.

    With ``block_scan`` a well-formed UTF-8 file is first read by :class:`BlockScanner` (the same
    answer, several times faster); a file it cannot vouch for is read again by the parser, which
    decides. ``block_scan=False`` skips that first read when the caller already knows it fails.
    """
    if block_scan:
        quick = _block_scan(open_raw, compressed, amount_column, limit)
        if quick is not None:
            return quick

    def consume(texts: Iterator[str]) -> tuple[list[str], int, Decimal]:
        header: list[str] = []
        count = 0
        total = Decimal(0)
        try:
            for header, rows in iter_csv(texts):
                count += len(rows)
                if rows and amount_column in header:
                    cells = map(operator.itemgetter(header.index(amount_column)), rows)
                    total = _EXACT.add(total, exact_sum(cells))
        except FileRejection as problem:
            for _ in texts:  # F_ENCODING speaks before a CSV problem: decode to the end
                pass
            raise problem from None
        return header, count, total

    encoding, (header, count, total) = _with_encoding(open_raw, compressed, limit, consume)
    return TableScan(encoding, header, count, total)


def _block_scan(open_raw, compressed: bool, amount_column: str, limit: int | None) -> TableScan | None:
    """:class:`BlockScanner` over the data file's CSV bytes; None when it cannot vouch for them (a gzip
    fault or the output ``limit`` included: the parser reads the file again and reports it in order)."""
    with BlockScanner(amount_column) as scanner:
        try:
            for chunk in _data_chunks(open_raw, compressed, limit):
                if not scanner.feed(chunk):
                    return None
        except FileRejection:
            return None
        return scanner.result()


# ---------------------------------------------------------------------------------------------------
# Block scan: a well-formed UTF-8 file checked and summed on whole blocks of bytes
# ---------------------------------------------------------------------------------------------------
# The parser above builds a Python list per record: about 2.5 s for 500,000 payments, one core. Most
# files are well-formed UTF-8, and for those the scan's answer (header, record count, exact amount
# total) can be had from arrays of byte positions. BlockScanner proves a file well-formed by rules that
# accept exactly what parse_csv accepts, and bails out (returns None) at the first doubt; the caller then
# runs the parser, so a refused file always gets the parser's code and message.
#
# Why bytes suffice: in UTF-8 the bytes of ',', '"', CR and LF never occur inside a multi-byte character.
# A byte is inside a quoted field exactly when an odd number of quotes come before it (from a record
# start). With quotes numbered from 0, an even one opens a field, an odd one closes it (or, directly
# followed by a quote, is the first half of a "" escape). RFC 4180 as parse_csv applies it then reads:
#   - an opening quote follows the line start, a comma, an LF or a quote (a "" escape);
#   - a closing quote is followed by a comma, an LF, a CRLF, a quote (a "" escape) or the end of the text;
#   - the number of quotes is even (no field left open);
#   - a CR outside quotes is followed by an LF (CRLF); inside quotes anything goes;
#   - the LFs outside quotes end the lines; an empty line (nothing, or a lone CR, before its LF) comes
#     only after the last non-empty one; every non-empty line (a record) has width - 1 commas outside
#     quotes; no NUL byte; the text is valid UTF-8 (a leading BOM dropped).
# An amount cell of the form -?[0-9]{1,15}(\.[0-9]{1,2})? is summed as integer cents (int64 per block,
# Python int across blocks); any other non-empty cell goes through exact_sum, so the total is exact.

_BLOCK_BYTES = 8 << 20  # bytes per block; a record longer than a block makes the block longer
_SCAN_WORKERS = 2  # blocks checked at once (numpy and pyarrow release the GIL on whole arrays)
_AMOUNT_WIDTH = 18  # longest amount cell summed as an integer; longer cells go through exact_sum
_AMOUNT_DIGITS = 15  # 15 digits in cents stay far below 2**63 even when added up per block
_COMMA, _QUOTE, _LF, _CR = 44, 34, 10, 13


class _NotPlain(Exception):
    """The block scan cannot vouch for these bytes: the parser decides."""


@dataclass(frozen=True)
class _BlockSum:
    """What one block holds."""

    records: int  # non-empty lines (the header counts in the first block)
    blank: bool  # it has empty lines (all after its last record)
    cents: int  # sum of the amounts summed as integers, in cents
    decimals: int  # the most decimals among those amounts; -1 when there were none
    rest: Decimal  # exact sum of the other plain decimal amounts


def _record_cut(data: bytes) -> int:
    """Index just after the last LF outside quotes (an even number of quotes before it); 0 if none.
    ``data`` starts at a record start."""
    quotes = data.count(b'"')
    end = len(data)
    pos = data.rfind(b"\n")
    while pos >= 0:
        quotes -= data.count(b'"', pos, end)
        if quotes % 2 == 0:
            return pos + 1
        end = pos
        pos = data.rfind(b"\n", 0, pos)
    return 0


def _header_end(data: bytes) -> int:
    """Index of the LF that ends the first record (an even number of quotes before it); -1 if none."""
    quotes = 0
    start = 0
    pos = data.find(b"\n")
    while pos >= 0:
        quotes += data.count(b'"', start, pos)
        if quotes % 2 == 0:
            return pos
        start = pos
        pos = data.find(b"\n", pos + 1)
    return -1


def _valid_utf8(data: bytes) -> bool:
    """Whether ``data`` is valid UTF-8, exactly as Python's strict decoder judges it; pyarrow's validator
    is five times faster than decoding and releases the GIL."""
    if data.isascii():
        return True
    import numpy as np
    import pyarrow as pa

    offsets = pa.py_buffer(np.array([0, len(data)], dtype=np.int64))
    try:
        pa.Array.from_buffers(pa.large_string(), 1, [None, offsets, pa.py_buffer(data)]).validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def _scan_block(data: bytes, final: bool, width: int, amount_at: int, first: bool) -> _BlockSum | None:
    """Check one block (whole lines, from a record start; ``final``: the end of the text) by the rules
    above and sum its amount cells; None when the parser must decide. ``first``: the block starts with
    the header record."""
    try:
        return _block_sum(data, final, width, amount_at, first)
    except _NotPlain:
        return None


def _block_sum(data: bytes, final: bool, width: int, amount_at: int, first: bool) -> _BlockSum:
    import numpy as np

    if b"\x00" in data or not _valid_utf8(data):
        raise _NotPlain
    b = np.frombuffer(data, dtype=np.uint8)
    n = len(b)
    quotes = np.flatnonzero(b == _QUOTE) if b'"' in data else np.empty(0, dtype=np.intp)
    if len(quotes) % 2:
        raise _NotPlain  # a quoted field never closed
    opens, closes = quotes[0::2], quotes[1::2]
    if len(quotes):
        before = b[np.maximum(opens - 1, 0)]
        if not ((opens == 0) | (before == _COMMA) | (before == _LF) | (before == _QUOTE)).all():
            raise _NotPlain
        after_at = closes + 1
        after = b[np.minimum(after_at, n - 1)]
        crlf = (after == _CR) & (after_at + 1 < n) & (b[np.minimum(after_at + 1, n - 1)] == _LF)
        ok = (after_at >= n) | (after == _COMMA) | (after == _LF) | (after == _QUOTE) | crlf
        if not ok.all():
            raise _NotPlain

    def outside(positions: Any) -> Any:
        if not len(quotes):
            return positions
        return positions[(np.searchsorted(quotes, positions) & 1) == 0]

    if b"\r" in data:
        crs = outside(np.flatnonzero(b == _CR))
        if len(crs) and (crs[-1] + 1 >= n or (b[crs + 1] != _LF).any()):
            raise _NotPlain  # a bare CR
    ends = outside(np.flatnonzero(b == _LF))
    if not final and (not len(ends) or ends[-1] != n - 1):
        raise _NotPlain  # not reached: a block that is not the last ends with a record end
    starts = np.concatenate(([0], ends + 1))
    stops = np.concatenate((ends, [n]))
    if starts[-1] >= n:  # the text ends with an LF: no last line without one
        starts, stops = starts[:-1], stops[:-1]
    content = stops - ((stops > starts) & (b[np.maximum(stops - 1, 0)] == _CR))
    blank = content == starts
    has_blank = bool(blank.any())
    if has_blank and (~blank[int(np.argmax(blank)) :]).any():
        raise _NotPlain  # an empty line before a record
    rec_starts, rec_ends = starts[~blank], content[~blank]
    records = len(rec_starts)

    commas = np.flatnonzero(b == _COMMA)
    if len(quotes) and len(commas):
        # commas inside quoted fields: between the positions of an opening and its closing quote
        m = len(commas) + 1
        depth = np.bincount(np.searchsorted(commas, opens), minlength=m) - np.bincount(
            np.searchsorted(commas, closes), minlength=m
        )
        commas = commas[np.cumsum(depth[:-1]) == 0]
    if len(commas) != records * (width - 1):
        raise _NotPlain
    if width > 1 and records:
        per_record = np.searchsorted(commas, rec_ends) - np.searchsorted(commas, rec_starts)
        if (per_record != width - 1).any():
            raise _NotPlain  # a record with another number of fields than the header
    cents, decimals, rest = 0, -1, Decimal(0)
    skip = 1 if first else 0
    if amount_at >= 0 and records > skip:
        grid = commas.reshape(records, width - 1)[skip:]
        cell_starts = rec_starts[skip:] if amount_at == 0 else grid[:, amount_at - 1] + 1
        cell_ends = rec_ends[skip:] if amount_at == width - 1 else grid[:, amount_at]
        cents, decimals, rest = _sum_amounts(data, b, cell_starts, cell_ends)
    return _BlockSum(records, has_blank, cents, decimals, rest)


def _sum_amounts(data: bytes, b: Any, cell_starts: Any, cell_ends: Any) -> tuple[int, int, Decimal]:
    """Exact sum of the plain decimal cells among ``data[cell_starts[i]:cell_ends[i]]``: the cents of the
    cells of the form ``-?[0-9]{1,15}(\\.[0-9]{1,2})?`` (on whole arrays), the most decimals among them
    (-1 when none) and the exact sum of the other cells (:func:`exact_sum`, quoted cells unquoted)."""
    import numpy as np

    lengths = cell_ends - cell_starts
    wide = int(min(lengths.max(), _AMOUNT_WIDTH))
    simple = np.zeros(len(lengths), dtype=bool)
    cents, decimals = 0, -1
    if wide:
        # the first `wide` bytes of every cell, one column per position (rows copied from a window view)
        padded = np.concatenate((b, np.zeros(wide, dtype=np.uint8)))
        chars = np.lib.stride_tricks.sliding_window_view(padded, wide)[cell_starts].T.copy()
        chars[np.arange(wide)[:, None] >= lengths] = 0
        digits = chars - np.uint8(48)  # wraps around below '0'
        digit = digits < 10
        dot = chars == 46
        minus = chars[0] == 45
        stray = (chars != 0) & ~digit & ~dot
        stray[0] &= ~minus
        n_dots = dot.sum(axis=0)
        dot_at = dot.argmax(axis=0)
        frac = np.where(n_dots == 1, lengths - 1 - dot_at, 0)
        n_digits = digit.sum(axis=0)
        simple = (
            (lengths <= wide)
            & ~stray.any(axis=0)
            & (n_digits >= 1)
            & (n_digits <= _AMOUNT_DIGITS)
            & ((n_dots == 0) | ((n_dots == 1) & (dot_at > minus) & (frac >= 1) & (frac <= 2)))
        )
        if simple.any():
            digits, digit, frac, minus = digits[:, simple], digit[:, simple], frac[simple], minus[simple]
            value = np.zeros(len(frac), dtype=np.int64)
            for j in range(wide):
                value = np.where(digit[j], value * 10 + digits[j], value)
            value *= np.array([100, 10, 1], dtype=np.int64)[frac]
            np.negative(value, out=value, where=minus)
            if int(np.abs(value).max()) * len(value) < 2**63:
                cents = int(value.sum())
            else:  # cannot overflow in practice; exact anyway
                cents = sum(value.tolist())
            decimals = int(frac.max())
    others = ~simple & (lengths > 0)
    rest = Decimal(0)
    if others.any():
        cells = []
        for start, end in zip(cell_starts[others].tolist(), cell_ends[others].tolist(), strict=True):
            cell = data[start:end].decode("utf-8")
            if cell.startswith('"'):  # a quoted field: from its opening to its closing quote
                cell = cell[1:-1].replace('""', '"')
            cells.append(cell)
        rest = exact_sum(cells)
    return cents, decimals, rest


class BlockScanner:
    """The :class:`TableScan` of a well-formed UTF-8 CSV text fed as byte chunks, or None.

    ``feed`` the CSV bytes (gunzipped) in order, then ``result()``: the scan, equal to what
    :func:`scan_table`'s parser gives, or None when the bytes are not provably a well-formed UTF-8 CSV
    text with a header row (the parser then decides: another encoding, any F_ENCODING, F_MALFORMED,
    F_HEADER). ``feed`` returns False once the answer is None (the caller may stop feeding).

    Why by hand: pyarrow's CSV reader is fast but lenient where the contract is strict (a quote
    inside an unquoted field, a row's field count, CR handling and empty lines are not reported
    the way section 3 judges them), and it gives no exact decimal total; a reader whose
    acceptance differs from the parser's would change answers. So this only finds structure
    (quotes, line ends, commas) with numpy on bytes and defers every doubtful file to the parser.

    Blocks of about ``block_bytes`` (cut after a record) are checked by ``workers`` threads; memory
    holds about ``workers + 2`` blocks. Use as a context manager (or call ``close``) so the threads
    end when a caller stops early.
    """

    def __init__(self, amount_column: str, *, block_bytes: int = _BLOCK_BYTES, workers: int = _SCAN_WORKERS):
        self._amount_column = amount_column
        self._block_bytes = block_bytes
        self._workers = workers
        self._pool: ThreadPoolExecutor | None = None
        self._pending: deque[Future[_BlockSum | None]] = deque()
        self._parts: list[bytes] = []
        self._size = 0
        self._carry = b""
        self._started = False  # the BOM (if any) was looked at
        self._bom = False
        self._header: list[str] | None = None
        self._amount_at = -1
        self._failed = False
        self._records = 0
        self._blank = False
        self._cents = 0
        self._decimals = -1
        self._rest = Decimal(0)

    def __enter__(self) -> BlockScanner:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """End the worker threads (blocks not yet started are dropped)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def feed(self, chunk: bytes) -> bool:
        """Take the next bytes; False once the scan cannot vouch for the text."""
        if self._failed:
            return False
        self._parts.append(chunk)
        self._size += len(chunk)
        if self._size >= self._block_bytes:
            self._take(final=False)
        return not self._failed

    def result(self) -> TableScan | None:
        """The scan of the whole text fed, or None (the parser decides)."""
        try:
            if not self._failed:
                self._take(final=True)
            while self._pending and not self._failed:
                self._fold(self._pending.popleft().result())
        finally:
            self.close()
        if self._failed or self._header is None:
            return None
        total = Decimal(0)
        if self._decimals >= 0:
            units = self._cents // 10 ** (2 - self._decimals)  # exact: no amount has more decimals
            total = _EXACT.add(total, _EXACT.scaleb(Decimal(units), -self._decimals))
        encoding = "utf-8-sig" if self._bom else "utf-8"
        return TableScan(encoding, self._header, self._records - 1, _EXACT.add(total, self._rest))

    def _take(self, final: bool) -> None:
        """Cut the bytes read so far after their last record and hand that block to a worker."""
        data = b"".join([self._carry, *self._parts])
        self._parts, self._size, self._carry = [], 0, b""
        first = self._header is None
        if first:
            if not self._started:
                if len(data) < len(codecs.BOM_UTF8) and not final:
                    self._carry = data  # a BOM may still be coming
                    return
                self._started = True
                self._bom = data.startswith(codecs.BOM_UTF8)
                if self._bom:
                    data = data[len(codecs.BOM_UTF8) :]
            try:
                if not self._read_header(data, final):
                    self._carry = data
                    return
            except _NotPlain:
                self._fail()
                return
        if not final:
            cut = _record_cut(data)
            if cut == 0:  # one record longer than the block so far: read on
                self._carry = data
                return
            data, self._carry = data[:cut], data[cut:]
        assert self._header is not None
        width = len(self._header)
        if self._workers > 1:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="block-scan")
            self._pending.append(self._pool.submit(_scan_block, data, final, width, self._amount_at, first))
            while len(self._pending) > self._workers and not self._failed:
                self._fold(self._pending.popleft().result())
        else:
            self._fold(_scan_block(data, final, width, self._amount_at, first))

    def _read_header(self, text: bytes, final: bool) -> bool:
        """Read the header record at the start of ``text`` (the BOM dropped); False to wait for more."""
        end = _header_end(text)
        if end < 0:
            if not final:
                return False
            end = len(text)
        line = text[: end - 1] if end > 0 and text[end - 1 : end] == b"\r" else text[:end]
        if not line or b"\x00" in line or not _valid_utf8(line):
            raise _NotPlain  # an empty first line, no header row, ...: the parser says which problem
        try:
            header, rows = parse_csv(line.decode("utf-8"))
        except FileRejection:
            raise _NotPlain from None
        if rows:
            raise _NotPlain  # not reached: one record
        self._header = header
        self._amount_at = header.index(self._amount_column) if self._amount_column in header else -1
        return True

    def _fail(self) -> None:
        self._failed = True
        self._parts, self._carry = [], b""
        for future in self._pending:
            future.cancel()
        self._pending.clear()

    def _fold(self, block: _BlockSum | None) -> None:
        """Add a block's figures, in file order."""
        if block is None or (self._blank and block.records):
            self._fail()  # the parser decides (for the second: an empty line before a record)
            return
        self._records += block.records
        self._blank = self._blank or block.blank
        self._cents += block.cents
        self._decimals = max(self._decimals, block.decimals)
        self._rest = _EXACT.add(self._rest, block.rest)
