"""A real HTTP S3 endpoint on loopback (moto server mode) and the intake test helpers shared by
the intake test modules, so every intake case runs on local folders and on S3 alike.

Use from a test module with ``pytest_plugins = ["s3_fixtures"]``. The ``store_kind`` fixture is
parametrized ``local``/``s3``; ``intake_zones`` points DAYBOOK_LANDING/RAW/OUTPUTS/ARCHIVE at
local folders (the ``zones`` fixture) or at a fresh bucket on the moto server.
"""

from __future__ import annotations

import gzip
import hashlib
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from daybook.business_types import LOAN, PAY
from daybook.storage import Store, open_store

DAY = "2026-11-27"  # a Friday, a business day in config/calendar/2026.yaml
DAY8 = "20261127"
CLIENT = "BANKA"  # a sample client with a profile in config/profiles


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1 with a free port, for the whole session."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def s3_env(endpoint: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


@pytest.fixture(params=["local", "s3"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@dataclass
class Zones:
    kind: str
    landing: Store
    raw: Store
    env: dict[str, str]  # the DAYBOOK_* and AWS_* variables a subprocess needs


@pytest.fixture
def intake_zones(store_kind: str, zones: dict[str, Path], monkeypatch: pytest.MonkeyPatch, request) -> Zones:
    """Landing and raw zones on the requested backend; the environment points intake at them."""
    env: dict[str, str] = {}
    if store_kind == "s3":
        endpoint = request.getfixturevalue("s3_endpoint")
        env.update(s3_env(endpoint))
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        import boto3

        bucket = f"daybook-{uuid.uuid4().hex[:12]}"
        boto3.client("s3").create_bucket(Bucket=bucket)
        for name in ("landing", "raw", "outputs", "archive"):
            env[f"DAYBOOK_{name.upper()}"] = f"s3://{bucket}/{name}"
    else:
        for name, path in zones.items():
            env[f"DAYBOOK_{name.upper()}"] = str(path)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Zones(store_kind, open_store(env["DAYBOOK_LANDING"]), open_store(env["DAYBOOK_RAW"]), env)


# ---------------------------------------------------------------------------------------------------
# Building drops by hand from the contract (sections 2-4)
# ---------------------------------------------------------------------------------------------------

PAY_HEADER = list(PAY.required)  # the 12 required PAY columns (contract section 4)
LOAN_HEADER = list(LOAN.required)


def point_zones(mp: pytest.MonkeyPatch, kind: str, root: Path, request, prefix: str) -> dict[str, str]:
    """Point landing, raw, outputs and archive at folders under ``root`` ("local") or at a new
    bucket on the loopback S3 endpoint ("s3"); returns the zone locations."""
    if kind == "s3":
        for key, value in s3_env(request.getfixturevalue("s3_endpoint")).items():
            mp.setenv(key, value)
        import boto3

        bucket = f"{prefix}-{uuid.uuid4().hex[:8]}"
        boto3.client("s3").create_bucket(Bucket=bucket)
        zones = {n: f"s3://{bucket}/{n}" for n in ("landing", "raw", "outputs", "archive")}
    else:
        zones = {n: str(root / n) for n in ("landing", "raw", "outputs", "archive")}
    for name, location in zones.items():
        mp.setenv(f"DAYBOOK_{name.upper()}", location)
    return zones


def pay_row(ref: str, amount: str, payer_name: str = "张伟", purpose: str | None = None) -> list[str]:
    row = [
        ref,
        "2026-11-27",
        "6222020200112233",
        payer_name,
        "RIC",
        "11010519491231002X",
        "ACCOUNT",
        "0012345678",
        "李芳",
        "102100099996",
        amount,
        "CNY",
    ]
    return row if purpose is None else [*row, purpose]


def csv_text(header: list[str], rows: list[list[str]], eol: str = "\n") -> str:
    """Rows joined by commas; a cell is quoted when it holds a comma, quote, CR or LF (RFC 4180)."""

    def cell(value: str) -> str:
        if any(ch in value for ch in ',"\r\n'):
            return '"' + value.replace('"', '""') + '"'
        return value

    return "".join(",".join(cell(v) for v in line) + eol for line in [header, *rows])


def pay_csv(amounts: list[str], eol: str = "\n", **kwargs) -> str:
    return csv_text(PAY_HEADER, [pay_row(f"R{i:04d}", a, **kwargs) for i, a in enumerate(amounts, 1)], eol)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def ctl(name: str, count: int | str, total: str, data: bytes | str) -> bytes:
    """A control file line: ``name|count|total|sha256`` (data given as bytes, or a sha as text)."""
    digest = data if isinstance(data, str) else sha(data)
    return f"{name}|{count}|{total}|{digest}\n".encode()


def drop(
    landing: Store,
    name: str,
    data: bytes,
    *,
    count: int | str | None = None,
    total: str | None = None,
    control: bytes | None = None,
    folder: str = CLIENT,
) -> bytes:
    """Put a data file and (unless count, total and control are all None) its control file in the inbox."""
    landing.put(f"{folder}/inbox/{name}", data)
    stem = name.removesuffix(".gz").removesuffix(".csv")
    if control is None and count is not None:
        control = ctl(name, count, total or "0.00", data)
    if control is not None:
        landing.put(f"{folder}/inbox/{stem}.ctl", control)
    return data


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)
