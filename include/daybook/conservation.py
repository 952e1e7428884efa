"""Record conservation audit: for each file of a business date, prove that every row that
arrived ended in exactly one final state, with the input hashes.

For a file accepted by intake, the control file's record count, the rows published for the
file, and the rows in final states must all agree, and each row holds exactly one final
state. A file refused as a whole holds no published row (its answer is the ``.rej``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from daybook import db

FINAL_STATES = ("REJECTED", "SETTLED", "RETURNED", "DISBURSED", "DECLINED")


@dataclass(frozen=True)
class FileAudit:
    folder: str
    name: str
    sha256: str
    status: str
    reason_code: str | None
    declared_rows: int | None
    published_rows: int
    final_rows: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def audit_day(business_date: str) -> list[FileAudit]:
    """One line per file received on the business date, with what does not add up."""
    with db.begin() as conn:
        rows = db.run(conn, "select_conservation_of_day", {"business_date": business_date}).all()
    audits = []
    for r in rows:
        problems = []
        published, final = int(r.published_rows or 0), int(r.final_rows or 0)
        if r.status == "REJECTED" and published:
            problems.append(f"refused file has {published} published rows")
        counted = r.status in ("VALIDATED", "COMPLETED", "ARCHIVED") and r.record_count is not None
        if counted and published != r.record_count:
            problems.append(f"control file declares {r.record_count} rows, {published} were published")
        if r.status == "COMPLETED" and final != published:
            problems.append(f"{published - final} rows are not in a final state")
        if r.status not in ("REJECTED", "COMPLETED", "VALIDATED", "INTAKE_OK", "RECEIVED", "ARCHIVED"):
            problems.append(f"unknown file status {r.status}")
        audits.append(
            FileAudit(
                folder=r.folder,
                name=r.name,
                sha256=r.sha256,
                status=r.status,
                reason_code=r.reason_code,
                declared_rows=r.record_count,
                published_rows=published,
                final_rows=final,
                problems=tuple(problems),
            )
        )
    return audits


def as_dicts(audits: list[FileAudit]) -> list[dict[str, Any]]:
    return [{**asdict(a), "ok": a.ok} for a in audits]
