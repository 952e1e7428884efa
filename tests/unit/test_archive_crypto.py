"""Sealed archive members (segmented AES-256-GCM): a member of several segments round-trips
whatever the chunking; a changed, reordered, dropped or cut segment, a changed header and a
member moved to another name do not open; the documented hand decryption (plain ``cryptography``,
not this package) opens what is sealed; members sealed in the earlier one-shot format still open.
"""

from __future__ import annotations

import os
import struct

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from daybook import crypto

NAME = "originals/BANKA_PAY_20261127_001.csv"
SEG = 1 << 20  # the segment size written (docs/archive.md)
HEADER = 26  # magic (15) + segment size (4) + nonce prefix (7)
TAG = 16


@pytest.fixture
def key() -> crypto.ArchiveKey:
    return crypto.parse_key(crypto.generate_key())


def _chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)] or [b""]


def _segments(sealed: bytes) -> tuple[bytes, list[bytes]]:
    body = sealed[HEADER:]
    return sealed[:HEADER], [body[i : i + SEG + TAG] for i in range(0, len(body), SEG + TAG)]


def hand_decrypt(raw_key: bytes, sealed: bytes, name: str) -> bytes:
    """The procedure docs/archive.md gives auditors, written out independently."""
    header, body = sealed[:26], sealed[26:]
    assert header[:15] == b"DAYBOOK-AESGCM2"
    seg = struct.unpack(">I", header[15:19])[0]
    prefix = header[19:26]
    n = max(1, -(-len(body) // (seg + 16)))
    out = b""
    for i in range(n):
        nonce = prefix + struct.pack(">I", i) + bytes([i == n - 1])
        out += AESGCM(raw_key).decrypt(
            nonce, body[i * (seg + 16) : (i + 1) * (seg + 16)], header + name.encode()
        )
    return out


@pytest.mark.parametrize(
    "size", [0, 1, SEG - 1, SEG, SEG + 1, 2 * SEG, 2 * SEG + 12_345], ids=lambda n: f"{n}B"
)
@pytest.mark.parametrize("chunk", [4096, SEG, 3 * SEG + 7])
def test_a_member_of_any_size_round_trips_in_any_chunking(key, size, chunk):
    data = os.urandom(size)
    sealed = b"".join(key.seal_stream(_chunks(data, chunk), NAME))
    segments = max(1, -(-size // SEG))  # the last segment is never empty unless the member is
    assert len(sealed) == HEADER + size + TAG * segments
    assert b"".join(key.open_stream(_chunks(sealed, chunk), NAME)) == data
    assert hand_decrypt(key.raw, sealed, NAME) == data


def test_each_sealing_draws_a_fresh_nonce_prefix(key):
    a, b = key.seal(b"same bytes", NAME), key.seal(b"same bytes", NAME)
    assert a[:19] == b[:19] and a[19:26] != b[19:26] and a != b


def _damaged(sealed: bytes, how: str) -> bytes:
    header, segs = _segments(sealed)
    assert len(segs) == 3
    if how == "changed_byte_in_middle_segment":
        seg = bytearray(segs[1])
        seg[100] ^= 0x01
        return header + segs[0] + bytes(seg) + segs[2]
    if how == "segments_swapped":
        return header + segs[1] + segs[0] + segs[2]
    if how == "last_segment_dropped":  # cut exactly at a segment boundary
        return header + segs[0] + segs[1]
    if how == "cut_inside_a_segment":
        return sealed[: HEADER + SEG + TAG + 500]
    if how == "segment_repeated":
        return header + segs[0] + segs[0] + segs[1] + segs[2]
    if how == "nonce_prefix_changed":
        return header[:19] + bytes(7) + b"".join(segs)
    if how == "segment_size_changed":
        return header[:15] + struct.pack(">I", SEG // 2) + header[19:] + b"".join(segs)
    if how == "tag_of_last_segment_cut":
        return sealed[:-1]
    raise AssertionError(how)


@pytest.mark.parametrize(
    "how",
    [
        "changed_byte_in_middle_segment",
        "segments_swapped",
        "last_segment_dropped",
        "cut_inside_a_segment",
        "segment_repeated",
        "nonce_prefix_changed",
        "segment_size_changed",
        "tag_of_last_segment_cut",
    ],
)
def test_a_damaged_sealed_member_does_not_open(key, how):
    data = os.urandom(2 * SEG + 1000)
    bad = _damaged(key.seal(data, NAME), how)
    with pytest.raises(crypto.SealError):
        b"".join(key.open_stream(_chunks(bad, 65536), NAME))


def test_a_member_moved_to_another_name_or_opened_with_another_key_does_not_open(key):
    sealed = key.seal(b"payload", NAME)
    with pytest.raises(crypto.SealError):
        key.open(sealed, "originals/OTHER.csv")
    with pytest.raises(crypto.SealError):
        crypto.parse_key(crypto.generate_key()).open(sealed, NAME)


def test_bytes_that_were_never_sealed_do_not_open(key):
    with pytest.raises(crypto.SealError):
        key.open(b"client_ref,amount\nR1,10.00\n", NAME)
    with pytest.raises(crypto.SealError):
        key.open(b"", NAME)


def test_a_member_sealed_in_the_earlier_one_shot_format_still_opens(key):
    nonce = os.urandom(12)
    old = b"DAYBOOK-AESGCM1" + nonce + AESGCM(key.raw).encrypt(nonce, b"archived in 2026", NAME.encode())
    assert b"".join(key.open_stream(_chunks(old, 7), NAME)) == b"archived in 2026"
    forged = old[:-1] + bytes([old[-1] ^ 1])
    with pytest.raises(crypto.SealError):
        key.open(forged, NAME)
