"""A corrupt or truncated ``.csv.gz`` against section 6: F_TOO_LARGE, then F_ENCODING, then F_MALFORMED.

The text a broken gzip stream holds before its fault is text the client sent: if both encodings
refuse a byte of it, F_ENCODING applies whatever follows, and it comes before F_MALFORMED. Only the
output limit (F_TOO_LARGE) speaks before it. Everything zlib can decompress before the fault must be
seen, whatever the chunking, so the code does not depend on how the store cuts the bytes.
"""

from __future__ import annotations

import gzip
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daybook import fileformat
from daybook.codes import FileRejection

TEXT = b"client_ref,amount\n" + b"".join(b"R%05d,%d.00\n" % (i, i) for i in range(3000))
BAD = b"client_ref,amount\nR1,1.00\n\x80\x80\n" + TEXT[18:]  # 0x80 0x80: neither UTF-8 nor GB18030
GB = b"client_ref,amount\n" + "王伟,1.00\n".encode("gb18030") * 3000  # not UTF-8, valid GB18030


def pieces(data: bytes, size: int):
    return lambda: (data[i : i + size] for i in range(0, len(data), size))


def code_of(func, *args, **kwargs) -> str:
    with pytest.raises(FileRejection) as info:
        func(*args, **kwargs)
    return info.value.code


def gunzip_until_fault(data: bytes, size: int) -> bytes:
    """The output iter_gunzip gives before it raises F_MALFORMED."""
    out = bytearray()
    with pytest.raises(FileRejection) as info:
        for piece in fileformat.iter_gunzip(pieces(data, size)()):
            out += piece
    assert info.value.code == "F_MALFORMED"
    return bytes(out)


def bad_crc(data: bytes) -> bytes:
    packed = bytearray(gzip.compress(data, mtime=0))
    packed[-8] ^= 0xFF
    return bytes(packed)


@pytest.mark.parametrize("size", [1, 7, 4096, 1 << 20])
def test_a_stream_with_a_wrong_crc_gives_its_whole_text_before_f_malformed(size: int) -> None:
    assert gunzip_until_fault(bad_crc(TEXT), size) == TEXT


@pytest.mark.parametrize("size", [1, 7, 4096, 1 << 20])
def test_a_truncated_stream_gives_what_it_holds_before_f_malformed(size: int) -> None:
    packed = gzip.compress(TEXT, mtime=0)
    out = gunzip_until_fault(packed[: len(packed) // 2], size)
    assert out and TEXT.startswith(out)


@settings(max_examples=60, deadline=None)
@given(
    cut=st.integers(min_value=20, max_value=400),
    flip=st.integers(min_value=1, max_value=255),
    size=st.integers(1, 900),
)
def test_what_a_corrupt_stream_gives_does_not_depend_on_the_chunking(cut: int, flip: int, size: int) -> None:
    packed = bytearray(gzip.compress(TEXT, mtime=0))
    packed[cut] ^= flip
    whole = _gunzip_or_fault(bytes(packed), len(packed))
    assert _gunzip_or_fault(bytes(packed), size) == whole


def _gunzip_or_fault(data: bytes, size: int) -> tuple[bytes, str | None]:
    out = bytearray()
    try:
        for piece in fileformat.iter_gunzip(pieces(data, size)()):
            out += piece
    except FileRejection as rejection:
        return bytes(out), rejection.code
    return bytes(out), None


def test_salvage_stops_at_the_refused_byte() -> None:
    packed = bad_crc(TEXT)
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    assert b"".join(fileformat._salvage(inflater, packed, 0)) == TEXT
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    assert b"".join(fileformat._salvage(inflater, packed, 100)) == TEXT[100:]


@pytest.mark.parametrize("size", [3, 4096, 1 << 20])
@pytest.mark.parametrize(
    "broken",
    [lambda p: p[: len(p) // 2], lambda p: p[:-30], lambda p: bad_crc(BAD)],
    ids=["truncated-half", "truncated-end", "wrong-crc"],
)
def test_bytes_both_encodings_refuse_in_a_broken_stream_are_f_encoding(size: int, broken) -> None:
    packed = broken(gzip.compress(BAD, mtime=0))
    assert code_of(fileformat.scan_table, pieces(packed, size), True, "amount") == "F_ENCODING"
    assert code_of(fileformat.stream_encoding, pieces(packed, size), True) == "F_ENCODING"


@pytest.mark.parametrize("size", [3, 4096])
def test_utf16_without_bom_in_a_truncated_stream_is_f_encoding(size: int) -> None:
    packed = gzip.compress(TEXT.decode().encode("utf-16-le"), mtime=0)[:-30]
    assert code_of(fileformat.scan_table, pieces(packed, size), True, "amount") == "F_ENCODING"


@pytest.mark.parametrize(
    "text",
    [TEXT, GB],
    ids=["utf-8-so-far", "gb18030-so-far"],
)
def test_a_broken_stream_whose_text_so_far_decodes_is_f_malformed(text: bytes) -> None:
    packed = gzip.compress(text, mtime=0)
    for broken in (packed[: len(packed) // 2], packed[:-4], bad_crc(text)):
        assert code_of(fileformat.scan_table, pieces(broken, 4096), True, "amount") == "F_MALFORMED"


def test_the_size_limit_speaks_before_the_encoding_of_a_broken_stream() -> None:
    packed = gzip.compress(BAD, mtime=0)[:-30]
    assert code_of(fileformat.scan_table, pieces(packed, 4096), True, "amount", limit=1000) == "F_TOO_LARGE"
    assert code_of(fileformat.scan_table, pieces(packed, 4096), True, "amount", limit=10**9) == "F_ENCODING"
