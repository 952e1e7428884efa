"""Offboarding (终止与移交): hand a leaving client everything in open formats, then delete their
live data with proof. Three steps, one DAG (``offboarding_adhoc``):

1. :func:`build_handover` writes a handover package to ``<archive root>/_handover/<CLIENT>/<as of>/``
   (plaintext: it is for the client; on S3 with server-side encryption):

   - ``originals/<intake date>/<name>``: exact bytes of every file the client sent (from the raw
     zone; from the day's archive package when the raw copy is gone);
   - ``returns/<intake date>/<stem>.rej|.ack.csv|.ret.csv``: every return file;
   - ``records.parquet`` (all rows, final states), ``approvals.csv``, ``ledger.csv``,
     ``audit.csv`` (audit events about the client, its files, rows and packages);
   - ``profiles/<version>.yaml`` and ``profile_versions.csv``: the configuration history;
   - ``archives.csv``: the archive packages that stay until their retention ends;
   - ``aml/cases.csv``, ``aml/decisions.csv``, ``aml/large_value.csv``: the anti-money-laundering
     cases of the client's rows, every decision on them and the large-value payers reported;
     ``aml/<date>/<CLIENT>_LVR_<YYYYMMDD>.csv``: the large-value reports;
   - ``manifest.json`` (every member's sha256 and size) and ``SHA256SUMS`` (``sha256sum -c``).

   It is read back and every hash checked before the step succeeds.
2. A person signs off (Airflow HITL ``ApprovalOperator`` in the DAG).
3. :func:`purge_live_data` refuses unless every day of the client has a verified archive
   package and the handover package still verifies; then clears every row's ``payload`` (the
   row as the client sent it), deletes the client's AML cases, decisions and large-value rows,
   deletes the client's objects in the landing zone (inbox, outbox, processed, rejected), the raw
   zone, the Data Docs and the large-value reports, and writes an OFFBOARDING certificate
   (what was deleted with each object's sha256, the handover manifest's sha256, the archives
   kept with their retention dates, when, who approved).

What stays, on purpose: archive packages until their retention ends (deleted later by
``retention_daily``), and the rows' business numbers, states, amounts and ledger postings
(the financial record the archives also hold; the ledger refers to them). ``as_of`` is always
passed in (the run's date), never read from the clock.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from pathlib import Path
from typing import Any

from daybook import archive, db, events, retention
from daybook.config import settings
from daybook.storage import Store, open_store

log = logging.getLogger(__name__)
HANDOVER_PREFIX = "_handover"
# The client's anti-money-laundering record, every day: handed over, then deleted from the live
# database (the day's archive packages keep their copy until retention ends).
AML_HANDOVER_QUERIES = {
    "aml/cases.csv": "select_aml_cases_of_client",
    "aml/decisions.csv": "select_aml_decisions_of_client",
    "aml/large_value.csv": "select_large_value_of_client",
}
AML_DELETES = (
    ("aml_decisions", "delete_aml_decisions_of_client"),
    ("aml_cases", "delete_aml_cases_of_client"),
    ("aml_large_value", "delete_large_value_of_client"),
)


class OffboardingRefused(Exception):
    """A precondition of the purge does not hold; nothing was deleted."""


def handover_prefix(client_id: str, as_of: str) -> str:
    return f"{HANDOVER_PREFIX}/{client_id}/{as_of}"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _client_files(client_id: str) -> list[Any]:
    with db.begin() as conn:
        return db.run(conn, "select_files_of_client", {"client_id": client_id}).all()


def _archived_original(client_id: str, intake_date: str, name: str) -> archive.Producer | None:
    """A producer copying the original out of the day's archive package (opened with the key),
    or None when there is no package or the original is not in it."""
    try:
        manifest = archive.read_manifest(client_id, intake_date)
    except Exception:  # noqa: BLE001 - no package
        return None
    path = f"originals/{name}"
    if not any(m["path"] == path for m in manifest["members"]):
        return None
    return lambda target: archive.copy_member(manifest, path, target)


def handover_sources(client_id: str) -> tuple[dict[str, archive.Producer], list[str]]:
    """Every member of the client's handover package by path, as a producer writing its bytes to
    a file when called (rows from streamed queries, files copied in chunks), and the originals
    not found."""
    s = settings()
    raw, landing = open_store(s.raw), open_store(s.landing)
    params = {"client_id": client_id}
    files = _client_files(client_id)
    with db.begin() as conn:
        profiles = [dict(r._mapping) for r in db.run(conn, "select_profile_versions_of_client", params)]
    members: dict[str, archive.Producer] = {}
    missing: list[str] = []
    for f in files:
        keys = [(f.name, f.raw_key)]
        if f.control_raw_key:
            keys.append((f.control_raw_key.rsplit("/", 1)[-1], f.control_raw_key))
        for name, key in keys:
            produce = (
                archive._copy_object(raw, key)
                if raw.exists(key)
                else _archived_original(client_id, f.intake_date, name)
            )
            if produce is None:
                missing.append(f"{f.intake_date}/{name}")
            else:
                members[f"originals/{f.intake_date}/{name}"] = produce
        for suffix in archive.RETURN_SUFFIXES:
            key = f"{f.folder}/outbox/{f.stem}{suffix}"
            if landing.exists(key):
                members[f"returns/{f.intake_date}/{f.stem}{suffix}"] = archive._copy_object(landing, key)
    members["records.parquet"] = archive._query_member(
        archive.query_to_parquet, "select_records_of_client", params
    )
    for path, sql in (
        ("approvals.csv", "select_approvals_of_client"),
        ("audit.csv", "select_audit_events_of_client"),
        ("archives.csv", "select_archives_of_client"),
        *AML_HANDOVER_QUERIES.items(),
    ):
        members[path] = archive._query_member(archive.query_to_csv, sql, params)
    members["ledger.csv"] = archive._query_member(
        archive.query_to_csv, "select_ledger_entries_of_client", {**params, "business_date": None}
    )
    outputs = open_store(s.outputs)
    for key in outputs.list(f"aml/{client_id}/"):  # aml/<CLIENT>/<date>/<name>: large-value reports
        members[f"aml/{key.split('/', 2)[2]}"] = archive._copy_object(outputs, key)
    history = []
    for p in profiles:
        content = p["content"].encode("utf-8")
        members[f"profiles/{p['version']}.yaml"] = archive._bytes(content)
        history.append(
            {"version": p["version"], "first_seen_at": p["first_seen_at"], "sha256": _sha(content)}
        )
    members["profile_versions.csv"] = archive._bytes(
        archive.rows_to_csv(history, ["version", "first_seen_at", "sha256"])
    )
    return members, missing


def build_handover(client_id: str, as_of: str) -> dict[str, Any]:
    """Write the client's handover package one member at a time through a temporary file (memory
    bounded whatever the client's history), read it back and check every hash. Idempotent."""
    db.migrate()
    if not _client_files(client_id):
        raise OffboardingRefused(f"no files were ever received from {client_id}")
    members, missing = handover_sources(client_id)
    store, prefix = archive.archive_store(), handover_prefix(client_id, as_of)
    for stale in store.list(prefix + "/"):
        if stale[len(prefix) + 1 :] not in set(members) | set(archive.INDEX_FILES):
            store.delete(stale)
    listing = []
    with tempfile.TemporaryDirectory(prefix="daybook-handover-") as tmp:
        member = Path(tmp) / "member"
        for path, produce in sorted(members.items()):
            produce(member)
            digest, size = archive.file_digest(member)
            listing.append({"path": path, "sha256": digest, "size": size, "stored_as": path})
            archive.put_file(store, f"{prefix}/{path}", member)
            member.unlink(missing_ok=True)
    manifest = {
        "format": 1,
        "kind": "offboarding handover",
        "client_id": client_id,
        "as_of": as_of,
        "originals_missing": missing,
        "members": listing,
    }
    body = archive.manifest_bytes(manifest)
    archive.put_object(store, f"{prefix}/SHA256SUMS", archive.sha256sums(listing))
    archive.put_object(store, f"{prefix}/manifest.json", body)
    problems = verify_handover(client_id, as_of, store)
    if problems:
        raise OffboardingRefused(f"handover package does not read back: {'; '.join(problems[:5])}")
    manifest_sha = _sha(body)
    with db.begin() as conn:
        events.audit(
            conn,
            "offboarding",
            "handover_written",
            client_id,
            manifest_sha256=manifest_sha,
            members=len(listing),
        )
    log.info("handover of %s: %d members at %s", client_id, len(listing), store.uri(prefix))
    return {
        "client_id": client_id,
        "as_of": as_of,
        "location": store.uri(prefix),
        "members": len(listing),
        "manifest_sha256": manifest_sha,
        "originals_missing": missing,
    }


def verify_handover(client_id: str, as_of: str, store: Store | None = None) -> list[str]:
    """Problems found reading the handover package back (empty when every hash holds)."""
    store = store or archive.archive_store()
    prefix = handover_prefix(client_id, as_of)
    try:
        manifest = json.loads(store.get(f"{prefix}/manifest.json"))
    except Exception as exc:  # noqa: BLE001
        return [f"manifest.json unreadable: {exc}"]
    problems = []
    listed = {m["path"] for m in manifest["members"]} | set(archive.INDEX_FILES)
    for key in store.list(prefix + "/"):
        if key[len(prefix) + 1 :] not in listed:
            problems.append(f"{key[len(prefix) + 1 :]}: object not listed in the manifest")
    for m in manifest["members"]:
        key = f"{prefix}/{m['path']}"
        if not store.exists(key):
            problems.append(f"{m['path']}: missing")
        else:
            h = hashlib.sha256()
            for chunk in store.iter_chunks(key):
                h.update(chunk)
            if h.hexdigest() != m["sha256"]:
                problems.append(f"{m['path']}: sha256 differs from the manifest")
    return problems


def handover_summary(handover: dict[str, Any]) -> str:
    """Markdown for the person who signs off."""
    missing = handover.get("originals_missing") or []
    lines = [
        f"Client **{handover['client_id']}** leaves. Handover package (as of {handover['as_of']}):",
        f"- location: `{handover['location']}`",
        f"- {handover['members']} members, manifest sha256 `{handover['manifest_sha256']}`",
        f"- originals not found: {', '.join(missing) if missing else 'none'}",
        "",
        "Approving deletes the client's live data (row payloads, AML cases, decisions and large-value "
        "rows, landing, raw zone, Data Docs, large-value reports) "
        "and writes a certificate. Archive packages stay until their retention ends.",
    ]
    return "\n".join(lines)


def _delete_all(store: Store, prefix: str, zone: str, deleted: list[dict[str, Any]]) -> None:
    for key in store.list(prefix):
        data = store.get(key)
        deleted.append({"zone": zone, "key": key, "sha256": _sha(data), "size": len(data)})
        store.delete(key)


def _archives_without_aml(client_id: str, live: list[dict[str, Any]]) -> list[str]:
    """Days that have AML rows in the live database and a live archive package lacking the AML
    members: deleting the rows would leave no retained copy of that day's AML record."""
    params = {"client_id": client_id}
    with db.begin() as conn:
        days = {r.business_date for r in db.run(conn, "select_aml_cases_of_client", params)}
        days |= {r.business_date for r in db.run(conn, "select_large_value_of_client", params)}
    lacking = []
    for a in live:
        if a["business_date"] in days:
            paths = {m["path"] for m in archive.read_manifest(client_id, a["business_date"])["members"]}
            if not set(archive.AML_PACKAGE_QUERIES) <= paths:
                lacking.append(a["business_date"])
    return lacking


def purge_live_data(
    client_id: str, as_of: str, approved_by: str, approved_at: str | None = None
) -> dict[str, Any]:
    """Delete the client's live data and certify it; refuses (deleting nothing) unless every
    day is archived and verifies and the handover package verifies."""
    with db.begin() as conn:
        done = db.run(
            conn, "select_deletion_certificate", {"kind": "OFFBOARDING", "subject": f"{client_id}/{as_of}"}
        ).first()
    if done is not None:  # already purged and certified: a retry must not rewrite the proof
        log.info("%s already offboarded as of %s: %s", client_id, as_of, done.location)
        return {"client_id": client_id, "certificate": done.location, "already_done": True}
    with db.begin() as conn:
        unarchived = [
            r.intake_date for r in db.run(conn, "select_unarchived_days_of_client", {"client_id": client_id})
        ]
        archives = [
            dict(r._mapping) for r in db.run(conn, "select_archives_of_client", {"client_id": client_id})
        ]
    if unarchived:
        raise OffboardingRefused(f"{client_id}: days not archived: {', '.join(unarchived)}; nothing deleted")
    live = [a for a in archives if a["deleted_at"] is None]
    failed = [r for r in (archive.verify_package(client_id, a["business_date"]) for a in live) if not r.ok]
    if failed:
        raise OffboardingRefused(
            f"{client_id}: archive packages fail verification ({', '.join(r.business_date for r in failed)});"
            " nothing deleted"
        )
    problems = verify_handover(client_id, as_of)
    if problems:
        raise OffboardingRefused(
            f"{client_id}: handover package fails verification: {problems[:3]}; nothing deleted"
        )
    without_aml = _archives_without_aml(client_id, live)
    if without_aml:
        raise OffboardingRefused(
            f"{client_id}: archive packages of days with AML records do not hold them"
            f" ({', '.join(without_aml)}; archived before AML tables were packaged): archive those days"
            " again first; nothing deleted"
        )
    handover_manifest = archive.archive_store().get(f"{handover_prefix(client_id, as_of)}/manifest.json")

    s = settings()
    files = _client_files(client_id)
    deleted: list[dict[str, Any]] = []
    _delete_all(open_store(s.landing), f"{client_id}/", "landing", deleted)
    _delete_all(open_store(s.raw), f"{client_id}/", "raw", deleted)
    outputs = open_store(s.outputs)
    for f in files:
        _delete_all(outputs, f"{f.intake_date}/data_docs/{f.stem}/", "outputs", deleted)
    _delete_all(outputs, f"aml/{client_id}/", "outputs", deleted)
    with db.begin() as conn:
        payloads = db.run(conn, "update_records_payload_purged_of_client", {"client_id": client_id}).rowcount
        aml_deleted = {
            table: db.run(conn, sql, {"client_id": client_id}).rowcount for table, sql in AML_DELETES
        }
        events.audit(
            conn,
            approved_by,
            "offboarding_purged",
            client_id,
            payloads=payloads,
            objects=len(deleted),
            aml_rows=aml_deleted,
        )
    body = {
        "certificate": "offboarding deletion",
        "client_id": client_id,
        "as_of": as_of,
        "approved_by": approved_by,
        "approved_at": approved_at,
        "handover": {
            "location": archive.archive_store().uri(handover_prefix(client_id, as_of)),
            "manifest_sha256": _sha(handover_manifest),
        },
        "deleted": {"record_payloads_cleared": payloads, "aml_rows_deleted": aml_deleted, "objects": deleted},
        "kept_until_retention_ends": [
            {
                "business_date": a["business_date"],
                "location": a["location"],
                "manifest_sha256": a["manifest_sha256"],
                "retain_until": a["retain_until"],
            }
            for a in live
        ],
        "kept_rows": "business numbers, states, amounts and ledger postings (also in the archives)",
    }
    location = retention.write_certificate(
        "OFFBOARDING", client_id, f"{client_id}/{as_of}", body, as_of, approved_by
    )
    log.info(
        "offboarded %s: %d objects deleted, %d payloads cleared; certificate %s",
        client_id,
        len(deleted),
        payloads,
        location,
    )
    return {
        "client_id": client_id,
        "certificate": location,
        "objects_deleted": len(deleted),
        "payloads_cleared": payloads,
    }
