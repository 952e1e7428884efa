"""Archive encryption: AES-256-GCM with a key held outside the repository.

The key is the password of the Airflow connection ``daybook_archive_key`` (32 bytes, urlsafe
base64), read through the Task SDK's Connection API; Airflow itself resolves that from its
secrets backends, including the environment variable ``AIRFLOW_CONN_DAYBOOK_ARCHIVE_KEY``
(JSON ``{"conn_type": "generic", "password": "<key>"}``). When the Task SDK cannot be asked
(a plain script), the same environment variable is parsed here. The key never comes from the
repository; see docs/archive.md for how the demo and tests generate one.

Sealed format: ``DAYBOOK-AESGCM1`` magic, 12-byte random nonce, ciphertext+tag. The member's
path is the associated data, so a member moved to another name fails to open.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

CONN_ID = "daybook_archive_key"
ENV_VAR = "AIRFLOW_CONN_DAYBOOK_ARCHIVE_KEY"
MAGIC = b"DAYBOOK-AESGCM1"
NONCE_BYTES = 12


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
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        nonce = secrets.token_bytes(NONCE_BYTES)
        return MAGIC + nonce + AESGCM(self.raw).encrypt(nonce, data, name.encode("utf-8"))

    def open(self, sealed: bytes, name: str) -> bytes:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        if not sealed.startswith(MAGIC) or len(sealed) < len(MAGIC) + NONCE_BYTES + 16:
            raise SealError(f"{name}: not a sealed daybook member")
        nonce = sealed[len(MAGIC) : len(MAGIC) + NONCE_BYTES]
        try:
            return AESGCM(self.raw).decrypt(nonce, sealed[len(MAGIC) + NONCE_BYTES :], name.encode("utf-8"))
        except InvalidTag as exc:
            raise SealError(f"{name}: authentication failed (changed bytes, wrong key or moved)") from exc


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
