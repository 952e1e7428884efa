"""Retention (保存期限): expired archive packages are deleted with a certificate, unless held.

Each package carries a ``retain_until`` date (business date + the retention of its record
class, default 10 years; see :func:`daybook.archive.retention_years`). A legal hold on the
client (every date) or on one client and date blocks deletion until it is released. Deleting a
package removes every object under its prefix and writes a deletion certificate: what was
deleted (location, manifest sha256, every member's path and sha256), when (the run's date),
who approved, which holds were checked. The certificate is kept in the archive root under
``_certificates/`` (outside any package) and registered in ``deletion_certificates``.

``today`` is always passed in (the DAG gives the run's date); nothing here reads the clock to
decide what expires.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from daybook import archive, db, events

log = logging.getLogger(__name__)
CERT_PREFIX = "_certificates"


def place_hold(client_id: str, reason: str, placed_by: str, business_date: str | None = None) -> None:
    """Block deletion of the client's packages (one date, or every date when none is given)."""
    db.migrate()
    with db.begin() as conn:
        db.run(
            conn,
            "insert_legal_hold",
            {
                "client_id": client_id,
                "business_date": business_date,
                "reason": reason,
                "placed_by": placed_by,
            },
        )
        events.audit(
            conn, placed_by, "legal_hold_placed", f"{client_id}/{business_date or '*'}", reason=reason
        )


def release_hold(hold_id: int, released_by: str) -> bool:
    with db.begin() as conn:
        n = db.run(
            conn, "update_legal_hold_released", {"hold_id": hold_id, "released_by": released_by}
        ).rowcount
        if n:
            events.audit(conn, released_by, "legal_hold_released", str(hold_id))
    return bool(n)


def holds_on(client_id: str, business_date: str) -> list[dict[str, Any]]:
    with db.begin() as conn:
        return [
            dict(r._mapping)
            for r in db.run(
                conn, "select_active_holds", {"client_id": client_id, "business_date": business_date}
            )
        ]


def expired(today: str) -> list[dict[str, Any]]:
    """Packages past their retention date (``retain_until`` before ``today``), with their holds."""
    db.migrate()
    with db.begin() as conn:
        rows = [dict(r._mapping) for r in db.run(conn, "select_expired_archives", {"today": today})]
    for r in rows:
        r["holds"] = holds_on(r["client_id"], r["business_date"])
    return rows


def write_certificate(
    kind: str, client_id: str, subject: str, body: dict[str, Any], today: str, approved_by: str
) -> str:
    """Write and register a deletion certificate; returns its location."""
    store = archive.archive_store()
    data = (json.dumps(body, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
    key = f"{CERT_PREFIX}/{kind.lower()}/{subject}.json"
    archive.put_object(store, key, data)
    digest = hashlib.sha256(data).hexdigest()
    with db.begin() as conn:
        db.run(
            conn,
            "insert_deletion_certificate",
            {
                "kind": kind,
                "client_id": client_id,
                "subject": subject,
                "approved_by": approved_by,
                "issued_on": today,
                "certificate_sha256": digest,
                "location": store.uri(key),
            },
        )
        events.audit(conn, approved_by, "deletion_certificate", subject, kind=kind, sha256=digest)
    return store.uri(key)


def delete_package(
    client_id: str, business_date: str, *, today: str, approved_by: str, kind: str = "RETENTION"
) -> str:
    """Delete one package's objects and certify it. The caller checked retention and holds."""
    store, prefix = archive.archive_store(), archive.package_prefix(client_id, business_date)
    with db.begin() as conn:
        row = db.run(conn, "select_archive", {"client_id": client_id, "business_date": business_date}).one()
    try:
        manifest = archive.read_manifest(client_id, business_date, store)
        members = [{"path": m["path"], "sha256": m["sha256"], "size": m["size"]} for m in manifest["members"]]
    except Exception:  # noqa: BLE001 - a package already partly gone: certify what the database knew
        members = []
    objects = store.list(prefix + "/")
    for key in objects:
        store.delete(key)
    body = {
        "certificate": f"{kind.lower()} deletion",
        "client_id": client_id,
        "business_date": business_date,
        "location": row.location,
        "manifest_sha256": row.manifest_sha256,
        "retain_until": row.retain_until,
        "members": members,
        "objects_deleted": len(objects),
        "deleted_on": today,
        "approved_by": approved_by,
        "legal_holds_checked": True,
    }
    location = write_certificate(kind, client_id, f"{client_id}/{business_date}", body, today, approved_by)
    with db.begin() as conn:
        db.run(conn, "update_archive_deleted", {"client_id": client_id, "business_date": business_date})
    log.info("deleted %s (%d objects); certificate %s", prefix, len(objects), location)
    return location


def delete_expired(today: str, approved_by: str) -> dict[str, list[str]]:
    """Delete every expired package that no legal hold covers; report what was held."""
    done: dict[str, list[str]] = {"deleted": [], "held": [], "certificates": []}
    for pkg in expired(today):
        subject = f"{pkg['client_id']}/{pkg['business_date']}"
        if pkg["holds"]:
            done["held"].append(subject)
            with db.begin() as conn:
                events.audit(
                    conn,
                    "retention",
                    "deletion_blocked_by_hold",
                    subject,
                    holds=[h["hold_id"] for h in pkg["holds"]],
                )
            continue
        done["certificates"].append(
            delete_package(pkg["client_id"], pkg["business_date"], today=today, approved_by=approved_by)
        )
        done["deleted"].append(subject)
    return done
