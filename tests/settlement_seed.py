"""Test data for the settlement and AML tests: profiles and approved records written with plain
SQL (not the code under test), and an independent reading of the ledger."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import sqlalchemy

DAY = "2026-11-27"
RIC = "11010519491231002X"  # a valid RIC check character (GB 11643), as in the contract tests
USCC = "91350100M000100Y43"


def write_profile(folder: Path, monkeypatch, client: str, prefund_limit: str, extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{client}.yaml").write_text(
        f'client_id: {client}\nprefund_limit: "{prefund_limit}"\n'
        f'cutoffs: {{intake: "16:00", approval: "18:00", settlement: "19:00"}}\n{extra}',
        encoding="utf-8",
    )
    monkeypatch.setenv("DAYBOOK_PROFILES", str(folder))
    return folder


def pay(
    cents: int,
    value_date: str = DAY,
    payer: str = "张伟",
    payer_type: str = "RIC",
    payer_id: str = RIC,
    payee: str = "李娜",
) -> dict:
    return {
        "amount_cents": cents,
        "payload": {
            "value_date": value_date,
            "payer_account": "6222020000000001",
            "payer_name": payer,
            "payer_id_type": payer_type,
            "payer_id_no": payer_id,
            "payee_account_type": "ACCOUNT",
            "payee_account": "12345678901234567",
            "payee_name": payee,
            "payee_bank_code": "102100099996",
            "amount": f"{cents // 100}.{cents % 100:02d}",
            "currency": "CNY",
        },
    }


def seed_file(
    url: str,
    client: str,
    rows: list[dict],
    seq: str = "001",
    state: str = "APPROVED",
    day: str = DAY,
    file_type: str = "PAY",
) -> list[str]:
    """One validated file whose rows are all accepted and in ``state``; returns business numbers."""
    eng = sqlalchemy.create_engine(url)
    stem = f"{client}_{file_type}_{day.replace('-', '')}_{seq}"
    total = sum(r["amount_cents"] for r in rows)
    with eng.begin() as conn:
        file_id = conn.execute(
            sqlalchemy.text(
                "INSERT INTO files (folder, name, stem, client_id, file_type, business_date, seq, intake_date,"
                " sha256, size_bytes, raw_key, status, original, record_count, amount_total_cents)"
                " VALUES (:c, :n, :s, :c, :t, :d, :q, :d, :h, 1, :n, 'VALIDATED', 1, :rc, :tot)"
                " RETURNING file_id"
            ),
            {
                "c": client,
                "n": stem + ".csv",
                "s": stem,
                "t": file_type,
                "d": day,
                "q": seq,
                "h": stem,
                "rc": len(rows),
                "tot": total,
            },
        ).scalar_one()
        # the value_date column validation writes for a payment (V013), unless the database is
        # older than that (schema upgrade tests)
        with_value_date = "value_date" in {c["name"] for c in sqlalchemy.inspect(conn).get_columns("records")}
        numbers = []
        for i, row in enumerate(rows, start=1):
            no = f"{client}-{file_type}-{day.replace('-', '')}-{seq}-{i:06d}"
            conn.execute(
                sqlalchemy.text(
                    "INSERT INTO records (business_no, file_id, client_id, file_type, business_date, line_no,"
                    " client_ref, amount_cents, currency, ack_status, state, payload"
                    + (", value_date" if with_value_date else "")
                    + ") VALUES (:no, :f, :c, :t, :d, :i, :ref, :a, 'CNY', 'ACCEPTED', :state, :p"
                    + (", :vd)" if with_value_date else ")")
                ),
                {
                    "no": no,
                    "f": file_id,
                    "c": client,
                    "t": file_type,
                    "d": day,
                    "i": i,
                    "ref": f"R{day.replace('-', '')}{seq}{i:06d}",
                    "a": row["amount_cents"],
                    "state": state,
                    "p": json.dumps(row["payload"], ensure_ascii=False),
                    "vd": row["payload"].get("value_date") if file_type == "PAY" else None,
                },
            )
            numbers.append(no)
    eng.dispose()
    return numbers


def query(url: str, sql: str, **params) -> list[tuple]:
    eng = sqlalchemy.create_engine(url)
    with eng.connect() as conn:
        rows = [tuple(r) for r in conn.execute(sqlalchemy.text(sql), params)]
    eng.dispose()
    return rows


def execute(url: str, sql: str, **params) -> None:
    eng = sqlalchemy.create_engine(url)
    with eng.begin() as conn:
        conn.execute(sqlalchemy.text(sql), params)
    eng.dispose()


def ledger_digest(url: str) -> str:
    """sha256 of the postings ordered by business number and leg (read here, not by the code)."""
    rows = query(
        url,
        "SELECT business_no, leg, account, amount_cents FROM ledger_entries ORDER BY business_no, leg",
    )
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def assert_balanced(url: str) -> None:
    """Every business number posts exactly one debit and one credit of the same amount, and the
    ledger's postings equal the amounts of the SETTLED and DISBURSED records (conservation)."""
    bad = query(
        url,
        "SELECT business_no FROM ledger_entries GROUP BY business_no HAVING COUNT(*) <> 2"
        " OR SUM(CASE WHEN leg = 'D' THEN amount_cents ELSE -amount_cents END) <> 0",
    )
    assert bad == []
    ((debit, credit),) = query(
        url,
        "SELECT COALESCE(SUM(CASE WHEN leg='D' THEN amount_cents END), 0),"
        " COALESCE(SUM(CASE WHEN leg='C' THEN amount_cents END), 0) FROM ledger_entries",
    )
    ((done,),) = query(
        url, "SELECT COALESCE(SUM(amount_cents), 0) FROM records WHERE state IN ('SETTLED', 'DISBURSED')"
    )
    assert debit == credit == done
    orphans = query(
        url,
        "SELECT l.business_no FROM ledger_entries l JOIN records r ON r.business_no = l.business_no"
        " WHERE r.state NOT IN ('SETTLED', 'DISBURSED')",
    )
    assert orphans == []


def post(
    url: str,
    business_no: str,
    client: str,
    cents: int,
    debit: str = "PREFUND",
    credit: str = "CLEARING",
    day: str = DAY,
    posted_at: str | None = None,
) -> None:
    """Write one posting (debit and credit of ``cents``) straight into ledger_transfers (test set-up
    and tampering, plain SQL); ``debit``/``credit`` are account names under the client."""
    columns = "business_no, client_id, business_date, debit_account, credit_account, amount_cents"
    values = ":n, :c, :d, :da, :ca, :a"
    if posted_at is not None:
        columns, values = columns + ", posted_at", values + ", :t"
    execute(
        url,
        f"INSERT INTO ledger_transfers ({columns}) VALUES ({values})",
        n=business_no,
        c=client,
        d=day,
        da=f"{client}:{debit}",
        ca=f"{client}:{credit}",
        a=cents,
        t=posted_at,
    )
