"""Service KPIs per client and business date, the reject-spike alert, and the KPI reports.

Definitions (docs/kpi.md has the operator's version):

* **on-time file rate** - files received (duplicates excluded) at or before the client's intake
  cutoff, over files received plus expected file types (profile ``expected_files``) that never came.
* **STP rate** - accepted records approved by rule (tier AUTO) with no human decision, over
  accepted records.
* **reject rate** - rejected records over all records; **by reason code**: records carrying the
  code over all records (a record may carry several codes).
* **approval turnaround** - for records with a human decision: minutes from the file's arrival to
  the last decision; p50 and p95 by the nearest-rank method (the ceil(p/100 * n)-th smallest).
* **settlement on time** - records posted to the ledger at or before the settlement cutoff,
  over records posted.
* **alerts raised / resolved** - alert events of the client and date, and those resolved.

Timestamps in the database are UTC (CURRENT_TIMESTAMP); cutoffs are Asia/Shanghai.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from datetime import UTC, date, datetime
from typing import Any

from daybook import db, events, profiles

log = logging.getLogger(__name__)

SPIKE_FACTOR = 3  # a reject rate this many times the client's norm is a spike
SPIKE_MIN_RATE = 0.05  # ...and at least this high (a few rejects on a clean client are no spike)
NORM_DAYS = 20  # the norm: the client's reject rate over its last 20 dates with records
NORM_MIN_DAYS = 5


def _utc(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile: the ceil(p/100 * n)-th smallest value (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(p / 100 * len(ordered)), 1) - 1]


def _ratio(num: int, den: int) -> float | None:
    return None if den == 0 else num / den


def daily(start: str, end: str) -> list[dict[str, Any]]:
    """KPIs per client and business date for the dates in [start, end], sorted by date, client."""
    from daybook import deadlines

    params = {"start": start, "end": end}
    with db.begin() as conn:
        files = [dict(r) for r in db.run(conn, "select_kpi_files", params).mappings()]
        records = [dict(r) for r in db.run(conn, "select_kpi_records", params).mappings()]
        alerts = [dict(r) for r in db.run(conn, "select_kpi_alerts", params).mappings()]
    keys = {(r["client_id"], r["business_date"]) for r in files + records}
    keys |= {(a["client_id"], a["business_date"]) for a in alerts if a["client_id"]}
    cut: dict[tuple[str, str], dict[str, datetime]] = {}
    expected_of: dict[str, set[str]] = {}
    unusable: dict[str, str] = {}  # client -> why its profile cannot be read (reported once)
    for client_id, day in sorted(keys):
        try:
            cut[(client_id, day)] = deadlines.cutoffs(client_id, day)
            if client_id not in expected_of:
                expected_of[client_id] = set(profiles.load(client_id).data.get("expected_files") or [])
        except profiles.UnknownClient:
            cut[(client_id, day)] = {}
            expected_of[client_id] = set()
        except (AttributeError, TypeError, ValueError) as exc:  # InvalidProfile is a ValueError
            # Read only: the stages that hold the client raise its PROFILE_INVALID. Its cutoffs
            # and expected files are unknown, so its on-time rates are not computed that day.
            unusable.setdefault(client_id, str(exc))
            cut[(client_id, day)] = {}
    for client_id, problem in sorted(unusable.items()):
        log.error(
            "%s: profile cannot be used (%s); on-time rates and missing files not computed",
            client_id,
            problem,
        )
    out: list[dict[str, Any]] = []
    for client_id, day in sorted(keys, key=lambda k: (k[1], k[0])):
        c = cut[(client_id, day)]
        fs = [f for f in files if (f["client_id"], f["business_date"]) == (client_id, day)]
        rs = [r for r in records if (r["client_id"], r["business_date"]) == (client_id, day)]
        al = [a for a in alerts if (a["client_id"], a["business_date"]) == (client_id, day)]
        usable = client_id not in unusable
        expected = expected_of.get(client_id, set()) if usable else set()
        missing = len(expected - {f["file_type"] for f in fs})
        on_time = sum(1 for f in fs if "intake" in c and _utc(f["received_at"]) <= c["intake"])
        accepted = [r for r in rs if r["ack_status"] == "ACCEPTED"]
        stp = sum(1 for r in accepted if r["tier"] == "AUTO" and int(r["decisions"]) == 0)
        rejected = [r for r in rs if r["ack_status"] == "REJECTED"]
        by_code: dict[str, int] = defaultdict(int)
        for r in rejected:
            for code in filter(None, (r["reason_codes"] or "").replace(",", ";").split(";")):
                by_code[code.strip()] += 1
        turnaround = [
            (_utc(r["last_decided_at"]) - _utc(r["file_received_at"])).total_seconds() / 60
            for r in rs
            if int(r["decisions"]) > 0 and r["last_decided_at"] is not None
        ]
        posted = [_utc(r["posted_at"]) for r in rs if r["posted_at"] is not None]
        settled_on_time = sum(1 for p in posted if "settlement" in c and p <= c["settlement"])
        out.append(
            {
                "client_id": client_id,
                "business_date": day,
                "files": len(fs),
                "files_missing": missing,
                "files_on_time": on_time,
                "on_time_file_rate": _ratio(on_time, len(fs) + missing) if usable else None,
                "records": len(rs),
                "accepted": len(accepted),
                "stp": stp,
                "rejected": len(rejected),
                "stp_rate": _ratio(stp, len(accepted)),
                "reject_rate": _ratio(len(rejected), len(rs)),
                "reject_rate_by_code": {k: by_code[k] / len(rs) for k in sorted(by_code)},
                "approval_turnaround_p50_min": percentile(turnaround, 50),
                "approval_turnaround_p95_min": percentile(turnaround, 95),
                "settled": len(posted),
                "settled_on_time": settled_on_time,
                "settlement_on_time_rate": _ratio(settled_on_time, len(posted)) if usable else None,
                "alerts_raised": len(al),
                "alerts_resolved": sum(1 for a in al if a["resolved_at"] is not None),
                "profile_usable": usable,
            }
        )
    return out


def monthly_sla(month: str) -> list[dict[str, Any]]:
    """Per client for ``YYYY-MM``: the month's totals as rates over all its files and records
    (not averages of daily rates), turnaround percentiles over all its decisions."""
    start = f"{month}-01"
    y, m = (int(x) for x in month.split("-"))
    end = date(y + (m == 12), m % 12 + 1, 1).toordinal() - 1
    rows = daily(start, date.fromordinal(end).isoformat())
    by_client: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_client[r["client_id"]].append(r)
    out = []
    for client_id, days in sorted(by_client.items()):

        def total(key: str, days: list[dict[str, Any]] = days) -> int:
            return sum(int(d[key]) for d in days)

        # On-time rates pool only the dates whose cutoffs could be read (see daily).
        timed = [d for d in days if d["profile_usable"]]
        out.append(
            {
                "client_id": client_id,
                "month": month,
                "business_dates": len(days),
                "on_time_file_rate": _ratio(
                    total("files_on_time", timed), total("files", timed) + total("files_missing", timed)
                ),
                "stp_rate": _ratio(total("stp"), total("accepted")),
                "reject_rate": _ratio(total("rejected"), total("records")),
                "settlement_on_time_rate": _ratio(total("settled_on_time", timed), total("settled", timed)),
                "alerts_raised": total("alerts_raised"),
                "alerts_resolved": total("alerts_resolved"),
            }
        )
    return out


# --------------------------------------------------------------------------- reject spike


def check_reject_spikes(business_date: str) -> list[str]:
    """Raise REJECT_SPIKE for each client whose date has a file refused F_ERROR_RATE, or whose
    reject rate is at least SPIKE_FACTOR times its norm (and at least SPIKE_MIN_RATE).
    Returns the dedup keys raised (or already raised)."""
    raised = []
    for row in daily(business_date, business_date):
        client_id, rate = row["client_id"], row["reject_rate"]
        with db.begin() as conn:
            files = [
                f
                for f in db.run(
                    conn, "select_kpi_files", {"start": business_date, "end": business_date}
                ).mappings()
                if f["client_id"] == client_id and f["reason_code"] == "F_ERROR_RATE"
            ]
            history = db.run(
                conn, "select_client_reject_history", {"client_id": client_id, "business_date": business_date}
            ).all()[:NORM_DAYS]
            n, rej = sum(int(h.n) for h in history), sum(int(h.rejected or 0) for h in history)
            norm = rej / n if n and len(history) >= NORM_MIN_DAYS else None
            spike = (
                rate is not None
                and norm is not None
                and rate >= SPIKE_MIN_RATE
                and rate >= SPIKE_FACTOR * norm
            )
            if not files and not spike:
                continue
            reasons = []
            if files:
                reasons.append(f"{len(files)} files refused F_ERROR_RATE")
            if spike:
                reasons.append(
                    f"reject rate {rate:.1%} against a norm of {norm:.1%} over {len(history)} dates"
                )
            key = f"reject-spike:{client_id}:{business_date}"
            events.alert(
                conn,
                "REJECT_SPIKE",
                f"{client_id} {business_date}: " + "; ".join(reasons),
                dedup_key=key,
                client_id=client_id,
                business_date=business_date,
                details={
                    "files_error_rate": len(files),
                    "records": row["records"],
                    "rejected": round((rate or 0) * row["records"]),
                },
            )
            raised.append(key)
    return raised


# --------------------------------------------------------------------------- reports

RATE_CHARTS = (
    ("on_time_file_rate", "On-time files"),
    ("stp_rate", "Straight-through"),
    ("reject_rate", "Reject rate"),
    ("settlement_on_time_rate", "Settled on time"),
)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def svg_bars(title: str, bars: list[tuple[str, float | None]], width: int = 420) -> str:
    """An inline SVG bar chart of rates in [0, 1] (no chart library needed)."""
    from html import escape

    row, label_w = 22, 150
    height = 28 + row * max(len(bars), 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(title)}" '
        f'width="{width}" height="{height}"><title>{escape(title)}</title>',
        f'<text x="0" y="16" font-size="13" font-weight="bold">{escape(title)}</text>',
    ]
    span = width - label_w - 60
    for i, (label, value) in enumerate(bars):
        y = 26 + i * row
        w = 0 if value is None else round(span * max(0.0, min(value, 1.0)))
        parts += [
            f'<text x="0" y="{y + 14}" font-size="12">{escape(label)}</text>',
            f'<rect x="{label_w}" y="{y + 3}" width="{w}" height="14" fill="#3b7dd8"/>',
            f'<text x="{label_w + w + 4}" y="{y + 14}" font-size="12">{_pct(value)}</text>',
        ]
    parts.append("</svg>")
    return "".join(parts)


def _table(rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> str:
    from html import escape

    def cell(key: str, v: Any) -> str:
        if isinstance(v, float) and key.endswith("_min"):  # minutes, not a rate
            return f"{round(v, 1):g}"
        if isinstance(v, float):
            return _pct(v)
        if isinstance(v, dict):
            return ", ".join(f"{k} {_pct(x)}" for k, x in v.items()) or "-"
        return "-" if v is None else escape(str(v))

    head = "".join(f"<th>{escape(label)}</th>" for _, label in columns)
    body = "".join("<tr>" + "".join(f"<td>{cell(k, r[k])}</td>" for k, _ in columns) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


DAILY_COLUMNS = [
    ("business_date", "Business date"),
    ("client_id", "Client"),
    ("files", "Files"),
    ("files_missing", "Missing"),
    ("on_time_file_rate", "On-time files"),
    ("records", "Records"),
    ("stp_rate", "STP"),
    ("reject_rate", "Reject rate"),
    ("reject_rate_by_code", "Reject rate by code"),
    ("approval_turnaround_p50_min", "Turnaround p50 (min)"),
    ("approval_turnaround_p95_min", "Turnaround p95 (min)"),
    ("settlement_on_time_rate", "Settled on time"),
    ("alerts_raised", "Alerts raised"),
    ("alerts_resolved", "Alerts resolved"),
]
_STYLE = (
    "<style>body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:3px 6px;font-size:13px}svg{margin:0 1.5em 1em 0}</style>"
)


def render_daily_html(business_date: str, rows: list[dict[str, Any]] | None = None) -> str:
    """The day's KPI report: a chart per rate (one bar per client) and the full table."""
    rows = daily(business_date, business_date) if rows is None else rows
    charts = "".join(svg_bars(title, [(r["client_id"], r[key]) for r in rows]) for key, title in RATE_CHARTS)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>daybook KPIs {business_date}</title>{_STYLE}"
        f"</head><body><h1>Service KPIs, business date {business_date}</h1><div>{charts}</div>"
        f"{_table(rows, DAILY_COLUMNS)}<p>Definitions: docs/kpi.md</p></body></html>"
    )


def render_monthly_html(month: str, rows: list[dict[str, Any]] | None = None) -> str:
    rows = monthly_sla(month) if rows is None else rows
    columns = [
        ("client_id", "Client"),
        ("business_dates", "Business dates"),
        ("on_time_file_rate", "On-time files"),
        ("stp_rate", "STP"),
        ("reject_rate", "Reject rate"),
        ("settlement_on_time_rate", "Settled on time"),
        ("alerts_raised", "Alerts raised"),
        ("alerts_resolved", "Alerts resolved"),
    ]
    charts = "".join(svg_bars(title, [(r["client_id"], r[key]) for r in rows]) for key, title in RATE_CHARTS)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>daybook SLA {month}</title>{_STYLE}</head>"
        f"<body><h1>Monthly SLA report {month}</h1><div>{charts}</div>{_table(rows, columns)}</body></html>"
    )


def write_daily_report(business_date: str) -> str:
    """Keep the day's KPI report with the day's outputs: ``<outputs>/<date>/kpi/kpi.html``."""
    from daybook.config import settings
    from daybook.storage import open_store

    key = f"{business_date}/kpi/kpi.html"
    open_store(settings().outputs).put(key, render_daily_html(business_date).encode("utf-8"))
    return key


def write_monthly_report(month: str) -> str:
    from daybook.config import settings
    from daybook.storage import open_store

    key = f"monthly/{month}/sla.html"
    open_store(settings().outputs).put(key, render_monthly_html(month).encode("utf-8"))
    return key
