"""Benchmark: the settlement stage's tasks other than posting, on one client's settled day.

    .venv/bin/python bench/settlement_reports.py [--rows 1000000] [--url postgresql://postgres@127.0.0.1:5432/postgres]
                                                 [--keep | --db NAME] [--only lvr,clearing,recon,screen] [--repeat 1]

Set-up (not timed): a scratch database with one client's day shaped like ``bench/cycle.py``'s
(the same 2,000 PAY and LOAN template rows of ``daybook.sample`` repeated, payloads as
validation writes them: compact JSON text of every cell), N PAY rows and N/5 LOAN rows, each type
in files of at most 500,000 rows as bench/cycle.py drops them, 0.1% of the PAY rows rejected,
control totals on the files; ``aml.screen`` and ``settlement.post_ledger``
run on it (not timed). Timed, each on its own: ``aml.large_value_report``, ``clearing.write``,
``reconciliation.reconcile`` (after the clearing file) and, beside them, a plain ``COPY (SELECT
...) TO STDOUT`` of the day's settled rows with their payload (the floor for reading the day).
``--with-screen`` also times ``aml.screen`` (before settlement, on the approved day).

Each phase prints its wall time, CPU time of this process and of the database server processes
serving the scratch database (read from /proc: the server runs on this machine), the load
average before and after, and the sha256 of each file it wrote (to check that a change keeps
the bytes). ``--keep`` leaves the scratch database (its name is printed) and ``--db NAME`` times
an existing one again without the set-up; the output files go to a fresh temporary folder.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "include"))
sys.path.insert(0, str(ROOT / "bench"))

from settlement import _backend_cpu_of, _Clock, _load  # noqa: E402

DAY = date(2026, 11, 27)
CLIENT = "BENCH"
FILE_ROWS = 500_000  # rows per file at most: a file holds at most 999,999 (contract section 5)
PROFILE = f"""client_id: {CLIENT}
accepted_currencies: [CNY]
prefund_limit: "999999999999999.00"
"""


def _templates() -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """(payload JSON, amount cents) of the 2,000 PAY and 2,000 LOAN template rows of bench/cycle.py."""
    from daybook import sample

    rng = random.Random(7)
    pay = sample._pay_rows(rng, CLIENT, DAY, 2000, ["CNY"])
    loan = sample._loan_rows(rng, CLIENT, DAY, 2000)
    out = []
    for header, rows, amount in (
        (sample.PAY_HEADER, pay, "amount"),
        (sample.LOAN_HEADER, loan, "loan_amount"),
    ):
        i = header.index(amount)
        out.append(
            [
                (
                    json.dumps(dict(zip(header, r, strict=True)), ensure_ascii=False, separators=(",", ":")),
                    int(r[i].replace(".", "")),
                )
                for r in rows
            ]
        )
    return out[0], out[1]


def seed(url: str, n: int) -> None:
    import sqlalchemy

    from daybook import aml, db, settlement

    db.migrate()
    pay, loan = _templates()
    t0 = time.perf_counter()
    with db.begin() as conn:
        conn.execute(
            sqlalchemy.text(
                "CREATE TEMP TABLE tpl (k int, file_type text, payload text, cents bigint,"
                " value_date text, payer_id_type text, payer_id_no text)"
            )
        )

        def columns(payload: str) -> dict[str, str | None]:
            """The columns validation writes beside the payload of an accepted PAY row (V013, V016)."""
            p = json.loads(payload)
            return {f: p.get(f) for f in ("value_date", "payer_id_type", "payer_id_no")}

        conn.execute(
            sqlalchemy.text(
                "INSERT INTO tpl VALUES (:k, :t, :p, :c, :value_date, :payer_id_type, :payer_id_no)"
            ),
            [{"k": k, "t": "PAY", "p": p, "c": c, **columns(p)} for k, (p, c) in enumerate(pay)]
            + [
                {
                    "k": k,
                    "t": "LOAN",
                    "p": p,
                    "c": c,
                    "value_date": None,
                    "payer_id_type": None,
                    "payer_id_no": None,
                }
                for k, (p, c) in enumerate(loan)
            ],
        )
        # Each type in files of at most FILE_ROWS rows (SEQ 001, 002, ...): a file holds at most
        # 999,999 rows (contract section 5). Rows g = g0 + 1 .. g0 + k of the day are line 1 .. k of
        # their file; refs and template rows follow g, so the day is the same whatever the split.
        for file_type, rows in (("PAY", n), ("LOAN", n // 5)):
            for part, g0 in enumerate(range(0, rows, FILE_ROWS), start=1):
                seq = f"{part:03d}"
                k = min(FILE_ROWS, rows - g0)
                stem = f"{CLIENT}_{file_type}_{DAY:%Y%m%d}_{seq}"
                file_id = conn.execute(
                    sqlalchemy.text(
                        "INSERT INTO files (folder, name, stem, client_id, file_type, business_date, seq,"
                        " intake_date, sha256, size_bytes, raw_key, status, original) VALUES (:c, :n, :s, :c,"
                        " :t, :d, :q, :d, :s, 1, :n, 'VALIDATED', 1) RETURNING file_id"
                    ),
                    {
                        "c": CLIENT,
                        "n": stem + ".csv",
                        "s": stem,
                        "d": DAY.isoformat(),
                        "t": file_type,
                        "q": seq,
                    },
                ).scalar_one()
                rejected = "PAY" if file_type == "PAY" else "NONE"
                conn.execute(
                    sqlalchemy.text(
                        "INSERT INTO records (business_no, file_id, client_id, file_type, business_date, line_no,"
                        " client_ref, amount_cents, currency, ack_status, reason_codes, state, payload,"
                        " value_date, payer_id_type, payer_id_no)"
                        " SELECT :prefix || lpad(l::text, 6, '0'), :fid, :c, :t, :d, l,"
                        " :c || :t || lpad(g.i::text, 9, '0'),"
                        " CASE WHEN rej THEN NULL ELSE t.cents END, CASE WHEN :t = 'PAY' THEN 'CNY' END,"
                        " CASE WHEN rej THEN 'REJECTED' ELSE 'ACCEPTED' END, CASE WHEN rej THEN 'F_AMOUNT' ELSE '' END,"
                        " CASE WHEN rej THEN 'REJECTED' ELSE 'APPROVED' END, t.payload,"
                        " CASE WHEN NOT rej THEN t.value_date END, CASE WHEN NOT rej THEN t.payer_id_type END,"
                        " CASE WHEN NOT rej THEN t.payer_id_no END"
                        " FROM (SELECT l, :g0 + l AS i, (:t = :rejected AND (:g0 + l) % 1000 = 0) AS rej"
                        " FROM generate_series(1, :k) AS l) AS g"
                        " JOIN tpl AS t ON t.file_type = :t AND t.k = g.i % 2000"
                    ),
                    {
                        "prefix": f"{CLIENT}-{file_type}-{DAY:%Y%m%d}-{seq}-",
                        "fid": file_id,
                        "c": CLIENT,
                        "t": file_type,
                        "d": DAY.isoformat(),
                        "g0": g0,
                        "k": k,
                        "rejected": rejected,
                    },
                )
                conn.execute(
                    sqlalchemy.text(
                        "UPDATE files SET record_count = :k, amount_total_cents = (SELECT SUM(t.cents)"
                        " FROM generate_series(:g0 + 1, :g0 + :k) AS i JOIN tpl AS t"
                        " ON t.file_type = :t AND t.k = i % 2000) WHERE file_id = :fid"
                    ),
                    {"g0": g0, "k": k, "t": file_type, "fid": file_id},
                )
        conn.execute(sqlalchemy.text("ANALYZE records"))
    print(f"set-up: {n:,} PAY + {n // 5:,} LOAN records in {time.perf_counter() - t0:.1f} s (not timed)")
    t0 = time.perf_counter()
    held = aml.screen(DAY.isoformat())
    counts = settlement.post_ledger(DAY.isoformat())
    with db.begin() as conn:
        conn.execute(sqlalchemy.text("ANALYZE records"))
        conn.execute(sqlalchemy.text("ANALYZE ledger_transfers"))
    print(f"screened {held} and settled {counts} in {time.perf_counter() - t0:.1f} s (not timed)")


def _sha(out: Path, keys: list[str]) -> str:
    return " ".join(
        f"{k.rsplit('/', 1)[-1]}={hashlib.sha256((out / k).read_bytes()).hexdigest()[:16]}" for k in keys
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--keep", action="store_true", help="leave the scratch database")
    ap.add_argument("--db", help="time an existing scratch database (left in place)")
    ap.add_argument("--only", default="copy,lvr,clearing,recon", help="phases, comma-separated")
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()

    import sqlalchemy

    admin = sqlalchemy.create_engine(args.url, isolation_level="AUTOCOMMIT")
    name = args.db or f"daybook_bench_reports_{uuid.uuid4().hex[:8]}"
    if not args.db:
        with admin.connect() as c:
            c.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    url = sqlalchemy.make_url(args.url).set(database=name).render_as_string(hide_password=False)
    home = Path(tempfile.mkdtemp(prefix="daybook-bench-reports-"))
    (home / "profiles").mkdir()
    (home / "profiles" / f"{CLIENT}.yaml").write_text(PROFILE, encoding="utf-8")
    out = home / "outputs"
    os.environ.update(
        {
            "DAYBOOK_DB_URL": url,
            "DAYBOOK_HOME": str(home),
            "DAYBOOK_PROFILES": str(home / "profiles"),
            "DAYBOOK_OUTPUTS": str(out),
        }
    )
    import airflow.sdk  # noqa: F401  (imported inside a real task; not timed)

    from daybook import aml, clearing, db, reconciliation

    day = DAY.isoformat()
    keep = args.keep or bool(args.db)
    try:
        if not args.db:
            seed(url, args.rows)
        probe = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
        _backend_cpu_of(probe)
        with db.begin() as conn:
            settled = conn.execute(
                sqlalchemy.text("SELECT COUNT(*) FROM records WHERE file_type = 'PAY' AND state = 'SETTLED'")
            ).scalar_one()
        print(f"database {name}: {settled:,} settled payments; load average {_load()}")
        only = args.only.split(",")
        for _ in range(args.repeat):
            if "copy" in only:
                raw = db.engine().raw_connection()
                try:
                    cur = raw.cursor()
                    sql = (
                        "COPY (SELECT business_no, client_ref, amount_cents, currency, payload FROM records"
                        f" WHERE client_id = '{CLIENT}' AND business_date = '{day}' AND file_type = 'PAY'"
                        " AND state = 'SETTLED' ORDER BY business_no) TO STDOUT"
                    )
                    sink = open(os.devnull, "wb")  # noqa: SIM115
                    load0 = _load()
                    with _Clock(probe) as clock:
                        if hasattr(cur, "copy_expert"):  # psycopg2
                            cur.copy_expert(sql, sink)
                        else:  # psycopg 3
                            with cur.copy(sql) as copy:
                                for block in copy:
                                    sink.write(block)
                        raw.commit()
                    sink.close()
                finally:
                    raw.close()
                print(f"plain COPY TO of the settled rows with payload: {clock}; load {load0} -> {_load()}")
            for phase, run in (
                ("lvr", lambda: aml.large_value_report(day)),
                ("clearing", lambda: clearing.write(day)),
                ("recon", lambda: reconciliation.reconcile(day)),
                ("screen", lambda: aml.screen(day)),
            ):
                if phase not in only:
                    continue
                load0 = _load()
                with _Clock(probe) as clock:
                    result = run()
                files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
                mine = [
                    f
                    for f in files
                    if {"lvr": "_LVR_", "clearing": "_CLR_", "recon": "_BRK_", "screen": "\0"}[phase] in f
                ]
                print(f"{phase}: {clock}; load {load0} -> {_load()}; {_sha(out, mine)}")
                if phase == "recon":
                    print(f"  breaks: {result}")
        probe.dispose()
    finally:
        db.engine().dispose()
        if keep:
            print(f"scratch database kept: {name}")
        else:
            with admin.connect() as c:
                c.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
