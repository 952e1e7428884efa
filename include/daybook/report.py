"""The day's summary: files accepted and refused with codes, rows per final state, ledger totals."""

from __future__ import annotations

from typing import Any

from daybook import db
from daybook.config import settings
from daybook.settlement import format_cents, ledger_totals


def day_summary(business_date: str) -> dict[str, Any]:
    with db.begin() as conn:
        files = [dict(r._mapping) for r in db.run(conn, "select_day_files", {"business_date": business_date})]
        states = {
            r.state: int(r.n)
            for r in db.run(conn, "count_records_by_state", {"business_date": business_date})
        }
        codes = {
            r.final_code: int(r.n)
            for r in db.run(conn, "count_final_codes", {"business_date": business_date})
        }
        archives = [
            dict(r._mapping) for r in db.run(conn, "select_archives_of_day", {"business_date": business_date})
        ]
    totals = ledger_totals(business_date)
    s = settings()
    return {
        "business_date": business_date,
        "files": files,
        "records_by_state": states,
        "final_codes": codes,
        "ledger": {**totals, "balanced": totals["debit_cents"] == totals["credit_cents"]},
        "landing": s.landing,
        "archive": archives,
    }


def render(summary: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.rule(f"daybook business day {summary['business_date']}")
    files = Table(title="Files", show_lines=False)
    for col in ("client", "file", "status", "code", "rows"):
        files.add_column(col)
    for f in summary["files"]:
        files.add_row(
            f["folder"],
            f["name"],
            f["status"],
            f["reason_code"] or "",
            "" if f["record_count"] is None else str(f["record_count"]),
        )
    console.print(files)
    rows = Table(title="Rows by state")
    rows.add_column("state")
    rows.add_column("rows", justify="right")
    for state, n in sorted(summary["records_by_state"].items()):
        rows.add_row(state, str(n))
    for code, n in sorted(summary["final_codes"].items()):
        rows.add_row(f"  of which {code}", str(n))
    console.print(rows)
    ledger = summary["ledger"]
    console.print(
        f"Ledger: {ledger['entries']} entries, debits {format_cents(ledger['debit_cents'])}, "
        f"credits {format_cents(ledger['credit_cents'])} "
        + ("[green]balanced[/green]" if ledger["balanced"] else "[red]NOT BALANCED[/red]")
    )
    console.print(f"Return files: {summary['landing']}/<CLIENT>/outbox/")
    for a in summary["archive"]:
        console.print(
            f"Archive {a['client_id']}: {a['location']} ({a['members']} members, "
            f"manifest sha256 {a['manifest_sha256'][:16]}...)"
        )
