"""Archive (归档): one package per client per business date, with a sha256 manifest.

The package holds the exact bytes of every file received that day (data and control files,
refused ones too), every return file written for them, and ``manifest.json`` listing each
member's sha256 and size and the profile versions that judged the files. The manifest holds
no wall-clock time, so archiving a day again reproduces it byte for byte. After every client's
package is written, the business date is closed: later files for it are refused with F_DATE.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from daybook import db, events
from daybook.config import settings
from daybook.storage import open_store

log = logging.getLogger(__name__)
RETURN_SUFFIXES = (".rej", ".ack.csv", ".ret.csv")
TERMINAL = ("REJECTED", "COMPLETED")


def list_clients(business_date: str) -> list[str]:
    db.migrate()
    with db.begin() as conn:
        return [
            r.folder for r in db.run(conn, "select_folders_of_intake_day", {"business_date": business_date})
        ]


def build_package(client_id: str, business_date: str) -> dict[str, Any]:
    """Write the client's package for the day and register it (idempotent)."""
    s = settings()
    raw, landing, archive = open_store(s.raw), open_store(s.landing), open_store(s.archive)
    with db.begin() as conn:
        files = db.run(
            conn, "select_files_of_intake_day", {"folder": client_id, "business_date": business_date}
        ).all()
    unfinished = [f.name for f in files if f.status not in TERMINAL]
    if unfinished:
        log.warning("%s %s not archived yet: files not final: %s", client_id, business_date, unfinished)
        return {"client_id": client_id, "skipped": True, "unfinished": unfinished}
    members: dict[str, bytes] = {}
    for f in files:
        members[f"originals/{f.name}"] = raw.get(f.raw_key)
        if f.control_raw_key:
            members[f"originals/{f.control_raw_key.rsplit('/', 1)[-1]}"] = raw.get(f.control_raw_key)
        for suffix in RETURN_SUFFIXES:
            key = f"{f.folder}/outbox/{f.stem}{suffix}"
            if landing.exists(key):
                members[f"returns/{f.stem}{suffix}"] = landing.get(key)
    prefix = f"{client_id}/{business_date}"
    manifest = {
        "client_id": client_id,
        "business_date": business_date,
        "profile_versions": sorted({f.profile_version for f in files if f.profile_version}),
        "files": [
            {"name": f.name, "status": f.status, "reason_code": f.reason_code, "sha256": f.sha256}
            for f in files
        ],
        "members": [
            {"path": path, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
            for path, data in sorted(members.items())
        ],
    }
    manifest_bytes = (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode(
        "utf-8"
    )
    for path, data in sorted(members.items()):
        archive.put(f"{prefix}/{path}", data)
    archive.put(f"{prefix}/manifest.json", manifest_bytes)
    manifest_sha = hashlib.sha256(manifest_bytes).hexdigest()
    with db.begin() as conn:
        db.run(
            conn,
            "upsert_archive",
            {
                "client_id": client_id,
                "business_date": business_date,
                "location": archive.uri(prefix),
                "manifest_sha256": manifest_sha,
                "members": len(members),
            },
        )
        events.audit(
            conn, "archive", "package_written", prefix, manifest_sha256=manifest_sha, members=len(members)
        )
    log.info("archived %s: %d members, manifest %s", prefix, len(members), manifest_sha)
    return {
        "client_id": client_id,
        "location": archive.uri(prefix),
        "members": len(members),
        "manifest_sha256": manifest_sha,
    }


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
