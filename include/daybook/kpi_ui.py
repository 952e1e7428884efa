"""The KPI page of the Airflow UI plugin: the last 30 days of service KPIs per client.

It needs a logged-in Airflow user with a daybook role (:func:`approval_api.reader`).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from fastapi import Depends, FastAPI, Query
from fastapi.responses import HTMLResponse


def create_app() -> FastAPI:
    from daybook.approval_api import reader

    app = FastAPI(title="daybook KPIs", dependencies=[Depends(reader)])

    @app.get("/", response_class=HTMLResponse)
    def last_30_days(
        end: str | None = Query(None, description="last business date shown (YYYY-MM-DD)"),
    ) -> str:
        from daybook import kpi
        from daybook.config import BUSINESS_TZ

        last = date.fromisoformat(end) if end else datetime.now(BUSINESS_TZ).date()
        first = last - timedelta(days=29)
        rows = kpi.daily(first.isoformat(), last.isoformat())
        clients = sorted({r["client_id"] for r in rows})
        charts = []
        for key, title in kpi.RATE_CHARTS:
            for client in clients:
                bars = [(r["business_date"], r[key]) for r in rows if r["client_id"] == client]
                charts.append(kpi.svg_bars(f"{title}: {client}", bars))
        return (
            f"<!doctype html><html><head><meta charset='utf-8'><title>daybook KPIs</title>{kpi._STYLE}</head>"
            f"<body><h1>Service KPIs {first} to {last}</h1><div>{''.join(charts)}</div>"
            f"{kpi._table(rows, kpi.DAILY_COLUMNS) if rows else '<p>No files or records in these 30 days.</p>'}"
            "</body></html>"
        )

    return app
