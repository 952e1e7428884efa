"""Archive (归档): one package per client per business date, verified before anything is purged.

A package (``<archive root>/<CLIENT>/<YYYY-MM-DD>/``) holds:

- ``originals/``: the exact bytes of every file received that day (data and control files,
  refused ones too);
- ``returns/``: every return file written for them (``.rej``, ``.ack.csv``, ``.ret.csv``);
- ``records.parquet``: the day's rows with their final states (the ``records`` table);
- ``approvals.csv``: the approval audit (every decision, who, when, opinion);
- ``ledger.csv``: the ledger postings of the day's rows;
- ``aml/cases.csv``, ``aml/decisions.csv``, ``aml/large_value.csv``: the anti-money-laundering
  cases of the day's rows (sanctions, structuring holds), every decision on them (who, when,
  note) and the large-value payers reported; ``aml/<CLIENT>_LVR_<YYYYMMDD>.csv``: the day's
  large-value report as written to the outputs zone;
- ``data_docs/<stem>/``: the GX Data Docs of the client's files;
- ``profiles/<version>.yaml``: the client profile version(s) that judged the files;
- ``manifest.json``: every member's path, sha256 and size (of the plaintext), the profile
  versions, the retention date and the encryption used; ``SHA256SUMS`` the same hashes in
  ``sha256sum -c`` form.

With an archive key configured (:mod:`daybook.crypto`) every member is stored sealed with
AES-256-GCM as ``<path>.enc``; ``manifest.json`` and ``SHA256SUMS`` stay readable (they hold
names and hashes only) and the manifest's own hash is kept in the ``archives`` table. On S3
every object is written with server-side encryption requested and the retention date in its
metadata, through the same code path. Without a key the package is written in plaintext and a
warning alert says so (``DAYBOOK_ARCHIVE_REQUIRE_KEY=1`` refuses instead; set it in production).

Nothing in a package holds a wall-clock time of the archiving run, so archiving the same day
twice yields the same plaintext members and the same manifest; an existing sealed member whose
plaintext is unchanged is left as it is. After writing, the package is read back and verified;
only then are staging rows older than the purge window cleared (:func:`purge_staging`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from daybook import audit_chain, crypto, csvsafe, db, events
from daybook.config import settings
from daybook.storage import S3Store, Store, open_store

log = logging.getLogger(__name__)
RETURN_SUFFIXES = (".rej", ".ack.csv", ".ret.csv")
TERMINAL = ("REJECTED", "COMPLETED")
PACKAGE_FORMAT = 2
SEALED_SUFFIX = ".enc"
INDEX_FILES = ("manifest.json", "SHA256SUMS")
RECORDS_MEMBER = "records.parquet"
DEFAULT_RETENTION_YEARS = 10
DEFAULT_PURGE_AFTER_DAYS = 90
# The anti-money-laundering record of the client-day: cases (holds), the people's decisions, and
# the large-value transaction reports.
AML_PACKAGE_QUERIES = {
    "aml/cases.csv": "select_aml_cases_of_package",
    "aml/decisions.csv": "select_aml_decisions_of_package",
    "aml/large_value.csv": "select_large_value_of_package",
}
_INT_COLUMNS = {"file_id", "line_no", "amount_cents", "approval_id", "level", "entry_id"}


class ArchiveVerificationError(Exception):
    """A package read back does not match its manifest or the database."""


# --------------------------------------------------------------------------- configuration


def retention_years(record_class: str) -> int:
    """Years a package of the record class is kept: ``DAYBOOK_RETENTION_YEARS_<CLASS>``, else
    ``DAYBOOK_RETENTION_YEARS``, else 10 (anti-money-laundering record keeping)."""
    for name in (f"DAYBOOK_RETENTION_YEARS_{record_class.upper()}", "DAYBOOK_RETENTION_YEARS"):
        value = os.environ.get(name, "").strip()
        if value:
            return int(value)
    return DEFAULT_RETENTION_YEARS


def purge_after_days() -> int:
    """Calendar days staging rows stay in the live database after their day (default 90)."""
    return int(os.environ.get("DAYBOOK_PURGE_AFTER_DAYS", "").strip() or DEFAULT_PURGE_AFTER_DAYS)


def _require_key() -> bool:
    return os.environ.get("DAYBOOK_ARCHIVE_REQUIRE_KEY", "").strip() in ("1", "true", "yes")


def add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year that has none
        return day.replace(year=day.year + years, day=28)


def record_class(file_types: set[str]) -> str:
    """The package's record class: its file types joined (``LOAN+PAY``), ``OTHER`` if none is known."""
    return "+".join(sorted(file_types)) or "OTHER"


def retain_until(business_date: str, file_types: set[str]) -> str:
    """The longest retention among the package's file types, counted from the business date."""
    years = max([retention_years(t) for t in file_types] or [retention_years("OTHER")])
    return add_years(date.fromisoformat(business_date), years).isoformat()


# --------------------------------------------------------------------------- storage helpers


def put_object(store: Store, key: str, data: bytes, retain: str | None = None) -> None:
    """Write one archive object; on S3 with server-side encryption and the retention date."""
    metadata = {"retain-until": retain} if retain else {}
    if isinstance(store, S3Store):
        full = f"{store.prefix}/{key}" if store.prefix else key
        store.s3.put_object(
            Bucket=store.bucket, Key=full, Body=data, ServerSideEncryption="AES256", Metadata=metadata
        )
    else:
        store.put(key, data)


def object_metadata(store: Store, key: str) -> dict[str, Any]:
    """S3 object's encryption and user metadata (empty for a local store)."""
    if not isinstance(store, S3Store):
        return {}
    full = f"{store.prefix}/{key}" if store.prefix else key
    head = store.s3.head_object(Bucket=store.bucket, Key=full)
    return {"ServerSideEncryption": head.get("ServerSideEncryption"), "Metadata": head.get("Metadata", {})}


def archive_store() -> Store:
    return open_store(settings().archive)


def package_prefix(client_id: str, business_date: str) -> str:
    return f"{client_id}/{business_date}"


# --------------------------------------------------------------------------- member contents


def _cell(value: Any) -> Any:
    if value is None or isinstance(value, (int, str)):
        return value
    return str(value)


def rows_to_parquet(rows: list[dict[str, Any]], columns: list[str]) -> bytes:
    """Rows as Parquet bytes with an explicit schema (int64 or string), deterministic."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([(c, pa.int64() if c in _INT_COLUMNS else pa.string()) for c in columns])
    data = {c: [_cell(r[c]) if c in _INT_COLUMNS else _str_or_none(r[c]) for r in rows] for c in columns}
    table = pa.Table.from_pydict(data, schema=schema)
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def rows_to_csv(rows: list[dict[str, Any]], columns: list[str]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for r in rows:
        writer.writerow(csvsafe.row(r[c] for c in columns))
    return out.getvalue().encode("utf-8")


def _query(conn: Any, name: str, params: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    result = db.run(conn, name, params)
    columns = list(result.keys())
    return [dict(r._mapping) for r in result], columns


def collect(client_id: str, business_date: str) -> tuple[dict[str, bytes], list[Any]]:
    """Every member of the client's package for the day, by path, and the day's files."""
    s = settings()
    raw, landing, outputs = open_store(s.raw), open_store(s.landing), open_store(s.outputs)
    params = {"client_id": client_id, "business_date": business_date}
    with db.begin() as conn:
        files = db.run(
            conn, "select_files_of_intake_day", {"folder": client_id, "business_date": business_date}
        ).all()
        records, record_cols = _query(conn, "select_records_of_package", params)
        approvals, approval_cols = _query(conn, "select_approvals_of_package", params)
        ledger, ledger_cols = _query(conn, "select_ledger_of_package", params)
        aml = {name: _query(conn, sql, params) for name, sql in AML_PACKAGE_QUERIES.items()}
        profiles = {
            v: db.run(
                conn, "select_profile_version", {"client_id": client_id, "version": v}
            ).scalar_one_or_none()
            for v in sorted({f.profile_version for f in files if f.profile_version})
        }
    members: dict[str, bytes] = {}
    for f in files:
        members[f"originals/{f.name}"] = raw.get(f.raw_key)
        if f.control_raw_key:
            members[f"originals/{f.control_raw_key.rsplit('/', 1)[-1]}"] = raw.get(f.control_raw_key)
        for suffix in RETURN_SUFFIXES:
            key = f"{f.folder}/outbox/{f.stem}{suffix}"
            if landing.exists(key):
                members[f"returns/{f.stem}{suffix}"] = landing.get(key)
        docs = f"{business_date}/data_docs/{f.stem}/"
        for key in outputs.list(docs):
            members[f"data_docs/{f.stem}/{key[len(docs) :]}"] = outputs.get(key)
    members[RECORDS_MEMBER] = rows_to_parquet(records, record_cols)
    members["approvals.csv"] = rows_to_csv(approvals, approval_cols)
    members["ledger.csv"] = rows_to_csv(ledger, ledger_cols)
    for name, (rows, cols) in aml.items():
        members[name] = rows_to_csv(rows, cols)
    lvr = f"aml/{client_id}/{business_date}/"
    for key in outputs.list(lvr):
        members[f"aml/{key[len(lvr) :]}"] = outputs.get(key)
    for version, content in profiles.items():
        if content is not None:
            members[f"profiles/{version}.yaml"] = content.encode("utf-8")
    return members, files


def _file_types(files: list[Any]) -> set[str]:
    types = set()
    for f in files:
        parts = f.name.split("_")
        if len(parts) >= 3 and parts[1] in ("PAY", "LOAN"):
            types.add(parts[1])
    return types


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    return (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def sha256sums(members: list[dict[str, Any]]) -> bytes:
    return "".join(f"{m['sha256']}  {m['path']}\n" for m in members).encode("utf-8")


# --------------------------------------------------------------------------- build


def list_clients(business_date: str) -> list[str]:
    db.migrate()
    with db.begin() as conn:
        return [
            r.folder for r in db.run(conn, "select_folders_of_intake_day", {"business_date": business_date})
        ]


def _key_or_none(client_id: str, business_date: str) -> crypto.ArchiveKey | None:
    key = crypto.archive_key()
    if key is None:
        if _require_key():
            raise crypto.ArchiveKeyError(
                f"no archive key: define the Airflow connection {crypto.CONN_ID} (DAYBOOK_ARCHIVE_REQUIRE_KEY=1)"
            )
        with db.begin() as conn:
            events.alert(
                conn,
                "ARCHIVE_UNENCRYPTED",
                f"no archive key ({crypto.CONN_ID}): the package of {client_id} {business_date} is stored "
                "without client-side encryption",
                dedup_key=f"archive-unencrypted:{client_id}:{business_date}",
                client_id=client_id,
                business_date=business_date,
            )
    return key


def build_package(client_id: str, business_date: str) -> dict[str, Any]:
    """Write the client's package for the day, register it, read it back and verify it, and only
    then purge staging rows older than the window. Idempotent."""
    with db.begin() as conn:
        files = db.run(
            conn, "select_files_of_intake_day", {"folder": client_id, "business_date": business_date}
        ).all()
    unfinished = [f.name for f in files if f.status not in TERMINAL]
    if unfinished:
        log.warning("%s %s not archived yet: files not final: %s", client_id, business_date, unfinished)
        return {"client_id": client_id, "skipped": True, "unfinished": unfinished}
    # -- settlement's gate: no package while the day has an unexplained reconciliation break.
    from daybook import reconciliation

    breaks = reconciliation.unexplained_breaks(client_id, business_date)
    if breaks:
        log.warning(
            "%s %s not archived: unexplained reconciliation breaks %s", client_id, business_date, breaks
        )
        return {
            "client_id": client_id,
            "skipped": True,
            "breaks": [f"{b['kind']} {b['subject']}" for b in breaks],
        }
    # -- end of settlement's gate
    written = write_package(client_id, business_date)
    result = verify_package(client_id, business_date)
    if not result.ok:
        _alert_verification(result)
        raise ArchiveVerificationError(f"{client_id} {business_date}: {'; '.join(result.problems)}")
    purged = purge_staging(client_id, business_date)
    # The client's audit chain head, written outside the database (see daybook.audit_chain).
    anchor = audit_chain.write_anchor(client_id, business_date)
    return {**written, "verified": True, "purged_dates": purged, "audit_anchor": anchor}


def write_package(client_id: str, business_date: str) -> dict[str, Any]:
    """Collect, seal (with a key) and write the package, then register it in ``archives``."""
    members, files = collect(client_id, business_date)
    key = _key_or_none(client_id, business_date)
    types = _file_types(files)
    retain = retain_until(business_date, types)
    store, prefix = archive_store(), package_prefix(client_id, business_date)
    listing = [
        {
            "path": path,
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data),
            "stored_as": path + SEALED_SUFFIX if key else path,
        }
        for path, data in sorted(members.items())
    ]
    manifest = {
        "format": PACKAGE_FORMAT,
        "client_id": client_id,
        "business_date": business_date,
        "profile_versions": sorted({f.profile_version for f in files if f.profile_version}),
        "record_class": record_class(types),
        "retain_until": retain,
        "encryption": (
            {"algorithm": "AES-256-GCM", "key_id": key.key_id, "connection": crypto.CONN_ID} if key else None
        ),
        "files": [
            {"name": f.name, "status": f.status, "reason_code": f.reason_code, "sha256": f.sha256}
            for f in files
        ],
        "members": listing,
    }
    expected = {m["stored_as"] for m in listing} | set(INDEX_FILES)
    for stale in store.list(prefix + "/"):  # a member no longer in the day, or stored the other way
        if stale[len(prefix) + 1 :] not in expected:
            store.delete(stale)
    for m in listing:
        data = members[m["path"]]
        stored_key = f"{prefix}/{m['stored_as']}"
        if key is not None:
            if _unchanged_sealed(store, stored_key, m, key):
                continue
            data = key.seal(data, m["path"])
        put_object(store, stored_key, data, retain)
    body = manifest_bytes(manifest)
    put_object(store, f"{prefix}/SHA256SUMS", sha256sums(listing), retain)
    put_object(store, f"{prefix}/manifest.json", body, retain)
    manifest_sha = hashlib.sha256(body).hexdigest()
    with db.begin() as conn:
        db.run(
            conn,
            "upsert_archive_package",
            {
                "client_id": client_id,
                "business_date": business_date,
                "location": store.uri(prefix),
                "manifest_sha256": manifest_sha,
                "members": len(listing),
                "record_class": manifest["record_class"],
                "retain_until": retain,
                "encryption": key.key_id if key else "none",
            },
        )
        events.audit(
            conn, "archive", "package_written", prefix, manifest_sha256=manifest_sha, members=len(listing)
        )
    log.info("archived %s: %d members, manifest %s", prefix, len(listing), manifest_sha)
    return {
        "client_id": client_id,
        "location": store.uri(prefix),
        "members": len(listing),
        "manifest_sha256": manifest_sha,
        "retain_until": retain,
        "encrypted": key is not None,
    }


def _unchanged_sealed(store: Store, stored_key: str, member: dict[str, Any], key: crypto.ArchiveKey) -> bool:
    if not store.exists(stored_key):
        return False
    try:
        return hashlib.sha256(key.open(store.get(stored_key), member["path"])).hexdigest() == member["sha256"]
    except crypto.SealError:
        return False


# --------------------------------------------------------------------------- read back and verify


@dataclass
class Verification:
    client_id: str
    business_date: str
    ok: bool = True
    problems: list[str] = field(default_factory=list)
    checked: int = 0
    manifest_sha256: str | None = None

    def fail(self, problem: str) -> None:
        self.ok = False
        self.problems.append(problem)


def read_manifest(client_id: str, business_date: str, store: Store | None = None) -> dict[str, Any]:
    store = store or archive_store()
    return json.loads(store.get(f"{package_prefix(client_id, business_date)}/manifest.json"))


def read_member(
    manifest: dict[str, Any], path: str, store: Store | None = None, key: crypto.ArchiveKey | None = None
) -> bytes:
    """A member's plaintext (opened with the archive key when it is sealed)."""
    store = store or archive_store()
    entry = next(m for m in manifest["members"] if m["path"] == path)
    data = store.get(
        f"{package_prefix(manifest['client_id'], manifest['business_date'])}/{entry['stored_as']}"
    )
    if entry["stored_as"] != path:
        key = key or crypto.archive_key()
        if key is None:
            raise crypto.ArchiveKeyError(f"{path} is sealed and no archive key is configured")
        data = key.open(data, path)
    return data


def verify_package(client_id: str, business_date: str, *, check_database: bool = True) -> Verification:
    """Read the package back: manifest hash against the database, every member's plaintext hash
    and size against the manifest, no unlisted object, and the Parquet row count against the
    ``records`` table. Records the verification time when everything holds."""
    import pyarrow.parquet as pq

    result = Verification(client_id, business_date)
    store, prefix = archive_store(), package_prefix(client_id, business_date)
    with db.begin() as conn:
        row = db.run(conn, "select_archive", {"client_id": client_id, "business_date": business_date}).first()
        db_rows = db.run(
            conn, "count_records_of_package", {"client_id": client_id, "business_date": business_date}
        ).scalar_one()
    if row is None:
        result.fail("no archive registered for this client and date")
        return result
    try:
        body = store.get(f"{prefix}/manifest.json")
    except Exception as exc:  # noqa: BLE001 - missing or unreadable manifest
        result.fail(f"manifest.json unreadable: {exc}")
        return result
    result.manifest_sha256 = hashlib.sha256(body).hexdigest()
    if result.manifest_sha256 != row.manifest_sha256:
        result.fail("manifest.json sha256 differs from the one registered when the package was written")
    manifest = json.loads(body)
    key = crypto.archive_key() if manifest.get("encryption") else None
    if manifest.get("encryption") and (key is None or key.key_id != manifest["encryption"]["key_id"]):
        result.fail("package is sealed with a key that is not configured here")
        return result
    stored = {m["stored_as"] for m in manifest["members"]} | set(INDEX_FILES)
    for extra in store.list(prefix + "/"):
        if extra[len(prefix) + 1 :] not in stored:
            result.fail(f"{extra[len(prefix) + 1 :]}: object not listed in the manifest")
    if store.exists(f"{prefix}/SHA256SUMS") and store.get(f"{prefix}/SHA256SUMS") != sha256sums(
        manifest["members"]
    ):
        result.fail("SHA256SUMS does not match the manifest")
    for m in manifest["members"]:
        try:
            data = read_member(manifest, m["path"], store, key)
        except crypto.SealError as exc:
            result.fail(str(exc))
            continue
        except Exception:  # noqa: BLE001 - a deleted member
            result.fail(f"{m['path']}: missing")
            continue
        result.checked += 1
        if hashlib.sha256(data).hexdigest() != m["sha256"] or len(data) != m["size"]:
            result.fail(f"{m['path']}: sha256 differs from the manifest")
        elif m["path"] == RECORDS_MEMBER and check_database:
            n = pq.ParquetFile(io.BytesIO(data)).metadata.num_rows
            if n != db_rows:
                result.fail(f"{RECORDS_MEMBER}: {n} rows, the database holds {db_rows}")
    if result.ok:
        with db.begin() as conn:
            db.run(conn, "update_archive_verified", {"client_id": client_id, "business_date": business_date})
    return result


def export_package(client_id: str, business_date: str, target: Path) -> int:
    """Write the package's plaintext members plus manifest.json and SHA256SUMS to a local folder,
    so an auditor can run ``sha256sum -c SHA256SUMS`` there. Returns the members written."""
    store = archive_store()
    prefix = package_prefix(client_id, business_date)
    manifest = read_manifest(client_id, business_date, store)
    for m in manifest["members"]:
        path = target / m["path"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(read_member(manifest, m["path"], store))
    for name in INDEX_FILES:
        (target / name).write_bytes(store.get(f"{prefix}/{name}"))
    return len(manifest["members"])


def _alert_verification(result: Verification) -> None:
    with db.begin() as conn:
        events.alert(
            conn,
            "ARCHIVE_VERIFY_FAILED",
            f"archive package {result.client_id} {result.business_date} failed verification, nothing "
            f"purged: {'; '.join(result.problems[:5])}",
            dedup_key=f"archive-verify:{result.client_id}:{result.business_date}:{result.manifest_sha256}",
            severity="critical",
            client_id=result.client_id,
            business_date=result.business_date,
        )
        events.audit(
            conn,
            "archive",
            "verification_failed",
            package_prefix(result.client_id, result.business_date),
            problems=result.problems,
        )


# --------------------------------------------------------------------------- purge


def purge_staging(client_id: str, as_of: str) -> list[str]:
    """Clear the ``payload`` (the row as the client sent it) of the client's records whose day is
    at least the purge window before ``as_of`` (a business date, never the wall clock).

    Conservative: rows stay (business numbers, states, amounts, the refs that keep
    R_DUPLICATE_REF working for ever, the ledger's foreign keys); only the payload is replaced by
    ``{}``. Every candidate package is verified first; if any fails, an alert is raised and
    nothing is purged. Returns the business dates purged.
    """
    cutoff = (date.fromisoformat(as_of) - timedelta(days=purge_after_days())).isoformat()
    with db.begin() as conn:
        days = [
            r.business_date
            for r in db.run(conn, "select_archives_to_purge", {"client_id": client_id, "cutoff_date": cutoff})
        ]
    results = [verify_package(client_id, d) for d in days]
    failed = [r for r in results if not r.ok]
    for r in failed:
        _alert_verification(r)
    if failed:
        return []
    with db.begin() as conn:
        for d in days:
            params = {"client_id": client_id, "business_date": d}
            n = db.run(conn, "update_records_payload_purged", params).rowcount
            db.run(conn, "update_archive_purged", params)
            events.audit(conn, "archive", "staging_purged", package_prefix(client_id, d), records=n)
    return days


def close_day(business_date: str) -> bool:
    """Close the business date once every file received for it is final and archived.

    Files for a closed date arriving later are refused with F_DATE. Returns whether it closed.
    """
    with db.begin() as conn:
        open_files = db.run(conn, "count_unarchived_files", {"business_date": business_date}).scalar_one()
        if open_files:
            events.alert(
                conn,
                "DAY_NOT_CLOSED",
                f"{open_files} files of {business_date} are not final or "
                "not archived; the business date stays open",
                dedup_key=f"day-open:{business_date}",
                business_date=business_date,
            )
            return False
        db.run(conn, "upsert_business_day_closed", {"business_date": business_date})
    return True
