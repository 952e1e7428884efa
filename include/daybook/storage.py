"""One small storage interface over a local folder or an S3 prefix.

Landing, raw zone, outputs and archive all go through :func:`open_store`, so local folders
and S3 (or MinIO) share every code path. S3 endpoint and credentials come from the standard
AWS settings (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ...), which boto3 reads itself.
"""

from __future__ import annotations

import os
import shutil
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any


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
        path = (self._base / key).resolve()
        if path != self._base and self._base not in path.parents:
            raise ValueError(f"key escapes the store: {key}")
        return path

    def list(self, prefix: str = "") -> list[str]:
        base = self._path(prefix) if prefix else self._base
        if not base.exists():
            return []
        if base.is_file():
            return [prefix]
        return sorted(
            p.relative_to(self._base).as_posix()
            for p in base.rglob("*")
            if p.is_file() and not p.name.startswith(".daybook-tmp-")
        )

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

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def size(self, key: str) -> int:
        return self._path(key).stat().st_size

    def move(self, src: str, dst: str) -> None:
        s, d = self._path(src), self._path(dst)
        if s.exists():
            d.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(s, d)

    def uri(self, key: str) -> str:
        return str(self._path(key))


class S3Store(Store):
    def __init__(self, uri: str, client: Any | None = None) -> None:
        bucket_prefix = uri[len("s3://") :]
        self.bucket, _, prefix = bucket_prefix.partition("/")
        self.prefix = prefix.strip("/")
        self.root = f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"
        if client is None:
            import boto3

            client = boto3.client("s3")
        self.s3 = client

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
        if self.exists(src):
            self.s3.copy_object(
                Bucket=self.bucket,
                Key=self._key(dst),
                CopySource={"Bucket": self.bucket, "Key": self._key(src)},
            )
            self.delete(src)


def open_store(location: str) -> Store:
    """A store for a folder path or an ``s3://bucket/prefix`` URI."""
    if location.startswith("s3://"):
        return S3Store(location)
    return LocalStore(location)
