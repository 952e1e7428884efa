"""Intake (业务受理与录入): complete drops in, raw bytes kept, every file answered.

For one business date, intake looks at every client folder of the landing zone, pairs data
files with their control files, copies the exact bytes to the raw zone and registers them
before judging anything, judges each file by the contract's file-level checks in the order
of section 6, writes ``<stem>.rej`` for a refused file, and only then moves the inbox copy to
``processed/`` or ``rejected/``. At volume most of the time is reading the data file: a plain
``.csv`` is scanned (fileformat's block scan, on both cores) while its raw copy is written, and
that scan of the registered bytes (same sha256) counts only after registration, where section 6
puts it. A crash anywhere is repaired by the next run: an unfinished
receipt (same folder, name and bytes, inbox not yet moved) is resumed, never duplicated.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from daybook import business_types, calendar, db, events, profiles
from daybook.codes import FileRejection
from daybook.config import BUSINESS_TZ, settings
from daybook.fileformat import (
    BlockScanner,
    FileName,
    TableScan,
    cents_half_up,
    check_counts,
    check_header,
    check_row_limit,
    iter_csv,
    iter_decoded,
    iter_gunzip,
    parse_control,
    parse_name,
    scan_table,
    stem_of,
    stream_encoding,
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


def date_refusal(day: date, run_date: date) -> str | None:
    """Why business date ``day`` is not open for processing in the intake run of ``run_date``
    (the F_DATE message), or None when it is open.

    Open: a business day that is not closed (archiving closes it) and not more than
    ``DAYBOOK_MAX_DAYS_AHEAD`` calendar days after the run's date (default 30, as a payment's
    value date): a date further ahead is most likely mistyped, and is answered F_DATE rather
    than kept for months. A file of another open date waits for that date's runs
    (:func:`list_drops`): a later date for its own run; an earlier one for a rerun or a backfill
    of it (never refused here: the run of today may come before an operator's backfill of a
    missed day, whose files must then still be there). One waiting for a past date is alerted at
    the intake cutoff (PAST_DATE_FILE, :func:`alert_at_cutoff`)."""
    shown = day.isoformat()
    if not calendar.is_business_day(day):
        return f"business date {shown} is not open for processing: it is not a business day"
    with db.begin() as conn:
        row = db.run(conn, "select_business_day", {"business_date": shown}).first()
    if row is not None and row.status != "OPEN":
        return f"business date {shown} is not open for processing: that day is already closed"
    ahead = settings().max_days_ahead
    if (day - run_date).days > ahead:
        return (
            f"business date {shown} is not open for processing: it is more than {ahead} days "
            f"after today's business date {run_date.isoformat()}"
        )
    return None


def is_open(day: date, run_date: date) -> bool:
    """Whether business date ``day`` is open for processing in the run of ``run_date``."""
    return date_refusal(day, run_date) is None


def open_day(run_date: date) -> None:
    """Record that ``run_date``'s business day is open (once; nothing if it is not a business day
    or already closed): the days the platform ran, so that a file waiting for a past day it
    never ran is told apart at the intake cutoff (:func:`alert_at_cutoff`)."""
    if calendar.is_business_day(run_date):
        with db.begin() as conn:
            db.run(conn, "insert_business_day_open", {"business_date": run_date.isoformat()})


def _inbox_listing(landing: Store) -> dict[str, list[str]]:
    """Every object under ``<folder>/inbox/``, by folder. A key deeper than that (a sub-folder,
    ``..``, an empty part: possible on S3) is a drop too, named by everything after ``inbox/``;
    its name does not follow section 2, so it is answered F_NAME like any other bad name.

    A folder is not a drop: an S3 folder marker (a zero-byte key ending in ``/``, as S3 consoles and
    sync tools write for ``inbox/`` itself or a sub-folder) is left alone, like a local directory."""
    folders: dict[str, list[str]] = {}
    for key in [*landing.list(), *landing.links()]:
        parts = key.split("/")
        if len(parts) >= 3 and parts[1] == INBOX:
            names = folders.setdefault(parts[0], [])
            if not (key.endswith("/") and landing.size(key) == 0):
                names.append("/".join(parts[2:]))
        elif len(parts) >= 2 and parts[1] == INBOX:
            folders.setdefault(parts[0], [])
    return folders


_MAX_NAME_BYTES = 200


def safe_name(name: str) -> str:
    """``name`` as one harmless key part, for the keys the platform writes from a client's name
    (raw copy, ``.rej`` answer, the moved inbox copy).

    A name that follows the contract is returned unchanged. Otherwise path separators (``/``,
    ``\\``) and control characters (NUL, CR, LF, ...) become ``_``, a name that is empty, ``.`` or
    ``..`` gets a leading ``_``, and a name longer than 200 bytes is cut and given a hash suffix
    (local file systems refuse longer names).
    """
    cleaned = "".join("_" if ch in "/\\" or ord(ch) < 32 or ord(ch) == 127 else ch for ch in name)
    if cleaned in ("", ".", ".."):
        cleaned = "_" + cleaned
    if len(cleaned.encode("utf-8", "surrogatepass")) > _MAX_NAME_BYTES:
        digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        head = cleaned.encode("utf-8", "surrogatepass")[: _MAX_NAME_BYTES - 40].decode("utf-8", "ignore")
        cleaned = f"{head}~{digest}"
    return cleaned


@dataclass
class _Scan:
    """What one look at the landing zone found for a business date."""

    drops: list[Drop]  # to answer now
    waiting: list[tuple[str, str, date]]  # data files without their control file: (folder, name, date)
    orphans: list[tuple[str, str, date]]  # control files without their data file: (folder, name, date)
    cutoffs: dict[str, datetime]  # the intake cutoff of every client folder that was looked into
    # complete drops of an earlier open date, waiting for a run of it: (folder, name, date)
    past: list[tuple[str, str, date]] = field(default_factory=list)


def _intake_profile(
    conn: Connection, client: str, business_date: str
) -> tuple[profiles.Profile, datetime] | None:
    """The client's profile and its intake cutoff; None, after recording a PROFILE_INVALID alert (once
    per client, profile content and date), when intake cannot use it: the file does not load, or
    ``cutoffs.intake`` is not ``HH:MM``. The caller then leaves that client alone (nothing moved or
    answered); every other client goes on. :class:`profiles.UnknownClient` passes through."""
    try:
        profile = profiles.load(client)
        cutoff = profiles.cutoff(profile, "intake", business_date)
    except profiles.InvalidProfile as broken:
        # No stage on the alert: intake is PROFILE_INVALID's stage in the catalogue.
        profiles.hold(
            client,
            broken,
            business_date,
            f"the files in {client}/inbox/ are left untouched (not moved, not answered) until it is fixed",
            stage=None,
            conn=conn,
        )
        return None
    return profile, cutoff


def _scan_inbox(business_date: str) -> _Scan:
    """Drops to answer now, incomplete data files and orphan control files waiting, per client
    folder. A folder without a profile (UNKNOWN_CLIENT) or with a profile intake cannot use
    (PROFILE_INVALID) is alerted and left alone; the other folders are scanned as usual."""
    db.migrate()
    day = date.fromisoformat(business_date)
    open_day(day)
    landing = open_store(settings().landing)
    known = set(business_types.REGISTRY)
    scan = _Scan([], [], [], {})
    for folder, names in sorted(_inbox_listing(landing).items()):
        try:
            with db.begin() as conn:
                usable = _intake_profile(conn, folder, business_date)
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
        if usable is None:
            continue
        scan.cutoffs[folder] = usable[1]
        present = set(names)
        pending = _pending_drops(folder, present)
        scan.drops.extend(pending)
        resumed_controls = {d.control for d in pending if d.control}
        for name in sorted(names):
            try:
                fn = parse_name(name, known)
            except FileRejection:
                scan.drops.append(Drop(folder, name))
                continue
            if fn.client_id != folder:
                scan.drops.append(Drop(folder, name))
                continue
            if fn.kind == "control":
                # answered together with its data file; alone, it waits for it (alerted and
                # answered at the intake cutoff). One a resumed receipt still has to move is not alone.
                data_names = (f"{fn.stem}.csv", f"{fn.stem}.csv.gz")
                if not any(d in present for d in data_names) and name not in resumed_controls:
                    scan.orphans.append((folder, name, fn.business_date))
                continue
            control = f"{fn.stem}.ctl"
            if control not in present or _control_owner(landing, folder, fn, present) != name:
                scan.waiting.append((folder, name, fn.business_date))
                continue
            if fn.business_date != day and is_open(fn.business_date, day):
                if fn.business_date < day:
                    scan.past.append((folder, name, fn.business_date))
                continue
            scan.drops.append(Drop(folder, name, control))
    return scan


def _control_owner(landing: Store, folder: str, fn: FileName, present: set[str]) -> str:
    """Which data file of the stem the control file ``<stem>.ctl`` completes.

    Normally the one data file of the stem. When both ``<stem>.csv`` and ``<stem>.csv.gz`` are in
    the inbox, it is the one the control file names (its first field); if it names neither, the
    ``.csv`` (which is then refused F_CONTROL). The other data file has no control file: it is
    incomplete and waits (alerted at the intake cutoff), instead of being paired with a control
    file the first one's answer moves away.
    """
    plain, packed = f"{fn.stem}.csv", f"{fn.stem}.csv.gz"
    if not (plain in present and packed in present):
        return packed if fn.compressed else plain
    head = landing.read_head(f"{folder}/{INBOX}/{fn.stem}.ctl", CONTROL_MAX_BYTES)
    named = head.removeprefix(b"\xef\xbb\xbf").split(b"\n", 1)[0].split(b"|", 1)[0]
    return packed if named == packed.encode("utf-8") else plain


def list_drops(business_date: str) -> list[dict[str, Any]]:
    """The drops this run answers: complete pairs for ``business_date`` or for a date that is
    not open, and every badly named file. Incomplete files wait; other open dates wait for
    their own day's run. Unknown client folders are not processed and raise an alert."""
    scan = _scan_inbox(business_date)
    if scan.waiting or scan.orphans:
        halves = [*scan.waiting, *scan.orphans]
        log.info("incomplete drops waiting: %s", ", ".join(f"{f}/{n}" for f, n, _ in halves))
    return [d.as_dict() for d in scan.drops]


def drops_ready(business_date: str, now: datetime | None = None) -> bool:
    """Sensor poke: go on when a complete drop is there, when nothing is waiting for its other half
    (a data file for its control file, a control file for its data file), or when a client with
    such a half has reached its intake cutoff (to alert). Clients whose profile cannot be used are
    left out (alerted by the scan)."""
    scan = _scan_inbox(business_date)
    halves = [*scan.waiting, *scan.orphans]
    if scan.drops or not halves:
        return True
    now = now or datetime.now(BUSINESS_TZ)
    return any(now >= scan.cutoffs[folder] for folder, _, _ in halves)


def alert_at_cutoff(business_date: str, now: datetime | None = None) -> list[dict[str, str]]:
    """At or after each client's intake cutoff: INCOMPLETE_FILE for every data file still without its
    control file and for every control file still without its data file (the control file is also
    answered ``<stem>.rej`` F_CONTROL, and stays in the inbox for its data file), MISSING_FILE for every
    expected file type (profile ``expected_files``) that did not come for the date. Recorded once each
    (dedup keys; an answer already in the outbox is not written again); returns the alerts of this
    call. A client whose profile cannot be used gets PROFILE_INVALID instead, and nothing else."""
    now = now or datetime.now(BUSINESS_TZ)
    scan = _scan_inbox(business_date)
    landing = open_store(settings().landing)
    raised: list[dict[str, str]] = []
    with db.begin() as conn:
        for client in profiles.known_clients():
            usable = _intake_profile(conn, client, business_date)
            if usable is None:
                continue
            profile, cutoff = usable
            if now < cutoff:
                continue
            at = profile.data["cutoffs"]["intake"]
            incomplete = [(name, day) for folder, name, day in scan.waiting if folder == client]
            for name, _day in incomplete:
                message = (
                    f"{client}/inbox/{name} has no control file at the intake cutoff "
                    f"{at}; it is not read until the control file arrives"
                )
                events.alert(
                    conn,
                    "INCOMPLETE_FILE",
                    message,
                    dedup_key=f"incomplete:{client}/{name}:{business_date}",
                    client_id=client,
                    business_date=business_date,
                )
                raised.append({"kind": "INCOMPLETE_FILE", "client_id": client, "name": name})
            orphans = [(name, day) for folder, name, day in scan.orphans if folder == client]
            for name, _day in orphans:
                _answer_orphan_control(conn, landing, client, name, at)
                stem = name.removesuffix(".ctl")
                events.alert(
                    conn,
                    "INCOMPLETE_FILE",
                    f"{client}/inbox/{name} has no data file ({stem}.csv or {stem}.csv.gz) at the intake "
                    f"cutoff {at}; it was answered {stem}.rej (F_CONTROL) and waits in the inbox for its "
                    "data file",
                    dedup_key=f"incomplete:{client}/{name}:{business_date}",
                    client_id=client,
                    business_date=business_date,
                )
                raised.append({"kind": "INCOMPLETE_FILE", "client_id": client, "name": name})
            for folder, name, day in scan.past:
                if folder != client:
                    continue
                ran = _day_was_run(conn, day)
                events.alert(
                    conn,
                    "PAST_DATE_FILE",
                    f"{client}/inbox/{name} is complete but dated {day.isoformat()}, an earlier business "
                    f"day that is not closed; only a run of {day.isoformat()} takes it "
                    + (
                        "(that day was run: rerun its intake_daily)"
                        if ran
                        else "(that day was never run: backfill it, intake_daily with business_date "
                        f"{day.isoformat()}, or ask the client to resend with the right date)"
                    ),
                    dedup_key=f"past-date:{client}/{name}:{business_date}",
                    client_id=client,
                    business_date=business_date,
                )
                raised.append({"kind": "PAST_DATE_FILE", "client_id": client, "name": name})
            received = {
                r.file_type
                for r in db.run(
                    conn, "select_received_types", {"client_id": client, "business_date": business_date}
                )
            }
            day8 = business_date.replace("-", "")
            arriving = {
                name.split("_")[1]
                for name, day in [*incomplete, *orphans]
                if day.isoformat() == business_date
            }
            for file_type in profile.data.get("expected_files") or []:
                if file_type in received or file_type in arriving:
                    continue
                events.alert(
                    conn,
                    "MISSING_FILE",
                    f"no {file_type} file ({client}_{file_type}_{day8}_NNN) came for {business_date} "
                    f"by the intake cutoff {at}",
                    dedup_key=f"missing:{client}:{file_type}:{business_date}",
                    client_id=client,
                    business_date=business_date,
                )
                raised.append({"kind": "MISSING_FILE", "client_id": client, "name": file_type})
    return raised


def _day_was_run(conn: Connection, day: date) -> bool:
    """Whether an intake run of ``day`` opened it (business_days, :func:`open_day`)."""
    return db.run(conn, "select_business_day", {"business_date": day.isoformat()}).first() is not None


def _answer_orphan_control(conn: Connection, landing: Store, folder: str, name: str, cutoff: Any) -> None:
    """Answer a control file that has no data file at the intake cutoff with ``<stem>.rej`` (F_CONTROL).

    Only the answer is written: the control file stays in the inbox, so a data file that still
    comes while the date is open completes the pair and is judged as usual (its own answer then
    replaces this one; an accepted file withdraws it). Written once: an outbox that already holds
    this answer is left as it is.
    """
    stem = name.removesuffix(".ctl")
    message = (
        f"control file {name} arrived without its data file {stem}.csv or {stem}.csv.gz by the intake "
        f"cutoff {cutoff}; the control file is kept: send the data file under that name and the pair is "
        "processed while its business date is open"
    )
    key = f"{folder}/{OUTBOX}/{stem}.rej"
    answer = f"F_CONTROL|{' '.join(message.split())}\n".encode()
    if landing.exists(key) and landing.get(key) == answer:
        return
    _write_rej(landing, folder, stem, "F_CONTROL", message)
    events.audit(conn, "intake", "orphan_control_answered", f"{folder}/{name}", code="F_CONTROL")
    log.warning("%s/%s: no data file at the intake cutoff; answered %s.rej (F_CONTROL)", folder, name, stem)


CONTROL_MAX_BYTES = 64 * 1024  # a control file is one short line; more than this is F_CONTROL
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1  # files.amount_total_cents is a BIGINT
CRASH_STEPS = (
    "after_raw_copy",
    "after_register",
    "after_judge",
    "after_rej",
    "before_inbox_move",
    "between_moves",
    "before_inbox_done",
)


def _crash_point(step: str) -> None:
    """Test hook: with ``DAYBOOK_CRASH_AT=<step>`` (one of CRASH_STEPS) the process SIGKILLs itself here.

    Used by the crash-safety tests to kill intake between two steps; never set in production.
    """
    if os.environ.get("DAYBOOK_CRASH_AT") == step:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)
        os._exit(137)  # not reached


def _pending_drops(folder: str, inbox: set[str]) -> list[Drop]:
    """Receipts a crashed run left unfinished whose data file is no longer in the inbox: resume them."""
    with db.begin() as conn:
        rows = db.run(conn, "select_pending_receipts_of_folder", {"folder": folder}).all()
    drops = []
    for row in rows:
        if row.name not in inbox:
            control = row.control_raw_key.rsplit("/", 1)[-1] if row.control_raw_key else None
            drops.append(Drop(folder, row.name, control))
    return drops


def _write_rej(landing: Store, folder: str, stem: str, code: str, message: str) -> None:
    message = " ".join(message.split())
    landing.put(f"{folder}/{OUTBOX}/{stem}.rej", f"{code}|{message}\n".encode())


def _register(conn: Connection, values: dict[str, Any]) -> tuple[Any | None, bool]:
    """The receipt for these exact bytes in this folder under this name, and whether this call
    created it: created once, even when two runs race (unique index on unfinished receipts), and
    resumed if an earlier run did not finish it. None when another run registered them and has
    finished them since (the insert met its unfinished receipt, which is finished by the time of
    the look-up)."""
    created = db.run(conn, "insert_pending_receipt", values).rowcount == 1
    return db.run(conn, "select_pending_receipt", values).first(), created


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


def iter_frames(
    store: Store, key: str, compressed: bool, chunk_rows: int = 100_000
) -> Iterator[pd.DataFrame]:
    """The data rows of a file that passed intake, as DataFrames of text cells, in file order.

    Each frame has the header's columns (pandas ``str`` dtype, cells exactly as sent) plus an
    int64 ``line_no`` column counting data rows from 1. At most ``chunk_rows`` rows per frame.
    Streaming: memory holds one piece of text and one frame, whatever the file size (the encoding is
    found by a first pass that only decodes).
    """
    import numpy as np
    import pandas as pd

    def open_raw() -> Iterator[bytes]:
        return store.iter_chunks(key)

    encoding = stream_encoding(open_raw, compressed)
    chunks = open_raw()
    if compressed:
        chunks = iter_gunzip(chunks)
    header: list[str] = []
    pending: list[list[str]] = []
    next_line = 1

    def frame(rows: list[list[str]]) -> pd.DataFrame:
        nonlocal next_line
        out = (
            pd.DataFrame(rows, columns=header, dtype="str")
            if rows
            else pd.DataFrame({c: pd.Series([], dtype="str") for c in header})
        )
        out.insert(0, "line_no", np.arange(next_line, next_line + len(rows), dtype="int64"))
        next_line += len(rows)
        return out

    emitted = False
    for columns, rows in iter_csv(
        iter_decoded(chunks, "utf-8" if encoding.startswith("utf-8") else encoding)
    ):
        header = columns
        pending.extend(rows)
        while len(pending) >= chunk_rows:
            yield frame(pending[:chunk_rows])
            emitted = True
            pending = pending[chunk_rows:]
    if pending or not emitted:
        yield frame(pending)


def _refuse_expansion(raw: Store, key: str, limit: int) -> None:
    """Raise F_TOO_LARGE if the gzip stream at ``key`` expands beyond ``limit`` bytes (stopping there).

    Only the size speaks here: a corrupt or truncated stream is F_MALFORMED, which comes after
    F_DATE in section 6, so it is left to the later checks."""
    try:
        for _ in iter_gunzip(raw.iter_chunks(key), limit=limit):
            pass
    except FileRejection as rejection:
        if rejection.code == "F_TOO_LARGE":
            raise


@dataclass(frozen=True)
class _Prescan:
    """A :class:`BlockScanner` answer for the bytes with this sha256, read while their raw copy was
    written (None: the block scan could not vouch for them, so the parser reads the raw copy without
    trying the block scan again)."""

    sha256: str
    table: TableScan | None


def _judge(
    receipt: Any, fn: FileName, raw: Store, run_date: date, prescan: _Prescan | None = None
) -> tuple[FileRejection | None, dict[str, Any]]:
    """Apply the file-level checks in the order of contract section 6, reading the raw-zone copy,
    in the intake run of ``run_date``.

    ``prescan`` of the receipt's bytes stands in for reading the raw copy again: it is the same
    scan of the same bytes (same sha256), and it is used only where the scan comes in section 6, so
    checks before it (F_CONTROL ... F_DATE) still speak first."""
    facts: dict[str, Any] = {}
    sha = receipt.sha256
    try:
        if receipt.control_raw_key is None:
            raise FileRejection("F_CONTROL", "no control file")  # not reached: intake waits for it
        control_bytes = raw.read_head(receipt.control_raw_key, CONTROL_MAX_BYTES + 1)
        if len(control_bytes) > CONTROL_MAX_BYTES:
            raise FileRejection(
                "F_CONTROL",
                f"the control file is larger than {CONTROL_MAX_BYTES} bytes; it must hold one line",
            )
        control = parse_control(control_bytes, fn.stem + (".csv.gz" if fn.compressed else ".csv"))
        if control.sha256 != sha:
            raise FileRejection(
                "F_CHECKSUM",
                f"control file gives sha256 {control.sha256}, the data file as received has {sha}; "
                "resend the data file or correct the control file",
            )
        duplicate_of = _claim_original(int(receipt.file_id), fn.client_id, fn.stem, sha)
        if duplicate_of is not None:
            raise FileRejection(
                "F_DUPLICATE",
                f"a file with the same name or the same content was already received (receipt {duplicate_of}); "
                "send new data under a new sequence number",
            )
        # F_TOO_LARGE, in this order: the data file's bytes, the rows its control file declares,
        # then (read later, still before F_ENCODING) the expanded content of a .csv.gz.
        s = settings()
        limit = s.max_file_bytes
        if int(receipt.size_bytes) > limit:
            raise FileRejection(
                "F_TOO_LARGE", f"file has {receipt.size_bytes} bytes, the limit is {limit} bytes"
            )
        check_row_limit(control.record_count, s.max_file_rows)
        refusal = date_refusal(fn.business_date, run_date)
        if refusal is not None:
            if fn.compressed:  # a .csv.gz that expands beyond the limit is F_TOO_LARGE, before F_DATE
                _refuse_expansion(raw, receipt.raw_key, limit)
            raise FileRejection("F_DATE", refusal)
        btype = business_types.get(fn.type)
        if prescan is not None and prescan.sha256 == sha and prescan.table is not None:
            scan = prescan.table
        else:
            scan = scan_table(
                lambda: raw.iter_chunks(receipt.raw_key),
                fn.compressed,
                btype.amount_column,
                limit=limit,
                block_scan=prescan is None or prescan.sha256 != sha,  # it failed on these bytes
            )
        facts["encoding"] = scan.encoding
        check_header(scan.header, btype.required, btype.optional)
        total = cents_half_up(scan.amount_total)
        # A plain decimal of any size counts at its value (section 3), so the total can be beyond
        # the 64-bit cents column: the file is judged on the exact total, and none is recorded.
        recorded = total if _INT64_MIN <= total <= _INT64_MAX else None
        facts.update(record_count=scan.record_count, amount_total_cents=recorded)
        check_counts(control, scan.record_count, total)
    except FileRejection as rejection:
        return rejection, facts
    return None, facts


def _hash(store: Store, key: str, scanner: BlockScanner | None = None) -> tuple[str, int]:
    """sha256 (hex) and size of an object, streaming; the same bytes are fed to ``scanner``."""
    digest = hashlib.sha256()
    size = 0
    for chunk in store.iter_chunks(key):
        digest.update(chunk)
        size += len(chunk)
        if scanner is not None and not scanner.feed(chunk):
            scanner = None  # it cannot vouch for the file: the parser will read the raw copy
    return digest.hexdigest(), size


def _block_scanner(
    landing: Store, inbox_key: str, fn: FileName | None, control: str | None
) -> BlockScanner | None:
    """A scanner for the data file while its raw copy is written, when the judgement will likely
    need the scan: a well-named plain ``.csv`` with its control file, within the size limit. A
    ``.csv.gz`` is scanned from the raw copy as before (its gunzip reads a stream)."""
    if fn is None or fn.compressed or control is None:
        return None
    if landing.size(inbox_key) > settings().max_file_bytes:
        return None  # F_TOO_LARGE comes before the scan
    return BlockScanner(business_types.get(fn.type).amount_column)


def _prescan(landing: Store, inbox_key: str, sha: str, scanner: BlockScanner) -> _Prescan | None:
    """Scan the inbox copy while the raw copy is written (two cores busy instead of one: the copy
    is I/O, the scan numpy). The scan's own sha256 ties it to the registered bytes: if the inbox
    file changed since it was hashed, nothing is kept and the raw copy is scanned as before."""
    seen, _ = _hash(landing, inbox_key, scanner)
    table = scanner.result()
    return _Prescan(sha, table) if seen == sha else None


def _parse_own_name(folder: str, name: str) -> tuple[FileName | None, FileRejection | None]:
    try:
        fn = parse_name(name, set(business_types.REGISTRY))
    except FileRejection as rejection:
        return None, rejection
    if fn.client_id != folder:
        return None, FileRejection(
            "F_NAME", f"file name names client {fn.client_id} but was dropped in the folder of {folder}"
        )
    return fn, None


def process_drop(drop: dict[str, Any], business_date: str) -> dict[str, Any]:
    """Answer one drop: raw copy, registration, judgement, return file, then the inbox move.

    Every step can be repeated: a run that died anywhere is finished by the next one (the receipt
    is found by folder, name and bytes while the inbox copy is there, by folder and name after).
    """
    s = settings()
    landing, raw = open_store(s.landing), open_store(s.raw)
    folder, name, control_name = drop["folder"], drop["name"], drop.get("control")
    inbox_key = f"{folder}/{INBOX}/{name}"
    with db.begin() as conn:
        usable = _intake_profile(conn, folder, business_date)
    if usable is None:
        # The profile broke since the listing: leave the file as it is, like the rest of the inbox.
        return {"folder": folder, "name": name, "status": "PROFILE_INVALID"}
    profile = usable[0]
    if inbox_key in landing.links(f"{folder}/{INBOX}"):
        return _refuse_link(landing, folder, name)
    fn, name_rejection = _parse_own_name(folder, name)
    stem = fn.stem if fn else stem_of(safe_name(name))
    prescan = None

    if landing.exists(inbox_key):
        if control_name and not landing.exists(f"{folder}/{INBOX}/{control_name}"):
            # The control file was taken by another answer since the listing: incomplete again.
            return {"folder": folder, "name": name, "status": "WAITING"}
        control_key = f"{folder}/{INBOX}/{control_name}" if control_name else None
        scanner = None
        try:
            scanner = _block_scanner(landing, inbox_key, fn, control_name)
            sha, size = _hash(landing, inbox_key)
            raw_key = f"{folder}/{sha}/{safe_name(name)}"
            with ThreadPoolExecutor(1, thread_name_prefix="raw-copy") as copier:
                copied = (
                    None if raw.exists(raw_key) else copier.submit(landing.copy_to, inbox_key, raw, raw_key)
                )
                if scanner is not None:
                    prescan = _prescan(landing, inbox_key, sha, scanner)
                if copied is not None:
                    copied.result()
            control_raw_key = None
            if control_key:
                control_sha, _ = _hash(landing, control_key)
                control_raw_key = f"{folder}/{control_sha}/{control_name}"
                if not raw.exists(control_raw_key):
                    landing.copy_to(control_key, raw, control_raw_key)
        except Exception:
            # A concurrent run answered the pair and moved it out of the inbox while this run
            # read it: nothing of this run is registered (raw copies are keyed by content and
            # harmless). Anything else is a real error.
            if not landing.exists(inbox_key):
                return {"folder": folder, "name": name, "status": "GONE"}
            if control_key and not landing.exists(control_key):
                return {"folder": folder, "name": name, "status": "WAITING"}
            raise
        finally:
            if scanner is not None:
                scanner.close()  # its threads end however the reading ended
        _crash_point("after_raw_copy")
        with db.begin() as conn:
            profiles.record_version(conn, profile)
            receipt, created = _register(
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
                    "size_bytes": size,
                    "raw_key": raw_key,
                    "control_raw_key": control_raw_key,
                    "profile_version": profile.version,
                },
            )
        if receipt is None:
            # Another run registered these bytes and finished them between our insert and our
            # look-up: they are answered and moved; nothing is left for this run.
            return {"folder": folder, "name": name, "status": "GONE"}
        if created and not landing.exists(inbox_key):
            # Another run answered this file and moved it between our look and our registration: our
            # receipt is for a file no longer there. Withdraw it (nothing refers to it yet).
            with db.begin() as conn:
                db.run(conn, "delete_pending_receipt", {"file_id": int(receipt.file_id)})
            return {"folder": folder, "name": name, "status": "GONE"}
        _crash_point("after_register")
    else:
        with db.begin() as conn:
            pending = [
                r
                for r in db.run(conn, "select_pending_receipts_of_folder", {"folder": folder})
                if r.name == name
            ]
        if not pending:
            return {"folder": folder, "name": name, "status": "GONE"}
        receipt = pending[-1]
    return _finish(
        landing,
        raw,
        receipt,
        fn,
        name_rejection,
        stem,
        control_name,
        date.fromisoformat(business_date),
        prescan,
    )


def _refuse_link(landing: Store, folder: str, name: str) -> dict[str, Any]:
    """A symbolic link in the inbox is not a file the client sent: F_NAME, never followed or read.

    It could point anywhere (outside the landing zone, another client's folder), so it is not
    copied to the raw zone and gets no receipt (there are no bytes to register); it is answered
    with ``<stem>.rej`` and the link itself is moved to ``rejected/``.
    """
    stem = stem_of(safe_name(name))
    message = f"{name!r} is a symbolic link, not a file; links are never followed: upload the file itself"
    _write_rej(landing, folder, stem, "F_NAME", message)
    landing.move_link(f"{folder}/{INBOX}/{name}", f"{folder}/{REJECTED}/{safe_name(name)}")
    with db.begin() as conn:
        events.audit(conn, "intake", "link_refused", f"{folder}/{safe_name(name)}", code="F_NAME")
    log.warning("%s/%s: symbolic link refused (F_NAME), not followed", folder, safe_name(name))
    return {"folder": folder, "name": name, "status": "REJECTED", "code": "F_NAME"}


def _finish(
    landing: Store,
    raw: Store,
    receipt: Any,
    fn: FileName | None,
    name_rejection: FileRejection | None,
    stem: str,
    control_name: str | None,
    run_date: date,
    prescan: _Prescan | None = None,
) -> dict[str, Any]:
    """Judge a registered file (once) in the intake run of ``run_date``, answer it, move the
    inbox copy, close the receipt. ``prescan``: the data file's scan read while it was copied."""
    folder, name, file_id = receipt.folder, receipt.name, int(receipt.file_id)
    if receipt.status == "RECEIVED":
        if name_rejection is not None:
            rejection, facts = name_rejection, {}
        else:
            assert fn is not None
            rejection, facts = _judge(receipt, fn, raw, run_date, prescan)
        status = "REJECTED" if rejection else "INTAKE_OK"
        code, message = (rejection.code, rejection.message) if rejection else (None, None)
        with db.begin() as conn:
            judged = db.run(
                conn,
                "update_receipt_judged",
                {
                    "file_id": file_id,
                    "status": status,
                    "reason_code": code,
                    "message": message,
                    "encoding": facts.get("encoding"),
                    "record_count": facts.get("record_count"),
                    "amount_total_cents": facts.get("amount_total_cents"),
                },
            )
            if judged.rowcount == 1:
                events.audit(
                    conn,
                    "intake",
                    "file_judged",
                    f"{folder}/{name}",
                    file_id=file_id,
                    status=status,
                    code=code,
                    sha256=receipt.sha256,
                )
        if judged.rowcount != 1:  # a concurrent run judged it first: take its judgement
            with db.begin() as conn:
                row = db.run(
                    conn, "select_pending_receipt", {"folder": folder, "name": name, "sha256": receipt.sha256}
                ).first()
            if row is not None:
                status, code, message = row.status, row.reason_code, row.message
        _crash_point("after_judge")
    else:
        status, code, message = receipt.status, receipt.reason_code, receipt.message

    if status == "REJECTED":
        _write_rej(landing, folder, stem, code, message or code)
        _crash_point("after_rej")
    else:
        # The stem's answer is now this accepted file: withdraw a .rej left by an earlier refusal
        # (F_CONTROL or F_CHECKSUM) of the same stem.
        landing.delete(f"{folder}/{OUTBOX}/{stem}.rej")
    target = REJECTED if status == "REJECTED" else PROCESSED
    _crash_point("before_inbox_move")
    landing.move(f"{folder}/{INBOX}/{name}", f"{folder}/{target}/{safe_name(name)}")
    _crash_point("between_moves")
    if control_name:
        landing.move(f"{folder}/{INBOX}/{control_name}", f"{folder}/{target}/{control_name}")
    _crash_point("before_inbox_done")
    with db.begin() as conn:
        db.run(conn, "update_receipt_inbox_done", {"file_id": file_id})
    log.info("%s/%s: %s %s", folder, name, status, code or "")
    return {"folder": folder, "name": name, "file_id": file_id, "status": status, "code": code}
