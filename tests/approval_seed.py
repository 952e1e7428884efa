"""Test data for the approval tests: client profiles written by the test and records inserted
straight into the business database (plain SQL here, not the code under test)."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy

DAY = "2026-11-27"

PROFILE = """\
client_id: {client}
cutoffs: {{intake: "16:00", approval: "18:00", settlement: "19:00"}}
approval:
  auto_max_amount: "50000.00"
  two_reviewers_from: "1000000.00"
  loan_auto_max_amount: "200000.00"
  review_currencies: [USD]
  backlog_alert_minutes: 30
  loan_policy:
    annual_rate: "0"
    max_dti: "0.50"
    max_ltv: "0.70"
    min_credit_score: 600
    auto_max_dti: "0.35"
    auto_min_credit_score: 700
    two_reviewers_from: "1000000.00"
accepted_currencies: [CNY, USD]
"""


def write_profiles(folder: Path, monkeypatch, *clients: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for client in clients:
        (folder / f"{client}.yaml").write_text(PROFILE.format(client=client), encoding="utf-8")
    monkeypatch.setenv("DAYBOOK_PROFILES", str(folder))
    return folder


def loan(
    amount: str, term: int, income: str, score: int, product: str = "PERSONAL", collateral: str = ""
) -> dict:
    return {
        "amount_cents": int(amount.replace(".", "")) if "." in amount else int(amount) * 100,
        "currency": None,
        "payload": {
            "product_code": product,
            "loan_amount": amount,
            "term_months": str(term),
            "annual_income": income,
            "collateral_value": collateral,
            "credit_score": str(score),
        },
    }


def pay(amount_cents: int, currency: str = "CNY") -> dict:
    return {"amount_cents": amount_cents, "currency": currency, "payload": {"amount": str(amount_cents)}}


def seed_file(
    url: str, client: str, file_type: str, rows: list[dict], seq: str = "001", state: str = "VALIDATED"
):
    """One validated file with its accepted records; returns (file_id, [business_no, ...])."""
    eng = sqlalchemy.create_engine(url)
    stem = f"{client}_{file_type}_{DAY.replace('-', '')}_{seq}"
    with eng.begin() as conn:
        file_id = conn.execute(
            sqlalchemy.text(
                "INSERT INTO files (folder, name, stem, client_id, file_type, business_date, seq, intake_date,"
                " sha256, size_bytes, raw_key, status, original) VALUES (:c, :n, :s, :c, :t, :d, :q, :d,"
                " :h, 1, :n, 'VALIDATED', 1) RETURNING file_id"
            ),
            {"c": client, "n": stem + ".csv", "s": stem, "t": file_type, "d": DAY, "q": seq, "h": stem},
        ).scalar_one()
        numbers = []
        for i, row in enumerate(rows, start=1):
            no = f"{client}-{file_type}-{DAY.replace('-', '')}-{seq}-{i:06d}"
            conn.execute(
                sqlalchemy.text(
                    "INSERT INTO records (business_no, file_id, client_id, file_type, business_date, line_no,"
                    " client_ref, amount_cents, currency, ack_status, state, payload) VALUES"
                    " (:no, :f, :c, :t, :d, :i, :ref, :a, :cur, 'ACCEPTED', :state, :p)"
                ),
                {
                    "no": no,
                    "f": file_id,
                    "c": client,
                    "t": file_type,
                    "d": DAY,
                    "i": i,
                    "ref": f"{file_type}{seq}-{i}",
                    "a": row["amount_cents"],
                    "cur": row["currency"],
                    "state": state,
                    "p": json.dumps(row["payload"]),
                },
            )
            numbers.append(no)
    eng.dispose()
    return file_id, numbers


def query(url: str, sql: str, **params) -> list[tuple]:
    eng = sqlalchemy.create_engine(url)
    with eng.connect() as conn:
        rows = [tuple(r) for r in conn.execute(sqlalchemy.text(sql), params)]
    eng.dispose()
    return rows
