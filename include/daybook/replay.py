"""Replay (重放): re-run one client's day from its archive and compare, byte for byte.

The archived originals are dropped into a scratch landing zone, the archived profile version
becomes the scratch profile, and the day runs into a scratch SQLite database and scratch
folders through the same stage DAGs (intake, validation, settlement) that ran it; people's
decisions are not re-invented but replayed from the archive, in their order: the reviewers'
approvals from ``approvals.csv`` after routing, and the anti-money-laundering releases and blocks
(four-eyes) from ``aml/decisions.csv`` after the day's payments are screened, before settlement
posts them. Then the scratch return files are compared with the archived ones byte for byte, and the
scratch ledger with the archived ledger on the columns that carry meaning (business number, leg,
client, date, account, amount; not ids or posting times), rendered the same way.

Known limits: a day whose outcome depended on earlier days (``R_DUPLICATE_REF`` against an
earlier file, prefunded balance used by earlier days, structuring counted over earlier days)
cannot be reproduced from its own package alone, and screening uses today's sanctions list;
those differences are reported, not hidden.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path

from daybook import archive, crypto

AML_DECISIONS = "aml/decisions.csv"
LEDGER_COLUMNS = ("business_no", "leg", "client_id", "business_date", "account", "amount_cents")


@dataclass
class ReplayReport:
    client_id: str
    business_date: str
    workdir: str = ""
    compared: int = 0
    differences: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences


def canonical_ledger(ledger_csv: bytes) -> bytes:
    """The ledger's meaningful columns, sorted, as CSV bytes."""
    rows = list(csv.DictReader(io.StringIO(ledger_csv.decode("utf-8"))))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(LEDGER_COLUMNS)
    for r in sorted(rows, key=lambda r: (r["business_no"], r["leg"])):
        writer.writerow([r[c] for c in LEDGER_COLUMNS])
    return out.getvalue().encode("utf-8")


def compare(archived: dict[str, bytes], replayed: dict[str, bytes], report: ReplayReport) -> ReplayReport:
    """Compare return files (``returns/...``) and the canonical ledger; record every difference."""
    names = sorted(p for p in set(archived) | set(replayed) if p.startswith("returns/"))
    for name in names:
        report.compared += 1
        if name not in replayed:
            report.differences.append(f"{name}: archived, not produced by the replay")
        elif name not in archived:
            report.differences.append(f"{name}: produced by the replay, not in the archive")
        elif archived[name] != replayed[name]:
            report.differences.append(
                f"{name}: bytes differ{_first_line_diff(archived[name], replayed[name])}"
            )
    report.compared += 1
    if canonical_ledger(archived.get("ledger.csv", b"")) != canonical_ledger(replayed.get("ledger.csv", b"")):
        report.differences.append("ledger.csv: postings differ")
    return report


def _first_line_diff(a: bytes, b: bytes) -> str:
    for i, (x, y) in enumerate(zip(a.splitlines(), b.splitlines(), strict=False), start=1):
        if x != y:
            return f" (line {i}: archived {x[:80]!r}, replayed {y[:80]!r})"
    return f" (lengths {len(a)} and {len(b)})"


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def replay(client_id: str, business_date: str, workdir: Path | None = None) -> ReplayReport:
    """Re-run the client's day from its archive in scratch storage and compare with the archive."""
    manifest = archive.read_manifest(client_id, business_date)
    work = Path(workdir or tempfile.mkdtemp(prefix="daybook-replay-"))
    report = ReplayReport(client_id, business_date, str(work))
    members = read_members(manifest, report, originals_to=work / "landing" / client_id / "inbox")
    profiles_dir = work / "profiles"
    profiles_dir.mkdir(parents=True, exist_ok=True)
    versions = manifest.get("profile_versions") or []
    profile = members.get(f"profiles/{versions[-1]}.yaml") if versions else None
    if profile is not None:
        (profiles_dir / f"{client_id}.yaml").write_bytes(profile)
    env = {
        "DAYBOOK_DB_URL": f"sqlite:///{work / 'replay.db'}",
        "DAYBOOK_LANDING": str(work / "landing"),
        "DAYBOOK_RAW": str(work / "raw"),
        "DAYBOOK_OUTPUTS": str(work / "outputs"),
        "DAYBOOK_ARCHIVE": str(work / "archive"),
        "DAYBOOK_PROFILES": str(profiles_dir),
        "DAYBOOK_DEMO_APPROVER": "",
    }
    with _environment(env):
        try:
            _rerun(
                business_date,
                members.get("approvals.csv", b""),
                members.get(AML_DECISIONS, b""),
                report,
            )
        except RuntimeError as exc:  # a stage failed: say so, compare what it produced anyway
            report.differences.append(str(exc))
        replayed = _replayed_members(client_id, business_date, work)
    return compare(members, replayed, report)


# Members replay needs in memory (small); originals go straight to the scratch landing zone and
# the rest (records.parquet, data docs, ...) is only checked against the manifest, as a stream.
_KEPT = ("returns/", "profiles/", "ledger.csv", "approvals.csv", AML_DECISIONS)


def read_members(manifest: dict, report: ReplayReport, originals_to: Path | None = None) -> dict[str, bytes]:
    """Every member's plaintext that replay compares or replays from (returns, ledger, the
    decisions, profiles), checked against its manifest hash; originals are streamed into
    ``originals_to`` and every other member is read as a stream and checked.

    A missing, unopenable or changed member is a difference (the replay goes on with what is
    there, so the comparison shows what the damage changes); a changed member is still used.
    """
    store = archive.archive_store()
    prefix = archive.package_prefix(manifest["client_id"], manifest["business_date"])
    members: dict[str, bytes] = {}
    for m in manifest["members"]:
        path = m["path"]
        if not store.exists(f"{prefix}/{m['stored_as']}"):
            report.differences.append(f"{path}: missing from the archive")
            continue
        try:
            if path.startswith("originals/") and originals_to is not None:
                digest, _ = archive.copy_member(
                    manifest, path, originals_to / path.removeprefix("originals/"), store
                )
            else:
                h, kept = hashlib.sha256(), bytearray()
                keep = path.startswith(_KEPT)
                for piece in archive.iter_member(manifest, path, store):
                    h.update(piece)
                    if keep:
                        kept += piece
                digest = h.hexdigest()
                if keep:
                    members[path] = bytes(kept)
        except crypto.SealError as exc:
            report.differences.append(f"{path}: does not open ({exc})")
            continue
        if digest != m["sha256"]:
            report.differences.append(f"{path}: sha256 differs from the manifest")
    return members


def _rerun(business_date: str, approvals_csv: bytes, aml_decisions_csv: bytes, report: ReplayReport) -> None:
    from daybook import aml, approval, db
    from daybook.config import BUSINESS_TZ
    from daybook.runner import run_stage

    db.migrate()
    for stage in ("intake", "validation"):
        if run_stage(stage, business_date) != "success":
            raise RuntimeError(f"replay: {stage} did not succeed")
    approval.assess(business_date)
    decisions = list(csv.DictReader(io.StringIO(approvals_csv.decode("utf-8"))))
    for d in sorted(decisions, key=lambda d: (d["decided_at"], int(d["approval_id"]))):
        approval.decide(d["business_no"], d["decided_by"], d["decision"], d["opinion"])
    # Whatever was still undecided expired at the cutoff: replay that moment, not today's clock.
    after_cutoff = datetime.combine(date.fromisoformat(business_date), time(23, 59)) + timedelta(hours=1)
    approval.expire(business_date, now=after_cutoff.replace(tzinfo=BUSINESS_TZ))
    approval.record_release([business_date], "replay", "replay of the archived day")
    # Screening holds the approved payments it held that day; the people's releases and blocks
    # are applied before settlement runs, or its cutoff (long past) would expire every hold.
    aml.screen(business_date)
    for d in sorted(
        csv.DictReader(io.StringIO(aml_decisions_csv.decode("utf-8"))),
        key=lambda d: (d["decided_at"], int(d["decision_id"])),
    ):
        try:
            aml.decide(d["business_no"], d["decided_by"], d["decision"], d["note"])
        except aml.AmlError as exc:  # the replayed screening did not hold it the same way
            report.differences.append(
                f"{AML_DECISIONS}: {d['business_no']} {d['decision']} by {d['decided_by']}: {exc}"
            )
    if run_stage("settlement", business_date) != "success":
        raise RuntimeError("replay: settlement did not succeed")


def _replayed_members(client_id: str, business_date: str, work: Path) -> dict[str, bytes]:
    from daybook import db

    out: dict[str, bytes] = {}
    outbox = work / "landing" / client_id / "outbox"
    for path in sorted(outbox.glob("*")) if outbox.is_dir() else []:
        out[f"returns/{path.name}"] = path.read_bytes()
    with db.begin() as conn:
        rows, cols = archive._query(
            conn, "select_ledger_entries_of_client", {"client_id": client_id, "business_date": business_date}
        )
    out["ledger.csv"] = archive.rows_to_csv(rows, cols)
    return out
