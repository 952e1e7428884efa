"""One small storage interface over a local folder or an S3 prefix.

Landing, raw zone, outputs and archive all go through :func:`open_store`, so local folders
and S3 (or MinIO) share every code path. S3 endpoint and credentials come from the standard
AWS settings (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ...), which boto3 reads itself.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import shutil
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

CHUNK_BYTES = 1 << 20


class Store(ABC):
    """Keys are '/'-separated paths relative to the store's root."""

    root: str

    @abstractmethod
    def list(self, prefix: str = "") -> list[str]:
        """Keys under ``prefix`` (recursive), sorted."""

    @abstractmethod
    def get(self, key: str) -> bytes: ...

    @abstractmethod
    def put(self, key: str, data: bytes, metadata: dict[str, str] | None = None) -> None:
        """Write atomically: a reader never sees a partial object."""

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def delete(self, key: str) -> None: ...

    @abstractmethod
    def size(self, key: str) -> int: ...

    @abstractmethod
    def iter_chunks(self, key: str, size: int = CHUNK_BYTES) -> Iterator[bytes]:
        """The object's bytes as a stream of pieces of at most ``size`` bytes (bounded memory)."""

    @abstractmethod
    def put_stream(self, key: str, chunks: Iterable[bytes]) -> None:
        """Write a stream atomically, in bounded memory."""

    def put_file(
        self,
        key: str,
        path: Path,
        metadata: dict[str, str] | None = None,
        server_side_encryption: bool = False,
    ) -> None:
        """Write a local file's bytes as the object, atomically and in bounded memory (a local
        folder has no object metadata or server-side encryption: those apply on S3)."""
        self.put_stream(key, _file_chunks(path))

    def read_head(self, key: str, limit: int) -> bytes:
        """At most the first ``limit`` bytes of the object."""
        out = bytearray()
        for chunk in self.iter_chunks(key, min(limit, CHUNK_BYTES)):
            out += chunk
            if len(out) >= limit:
                break
        return bytes(out[:limit])

    def copy_to(self, key: str, target: Store, target_key: str) -> None:
        """Copy an object to another store (or the same one), streaming."""
        target.put_stream(target_key, self.iter_chunks(key))

    def links(self, prefix: str = "") -> list[str]:
        """Keys that are symbolic links (only a local folder has them)."""
        return []

    def move_link(self, src: str, dst: str) -> None:
        """Move a symbolic link itself (only a local folder has them)."""
        raise NotImplementedError("only a local folder has symbolic links")

    def move(self, src: str, dst: str) -> None:
        """Copy then delete; safe to repeat after a crash between the two."""
        if self.exists(src):
            self.put(dst, self.get(src))
            self.delete(src)

    def uri(self, key: str) -> str:
        return f"{self.root.rstrip('/')}/{key}"


class LocalStore(Store):
    def __init__(self, root: str) -> None:
        self.root = str(Path(root).resolve())
        self._base = Path(self.root)

    def _path(self, key: str) -> Path:
        """The file of a key. A key never leaves the root and never goes through a symbolic link
        (a link in a landing folder could point anywhere, including another client's files); the
        root itself may be a link."""
        if "\x00" in key or key.startswith("/") or ".." in key.split("/"):
            raise ValueError(f"not a key of this store: {key!r}")
        lexical = Path(os.path.normpath(self._base / key))
        path = lexical.resolve()
        if path != self._base and self._base not in path.parents:
            raise ValueError(f"key escapes the store: {key!r}")
        if path != lexical:
            raise ValueError(f"key goes through a symbolic link: {key!r}")
        return path

    def list(self, prefix: str = "") -> list[str]:
        """Regular files only: symbolic links (see :meth:`links`) are never listed or followed."""
        base = self._path(prefix) if prefix else self._base
        if not base.exists():
            return []
        if base.is_file():
            return [prefix]
        return sorted(
            p.relative_to(self._base).as_posix()
            for p in base.rglob("*")
            if p.is_file() and not p.is_symlink() and not p.name.startswith(".daybook-tmp-")
        )

    def links(self, prefix: str = "") -> list[str]:
        """Keys of the symbolic links under ``prefix`` (not followed; rglob does not enter linked
        folders)."""
        base = self._path(prefix) if prefix else self._base
        if not base.is_dir():
            return []
        return sorted(p.relative_to(self._base).as_posix() for p in base.rglob("*") if p.is_symlink())

    def move_link(self, src: str, dst: str) -> None:
        """Move a symbolic link itself (never its target) within the store."""
        parent, _, name = src.rpartition("/")
        link = (self._path(parent) if parent else self._base) / name  # the folder holding it: no link
        target = self._path(dst)
        if name not in ("", ".", "..") and link.is_symlink():
            target.parent.mkdir(parents=True, exist_ok=True)
            os.rename(link, target)

    def get(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def put(self, key: str, data: bytes, metadata: dict[str, str] | None = None) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".daybook-tmp-{os.getpid()}-{path.name}")
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)

    def iter_chunks(self, key: str, size: int = CHUNK_BYTES) -> Iterator[bytes]:
        with open(self._path(key), "rb") as fh:
            while chunk := fh.read(size):
                yield chunk

    def put_stream(self, key: str, chunks: Iterable[bytes]) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".daybook-tmp-{os.getpid()}-{path.name}")
        try:
            with open(tmp, "wb") as fh:
                for chunk in chunks:
                    fh.write(chunk)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def size(self, key: str) -> int:
        return self._path(key).stat().st_size

    def move(self, src: str, dst: str) -> None:
        """Rename; a source already moved (a rerun, or a concurrent run) is not an error."""
        s, d = self._path(src), self._path(dst)
        if s.exists():
            d.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                shutil.move(s, d)

    def uri(self, key: str) -> str:
        return str(self._path(key))


class S3Store(Store):
    def __init__(self, uri: str, client: Any | None = None) -> None:
        bucket_prefix = uri[len("s3://") :]
        self.bucket, _, prefix = bucket_prefix.partition("/")
        self.prefix = prefix.strip("/")
        self.root = f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"
        self.s3 = client if client is not None else _s3_client(*_aws_settings())

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def list(self, prefix: str = "") -> list[str]:
        full = self._key(prefix) if prefix else (f"{self.prefix}/" if self.prefix else "")
        keys: list[str] = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full):
            for obj in page.get("Contents", []):
                key = obj["Key"]
                keys.append(key[len(self.prefix) + 1 :] if self.prefix else key)
        return sorted(keys)

    def get(self, key: str) -> bytes:
        return self.s3.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()

    def put(self, key: str, data: bytes, metadata: dict[str, str] | None = None) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, Metadata=metadata or {})

    def iter_chunks(self, key: str, size: int = CHUNK_BYTES) -> Iterator[bytes]:
        body = self.s3.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
        try:
            yield from body.iter_chunks(size)
        finally:
            body.close()

    def put_stream(self, key: str, chunks: Iterable[bytes]) -> None:
        """Multipart upload of a stream (an object appears only when complete)."""
        from boto3.s3.transfer import TransferConfig

        config = TransferConfig(multipart_chunksize=16 * CHUNK_BYTES, max_concurrency=4)
        self.s3.upload_fileobj(_ChunkReader(chunks), self.bucket, self._key(key), Config=config)

    def put_file(
        self,
        key: str,
        path: Path,
        metadata: dict[str, str] | None = None,
        server_side_encryption: bool = False,
    ) -> None:
        """Upload a local file, multipart above 16 MiB (boto3 reads it part by part), with the
        user metadata and, when asked, ``ServerSideEncryption=AES256``."""
        from boto3.s3.transfer import TransferConfig

        extra: dict[str, Any] = {"Metadata": metadata or {}}
        if server_side_encryption:
            extra["ServerSideEncryption"] = "AES256"
        config = TransferConfig(
            multipart_threshold=16 * CHUNK_BYTES, multipart_chunksize=16 * CHUNK_BYTES, max_concurrency=4
        )
        self.s3.upload_file(str(path), self.bucket, self._key(key), ExtraArgs=extra, Config=config)

    def copy_to(self, key: str, target: Store, target_key: str) -> None:
        if isinstance(target, S3Store) and target.s3 is self.s3:  # server-side copy, no download
            target.s3.copy(
                {"Bucket": self.bucket, "Key": self._key(key)}, target.bucket, target._key(target_key)
            )
        else:
            super().copy_to(key, target, target_key)

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.s3.head_object(Bucket=self.bucket, Key=self._key(key))
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise

    def delete(self, key: str) -> None:
        self.s3.delete_object(Bucket=self.bucket, Key=self._key(key))

    def size(self, key: str) -> int:
        return int(self.s3.head_object(Bucket=self.bucket, Key=self._key(key))["ContentLength"])

    def move(self, src: str, dst: str) -> None:
        """Copy then delete; a source already moved (a rerun, a concurrent run) is not an error."""
        from botocore.exceptions import ClientError

        if self.exists(src):
            try:
                self.s3.copy({"Bucket": self.bucket, "Key": self._key(src)}, self.bucket, self._key(dst))
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                    return
                raise
            self.delete(src)


def _file_chunks(path: Path, size: int = CHUNK_BYTES) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        while chunk := fh.read(size):
            yield chunk


class _ChunkReader(io.RawIOBase):
    """A read-only file object over an iterator of byte chunks (for boto3's upload_fileobj)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._it = iter(chunks)
        self._buf = b""

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self._buf:
            try:
                self._buf = bytes(next(self._it))
            except StopIteration:
                return 0
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


def _aws_settings() -> tuple[str, ...]:
    names = (
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "AWS_DEFAULT_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_PROFILE",
    )
    return tuple(os.environ.get(name, "") for name in names)


@functools.lru_cache(maxsize=8)
def _s3_client(*aws_settings: str) -> Any:
    """One boto3 client per AWS setting (endpoint, region, credentials), reused: clients are thread-safe
    and costly to build. boto3 reads the settings from the environment itself."""
    import boto3

    return boto3.client("s3")


def open_store(location: str) -> Store:
    """A store for a folder path or an ``s3://bucket/prefix`` URI."""
    if location.startswith("s3://"):
        return S3Store(location)
    return LocalStore(location)
