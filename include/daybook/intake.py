"""Intake (业务受理与录入): complete drops in, raw bytes kept, every file answered.

For one business date, intake looks at every client folder of the landing zone, pairs data
files with their control files, copies the exact bytes to the raw zone and registers them
before reading anything, judges each file by the contract's file-level checks in the order
of section 6, writes ``<stem>.rej`` for a refused file, and only then moves the inbox copy to
``processed/`` or ``rejected/``. A crash anywhere is repaired by the next run: an unfinished
receipt (same folder, name and bytes, inbox not yet moved) is resumed, never duplicated.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from daybook import business_types, calendar, db, events, profiles
from daybook.codes import FileRejection
from daybook.config import settings
from daybook.fileformat import (
    Control,
    FileName,
    check_counts,
    check_header,
    decompress,
    detect_encoding,
    parse_control,
    parse_csv,
    parse_name,
    sha256_hex,
    stem_of,
)
from daybook.storage import Store, open_store

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

INBOX, OUTBOX, PROCESSED, REJECTED = "inbox", "outbox", "processed", "rejected"


@dataclass(frozen=True)
class Drop:
    """One thing intake will answer: a data file with its control file, or a badly named file."""

    folder: str
    name: str
    control: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"folder": self.folder, "name": self.name, "control": self.control}


def is_open(day: date) -> bool:
    """A business date is open for processing if it is a business day and not yet closed."""
    if not calendar.is_business_day(day):
        return False
    with db.begin() as conn:
        row = db.run(conn, "select_business_day", {"business_date": day.isoformat()}).first()
    return row is None or row.status == "OPEN"


def _inbox_listing(landing: Store) -> dict[str, list[str]]:
    folders: dict[str, list[str]] = {}
    for key in landing.list():
        parts = key.split("/")
        if len(parts) == 3 and parts[1] == INBOX:
            folders.setdefault(parts[0], []).append(parts[2])
        elif len(parts) >= 2 and parts[1] == INBOX:
            folders.setdefault(parts[0], [])
    return folders


def list_drops(business_date: str) -> list[dict[str, Any]]:
    """The drops this run answers: complete pairs for ``business_date`` or for a date that is
    not open, and every badly named file. Incomplete files wait; other open dates wait for
    their own day's run. Unknown client folders are not processed and raise an alert."""
    db.migrate()
    day = date.fromisoformat(business_date)
    landing = open_store(settings().landing)
    known = set(business_types.REGISTRY)
    drops: list[Drop] = []
    waiting: list[str] = []
    for folder, names in sorted(_inbox_listing(landing).items()):
        try:
            profiles.load(folder)
        except profiles.UnknownClient:
            with db.begin() as conn:
                events.alert(
                    conn,
                    "UNKNOWN_CLIENT",
                    f"landing folder {folder!r} has no client profile; its files are not processed",
                    dedup_key=f"unknown-client:{folder}:{business_date}",
                    severity="critical",
                    business_date=business_date,
                )
            continue
        present = set(names)
        for name in sorted(names):
            try:
                fn = parse_name(name, known)
            except FileRejection:
                drops.append(Drop(folder, name))
                continue
            if fn.client_id != folder:
                drops.append(Drop(folder, name))
                continue
            if fn.kind == "control":
                continue  # answered together with its data file
            control = f"{fn.stem}.ctl"
            if control not in present:
                waiting.append(f"{folder}/{name}")
                continue
            if fn.business_date != day and is_open(fn.business_date):
                continue
            drops.append(Drop(folder, name, control))
    if waiting:
        log.info("incomplete drops waiting for their control file: %s", ", ".join(waiting))
    return [d.as_dict() for d in drops]


def _write_rej(landing: Store, folder: str, stem: str, rejection: FileRejection) -> None:
    message = " ".join(rejection.message.split())
    landing.put(f"{folder}/{OUTBOX}/{stem}.rej", f"{rejection.code}|{message}\n".encode())


def _register(conn: Connection, values: dict[str, Any]) -> Any:
    """The receipt for these exact bytes: resumed if an earlier run did not finish it."""
    row = db.run(conn, "select_unfinished_receipt", values).first()
    if row is not None:
        return row
    db.run(conn, "insert_receipt", values)
    return db.run(conn, "select_unfinished_receipt", values).first()


def _claim_original(file_id: int, folder: str, stem: str, sha: str) -> int | None:
    """Mark the receipt as the original of its stem and bytes; return the id it duplicates, if any."""
    with db.begin() as conn:
        row = db.run(conn, "select_receipt", {"file_id": file_id}).first()
        if row.duplicate_of is not None:
            return int(row.duplicate_of)
        if row.original:
            return None
        prior = db.run(
            conn, "select_original", {"folder": folder, "stem": stem, "sha256": sha, "file_id": file_id}
        ).first()
        if prior is None:
            try:
                with conn.begin_nested():
                    db.run(conn, "update_receipt_original", {"file_id": file_id})
                return None
            except IntegrityError:  # a concurrent run claimed it first
                prior = db.run(
                    conn,
                    "select_original",
                    {"folder": folder, "stem": stem, "sha256": sha, "file_id": file_id},
                ).first()
        db.run(conn, "update_receipt_duplicate", {"file_id": file_id, "duplicate_of": prior.file_id})
        return int(prior.file_id)


def read_table(data: bytes, compressed: bool) -> tuple[str, list[str], list[list[str]]]:
    """Decode and parse a data file's bytes: (encoding, header, rows), or a FileRejection."""
    encoding, text = detect_encoding(decompress(data, compressed))
    header, rows = parse_csv(text)
    return encoding, header, rows


def iter_frames(store: Store, key: str, compressed: bool, chunk_rows: int = 100_000) -> Iterator[pd.DataFrame]:
    """The data rows of a file that passed intake, as DataFrames of text cells, in file order.

    Each frame has the header's columns (pandas ``str`` dtype, cells exactly as sent) plus an
    int64 ``line_no`` column counting data rows from 1. At most ``chunk_rows`` rows per frame.
    """
    import pandas as pd

    _, header, rows = read_table(store.get(key), compressed)
    for start in range(0, max(len(rows), 1), chunk_rows):
        chunk = rows[start : start + chunk_rows]
        frame = pd.DataFrame(chunk, columns=header, dtype="str")
        frame.insert(0, "line_no", pd.RangeIndex(start + 1, start + 1 + len(chunk)).to_numpy(dtype="int64"))
        yield frame
        if not chunk:
            break


def _judge(
    file_id: int, fn: FileName, data: bytes, control_bytes: bytes, sha: str
) -> tuple[FileRejection | None, dict[str, Any]]:
    """Apply the file-level checks in the order of contract section 6."""
    facts: dict[str, Any] = {}
    try:
        control: Control = parse_control(control_bytes, fn.stem + (".csv.gz" if fn.compressed else ".csv"))
        if control.sha256 != sha:
            raise FileRejection(
                "F_CHECKSUM",
                f"control file gives sha256 {control.sha256}, the data file as received has {sha}; "
                "resend the data file or correct the control file",
            )
        duplicate_of = _claim_original(file_id, fn.client_id, fn.stem, sha)
        if duplicate_of is not None:
            raise FileRejection(
                "F_DUPLICATE",
                f"a file with the same name or the same content was already received (receipt {duplicate_of}); "
                "send new data under a new sequence number",
            )
        limit = settings().max_file_bytes
        if len(data) > limit:
            raise FileRejection("F_TOO_LARGE", f"file has {len(data)} bytes, the limit is {limit} bytes")
        if not is_open(fn.business_date):
            raise FileRejection(
                "F_DATE",
                f"business date {fn.business_date.isoformat()} is not open for processing "
                "(not a business day, or that day is already closed)",
            )
        encoding, header, rows = read_table(data, fn.compressed)
        facts["encoding"] = encoding
        btype = business_types.get(fn.type)
        check_header(header, btype.required, btype.optional)
        from daybook.fileformat import amount_total_cents

        col = header.index(btype.amount_column)
        total = amount_total_cents(r[col] for r in rows)
        facts.update(record_count=len(rows), amount_total_cents=total)
        check_counts(control, len(rows), total)
    except FileRejection as rejection:
        return rejection, facts
    return None, facts


def process_drop(drop: dict[str, Any], business_date: str) -> dict[str, Any]:
    """Answer one drop: raw copy, registration, judgement, return file, then the inbox move."""
    s = settings()
    landing, raw = open_store(s.landing), open_store(s.raw)
    folder, name, control_name = drop["folder"], drop["name"], drop.get("control")
    inbox_key = f"{folder}/{INBOX}/{name}"
    if not landing.exists(inbox_key):
        return {"folder": folder, "name": name, "status": "GONE"}
    data = landing.get(inbox_key)
    sha = sha256_hex(data)
    raw_key = f"{folder}/{sha}/{name}"
    if not raw.exists(raw_key):
        raw.put(raw_key, data)
    control_bytes, control_raw_key = b"", None
    if control_name:
        control_bytes = landing.get(f"{folder}/{INBOX}/{control_name}")
        control_raw_key = f"{folder}/{sha256_hex(control_bytes)}/{control_name}"
        if not raw.exists(control_raw_key):
            raw.put(control_raw_key, control_bytes)

    fn: FileName | None = None
    try:
        fn = parse_name(name, set(business_types.REGISTRY))
        if fn.client_id != folder:
            raise FileRejection(
                "F_NAME", f"file name names client {fn.client_id} but was dropped in the folder of {folder}"
            )
    except FileRejection as rejection:
        name_rejection: FileRejection | None = rejection
        fn = None
    else:
        name_rejection = None

    stem = fn.stem if fn else stem_of(name)
    profile = profiles.load(folder)
    with db.begin() as conn:
        profiles.record_version(conn, profile)
        receipt = _register(
            conn,
            {
                "folder": folder,
                "name": name,
                "stem": stem,
                "client_id": fn.client_id if fn else None,
                "file_type": fn.type if fn else None,
                "business_date": fn.business_date.isoformat() if fn else None,
                "seq": fn.seq if fn else None,
                "intake_date": business_date,
                "sha256": sha,
                "size_bytes": len(data),
                "raw_key": raw_key,
                "control_raw_key": control_raw_key,
                "profile_version": profile.version,
            },
        )
    file_id = int(receipt.file_id)

    if name_rejection is not None:
        rejection, facts = name_rejection, {}
    else:
        assert fn is not None
        rejection, facts = _judge(file_id, fn, data, control_bytes, sha)

    status = "REJECTED" if rejection else "INTAKE_OK"
    with db.begin() as conn:
        db.run(
            conn,
            "update_receipt_judged",
            {
                "file_id": file_id,
                "status": status,
                "reason_code": rejection.code if rejection else None,
                "message": rejection.message if rejection else None,
                "encoding": facts.get("encoding"),
                "record_count": facts.get("record_count"),
                "amount_total_cents": facts.get("amount_total_cents"),
            },
        )
        events.audit(
            conn,
            "intake",
            "file_judged",
            f"{folder}/{name}",
            file_id=file_id,
            status=status,
            code=rejection.code if rejection else None,
            sha256=sha,
        )
    if rejection:
        _write_rej(landing, folder, stem, rejection)
    target = REJECTED if rejection else PROCESSED
    landing.move(inbox_key, f"{folder}/{target}/{name}")
    if control_name:
        landing.move(f"{folder}/{INBOX}/{control_name}", f"{folder}/{target}/{control_name}")
    with db.begin() as conn:
        db.run(conn, "update_receipt_inbox_done", {"file_id": file_id})
    log.info("%s/%s: %s %s", folder, name, status, rejection or "")
    return {
        "folder": folder,
        "name": name,
        "file_id": file_id,
        "status": status,
        "code": rejection.code if rejection else None,
    }
