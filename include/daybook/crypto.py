"""Archive encryption: AES-256-GCM with a key held outside the repository.

The key is the password of the Airflow connection ``daybook_archive_key`` (32 bytes, urlsafe
base64), read through the Task SDK's Connection API; Airflow itself resolves that from its
secrets backends, including the environment variable ``AIRFLOW_CONN_DAYBOOK_ARCHIVE_KEY``
(JSON ``{"conn_type": "generic", "password": "<key>"}``). When the Task SDK cannot be asked
(a plain script), the same environment variable is parsed here. The key never comes from the
repository; see docs/archive.md for how the demo and tests generate one.

Sealed format (``DAYBOOK-AESGCM2``, segmented so a member of any size is sealed and opened in
bounded memory; the "STREAM" construction of Hoang, Reyhanitabar, Rogaway and Vizar):

- header (26 bytes): the magic ``DAYBOOK-AESGCM2`` (15 bytes), the segment size S (4 bytes,
  big-endian; 1 MiB when written here) and a random nonce prefix (7 bytes) drawn per member;
- then the segments: the plaintext cut into pieces of S bytes (the last one 0..S bytes, never
  empty unless the whole member is), each sealed with AES-256-GCM as ciphertext + 16-byte tag;
- segment i's nonce (12 bytes) is prefix + i (4 bytes, big-endian) + one byte, 1 for the last
  segment and 0 for the others; its associated data is the header followed by the member's
  path (UTF-8).

A changed byte, a reordered, dropped or repeated segment, a member cut at a segment boundary or
anywhere else, a changed header and a member moved to another name all fail to open. A
segment's plaintext is handed out only after its tag verifies; a later failure still fails the
member, so readers hash or keep what they read and judge it only at the end. Members sealed by
earlier versions (``DAYBOOK-AESGCM1``: 12-byte nonce, one AES-GCM call over the whole member,
the path as associated data) still open. The exact layout and a hand-decryption snippet are in
docs/archive.md.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

CONN_ID = "daybook_archive_key"
ENV_VAR = "AIRFLOW_CONN_DAYBOOK_ARCHIVE_KEY"
MAGIC = b"DAYBOOK-AESGCM2"
MAGIC_V1 = b"DAYBOOK-AESGCM1"  # whole member in one AES-GCM call: opened, no longer written
NONCE_BYTES = 12
PREFIX_BYTES = 7
TAG_BYTES = 16
SEGMENT_BYTES = 1 << 20
MAX_SEGMENT_BYTES = 64 << 20
HEADER_BYTES = len(MAGIC) + 4 + PREFIX_BYTES


class ArchiveKeyError(Exception):
    """The archive key is missing or malformed."""


class SealError(Exception):
    """A sealed member does not open: wrong key, changed bytes or moved to another name."""


def generate_key() -> str:
    """A fresh 256-bit key as urlsafe base64 (what the connection's password holds)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode("ascii")


def connection_env_value(key: str) -> str:
    """The value to put in AIRFLOW_CONN_DAYBOOK_ARCHIVE_KEY for a key."""
    return json.dumps({"conn_type": "generic", "password": key})


def _password_from_env() -> str | None:
    raw = os.environ.get(ENV_VAR, "").strip()
    if not raw:
        return None
    if raw.startswith("{"):
        return json.loads(raw).get("password")
    return unquote(urlsplit(raw).password or "") or None


def _password_from_airflow() -> str | None:
    try:
        from airflow.sdk import Connection

        return Connection.get(CONN_ID).password
    except Exception:  # noqa: BLE001 - not defined, or no Task SDK here: fall back to the env var
        return None


@dataclass(frozen=True)
class ArchiveKey:
    raw: bytes

    @property
    def key_id(self) -> str:
        """A public fingerprint naming the key in manifests (not the key)."""
        return hashlib.sha256(b"daybook-archive-key:" + self.raw).hexdigest()[:16]

    def seal(self, data: bytes, name: str) -> bytes:
        """A whole member sealed (small members; see :meth:`seal_stream`)."""
        return b"".join(self.seal_stream([data], name))

    def open(self, sealed: bytes, name: str) -> bytes:
        """A whole sealed member's plaintext (small members; see :meth:`open_stream`)."""
        return b"".join(self.open_stream([sealed], name))

    def seal_stream(
        self, chunks: Iterable[bytes], name: str, segment_bytes: int = SEGMENT_BYTES
    ) -> Iterator[bytes]:
        """The sealed form of a plaintext stream, piece by piece: the header, then one sealed
        segment at a time (memory bounded by the segment size and the largest chunk given)."""
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        if not 0 < segment_bytes <= MAX_SEGMENT_BYTES:
            raise ValueError(f"segment size {segment_bytes} out of range")
        aead = AESGCM(self.raw)
        prefix = secrets.token_bytes(PREFIX_BYTES)
        header = MAGIC + segment_bytes.to_bytes(4, "big") + prefix
        aad = header + name.encode("utf-8")
        yield header
        buf = bytearray()
        index = 0
        for chunk in chunks:
            buf += chunk
            done = 0
            while len(buf) - done > segment_bytes:  # a full segment with more after it: not the last
                piece = bytes(buf[done : done + segment_bytes])
                yield aead.encrypt(_segment_nonce(prefix, index, last=False), piece, aad)
                done += segment_bytes
                index += 1
            del buf[:done]
        yield aead.encrypt(_segment_nonce(prefix, index, last=True), bytes(buf), aad)

    def open_stream(self, chunks: Iterable[bytes], name: str) -> Iterator[bytes]:
        """The plaintext of a sealed stream, one verified segment at a time. Raises
        :class:`SealError` (possibly after some segments were yielded) when anything is wrong."""
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        aead = AESGCM(self.raw)
        buf = bytearray()
        header: bytes | None = None
        legacy = False
        seal_size = 0
        index = 0

        def segment(data: bytes, last: bool) -> bytes:
            try:
                return aead.decrypt(_segment_nonce(prefix, index, last=last), data, aad)
            except InvalidTag as exc:
                raise SealError(
                    f"{name}: segment {index} does not authenticate (changed, reordered or cut bytes, "
                    "wrong key or moved)"
                ) from exc

        for chunk in chunks:
            buf += chunk
            if header is None:
                if len(buf) < HEADER_BYTES:
                    continue
                if buf.startswith(MAGIC_V1):
                    legacy, header = True, b""
                    continue
                if not buf.startswith(MAGIC):
                    raise SealError(f"{name}: not a sealed daybook member")
                header = bytes(buf[:HEADER_BYTES])
                seal_size = int.from_bytes(header[len(MAGIC) : len(MAGIC) + 4], "big")
                if not 0 < seal_size <= MAX_SEGMENT_BYTES:
                    raise SealError(f"{name}: segment size {seal_size} out of range")
                prefix = header[len(MAGIC) + 4 :]
                aad = header + name.encode("utf-8")
                del buf[:HEADER_BYTES]
            if legacy:
                continue
            done = 0
            while len(buf) - done > seal_size + TAG_BYTES:  # more follows: not the last segment
                yield segment(bytes(buf[done : done + seal_size + TAG_BYTES]), last=False)
                done += seal_size + TAG_BYTES
                index += 1
            del buf[:done]
        if legacy:
            yield self._open_v1(bytes(buf), name)
            return
        if header is None:
            if bytes(buf).startswith(MAGIC_V1):
                yield self._open_v1(bytes(buf), name)
                return
            raise SealError(f"{name}: not a sealed daybook member")
        if len(buf) < TAG_BYTES:
            raise SealError(f"{name}: cut short (no last segment)")
        yield segment(bytes(buf), last=True)

    def _open_v1(self, sealed: bytes, name: str) -> bytes:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        if len(sealed) < len(MAGIC_V1) + NONCE_BYTES + TAG_BYTES:
            raise SealError(f"{name}: not a sealed daybook member")
        nonce = sealed[len(MAGIC_V1) : len(MAGIC_V1) + NONCE_BYTES]
        try:
            return AESGCM(self.raw).decrypt(
                nonce, sealed[len(MAGIC_V1) + NONCE_BYTES :], name.encode("utf-8")
            )
        except InvalidTag as exc:
            raise SealError(f"{name}: authentication failed (changed bytes, wrong key or moved)") from exc


def _segment_nonce(prefix: bytes, index: int, *, last: bool) -> bytes:
    if index >= 1 << 32:
        raise SealError("member too large: more than 2**32 segments")
    return prefix + index.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


def parse_key(text: str) -> ArchiveKey:
    try:
        raw = base64.urlsafe_b64decode(text.strip().encode("ascii"))
    except Exception as exc:  # noqa: BLE001
        raise ArchiveKeyError(f"connection {CONN_ID}: password is not urlsafe base64") from exc
    if len(raw) != 32:
        raise ArchiveKeyError(f"connection {CONN_ID}: key must be 32 bytes, got {len(raw)}")
    return ArchiveKey(raw)


def archive_key() -> ArchiveKey | None:
    """The configured archive key, or None when none is configured."""
    password = _password_from_airflow() or _password_from_env()
    return parse_key(password) if password else None
