"""The web pages the Airflow plugin mounts at ``/daybook``: Data Docs and reason codes.

Every page needs a logged-in Airflow user with a daybook role (:func:`approval_api.reader`).
"""

from __future__ import annotations

import html
import mimetypes

from fastapi import Depends, FastAPI, HTTPException
from fastapi.responses import HTMLResponse, Response

from daybook.codes import CATALOGUE
from daybook.config import settings
from daybook.storage import open_store


def _page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:2em}td,th{padding:.2em .8em;text-align:left}</style>"
        f"</head><body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )


def create_app() -> FastAPI:
    from daybook.approval_api import reader

    app = FastAPI(title="daybook", description="daybook operator pages", dependencies=[Depends(reader)])

    @app.get("/reason-codes", response_class=HTMLResponse)
    def reason_codes() -> HTMLResponse:
        rows = "".join(
            f"<tr><td><code>{code}</code></td><td>{level}</td><td>{html.escape(meaning)}</td></tr>"
            for code, (level, meaning) in CATALOGUE.items()
        )
        return _page(
            "Reason codes", f"<table><tr><th>code</th><th>level</th><th>meaning</th></tr>{rows}</table>"
        )

    @app.get("/data-docs/", response_class=HTMLResponse)
    def data_docs_index() -> HTMLResponse:
        store = open_store(settings().outputs)
        reports = sorted(
            {
                tuple(k.split("/")[:3])
                for k in store.list()
                if "/data_docs/" in k and k.endswith("/index.html")
            },
            reverse=True,
        )
        items = "".join(
            f"<li>{day} <a href='/daybook/data-docs/{day}/{stem}/index.html'>{html.escape(stem)}</a></li>"
            for day, _, stem in reports
        )
        return _page("Data quality reports", f"<ul>{items or '<li>none yet</li>'}</ul>")

    @app.get("/data-docs/{business_date}/{stem}/{path:path}")
    def data_docs(business_date: str, stem: str, path: str) -> Response:
        key = f"{business_date}/data_docs/{stem}/{path or 'index.html'}"
        store = open_store(settings().outputs)
        try:
            if ".." in key.split("/") or not store.exists(key):
                raise HTTPException(status_code=404, detail="no such report")
        except ValueError as exc:
            raise HTTPException(status_code=404, detail="no such report") from exc
        media = mimetypes.guess_type(path)[0] or "application/octet-stream"
        return Response(store.get(key), media_type=media)

    return app
