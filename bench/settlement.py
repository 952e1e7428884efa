"""Settlement benchmark: settle N approved payments on PostgreSQL, beside a plain COPY of the same rows.

    .venv/bin/python bench/settlement.py [--rows 1000000] [--url postgresql://postgres@127.0.0.1:5432/postgres]
                                         [--with-aml] [--server {stock,compose,both}]

``--server stock`` measures on the ``--url`` server (the machine's stock PostgreSQL by default);
``--server compose`` on a private server started with docker-compose.yml's production settings
(bench/pgserver.py); ``both`` (the default) runs the whole measurement on each in turn and ends
with a summary of the two.

A scratch database is created and dropped. Set-up (not timed): one client, 10 files of N/10
approved PAY records generated in SQL, their payloads the contract's PAY columns as
``daybook.sample`` writes them (what validation stores for a real file), a prefunded limit that
90% of them fit, ``aml.screen`` of the day (as the DAG runs it right before ``post_ledger``; timed
instead with ``--with-aml``), then a CHECKPOINT so that the set-up's WAL is not flushed inside the
timed phases. Timed:
``settlement.post_ledger`` (plan + postings + state updates, exactly-once) and, for comparison, a
plain ``COPY`` of the same postings (one row per settled payment, its debit and credit) into a
table shaped like ``ledger_transfers`` (same key and indexes). Optionally ``aml.screen`` on the same day. Each phase prints
its wall time and CPU time: this process's and the database server processes' (read from
/proc: the server must run on this machine), and the load average before and after.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "include"))

DAY = "2026-11-27"
CLIENT = "BENCHS"


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _backend_cpu(conn) -> float:
    """CPU seconds (user + system) used so far by the server processes serving this database
    (the server runs on this machine; read from /proc)."""
    import sqlalchemy

    pids = conn.execute(
        sqlalchemy.text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
    ).scalars()
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


class _Clock:
    """Wall time, this process's CPU and the database server's CPU of one timed phase."""

    def __init__(self, probe) -> None:
        self.probe = probe

    def __enter__(self) -> _Clock:
        self.server0 = _backend_cpu_of(self.probe)
        self.cpu0, self.t0 = time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.wall = time.perf_counter() - self.t0
        self.client = time.process_time() - self.cpu0
        self.server = _backend_cpu_of(self.probe) - self.server0

    def __str__(self) -> str:
        return (
            f"{self.wall:.1f} s wall, CPU {self.client + self.server:.1f} s "
            f"(database server {self.server:.1f} s, Python {self.client:.1f} s)"
        )


def _backend_cpu_of(engine) -> float:
    with engine.connect() as conn:
        return _backend_cpu(conn)


def measure(server_url: str, n: int, with_aml: bool) -> dict[str, float]:
    """The whole measurement on the server at ``server_url`` (in a scratch database there):
    payments/s of settlement.post_ledger and of the plain COPY of the same postings."""
    import sqlalchemy

    admin = sqlalchemy.create_engine(server_url, isolation_level="AUTOCOMMIT")
    name = f"daybook_bench_settle_{uuid.uuid4().hex[:8]}"
    with admin.connect() as c:
        c.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    url = sqlalchemy.make_url(server_url).set(database=name).render_as_string(hide_password=False)
    home = Path(tempfile.mkdtemp(prefix="daybook-bench-settle-"))
    (home / "profiles").mkdir()
    per_file = n // 10
    avg_cents = 5_000_050  # amounts 1,000.00 .. 99,001.00 cycle: mean ~ 50,000.50
    limit = n * avg_cents * 9 // 10
    (home / "profiles" / f"{CLIENT}.yaml").write_text(
        f'client_id: {CLIENT}\nprefund_limit: "{limit // 100}.{limit % 100:02d}"\n', encoding="utf-8"
    )
    os.environ.update(
        {
            "DAYBOOK_DB_URL": url,
            "DAYBOOK_HOME": str(home),
            "DAYBOOK_PROFILES": str(home / "profiles"),
            "DAYBOOK_OUTPUTS": str(home / "outputs"),
        }
    )
    # Alerts recorded outside a task look for an Airflow context (daybook.events): import the
    # SDK once before timing, as it is already imported inside a real task.
    import airflow.sdk  # noqa: F401

    from daybook import aml, db, settlement

    try:
        db.migrate()
        t0 = time.perf_counter()
        with db.begin() as conn:
            # Payloads shaped like a real day's: the contract's PAY columns from daybook.sample's
            # generator (the rows bench/cycle.py drops), 2,000 of them repeated; the client
            # reference, value date and amount of each record are its own.
            from datetime import date

            from daybook import sample

            rows = sample._pay_rows(random.Random(7), CLIENT, date(2026, 11, 27), 2000, ["CNY"])
            varying = {"client_ref", "value_date", "amount"}
            conn.execute(
                sqlalchemy.text(
                    "CREATE TEMPORARY TABLE bench_payload (k INTEGER, body TEXT, payer_id_type TEXT,"
                    " payer_id_no TEXT)"
                )
            )
            id_type, id_no = sample.PAY_HEADER.index("payer_id_type"), sample.PAY_HEADER.index("payer_id_no")
            conn.execute(
                sqlalchemy.text(
                    "INSERT INTO bench_payload (k, body, payer_id_type, payer_id_no)"
                    " VALUES (:k, :body, :payer_id_type, :payer_id_no)"
                ),
                [
                    {
                        "k": k,
                        "payer_id_type": row[id_type],
                        "payer_id_no": row[id_no],
                        "body": json.dumps(
                            {c: v for c, v in zip(sample.PAY_HEADER, row, strict=True) if c not in varying},
                            ensure_ascii=False,
                            separators=(",", ":"),
                        )[1:-1],
                    }
                    for k, row in enumerate(rows)
                ],
            )
            for f in range(1, 11):
                seq = f"{f:03d}"
                stem = f"{CLIENT}_PAY_20261127_{seq}"
                file_id = conn.execute(
                    sqlalchemy.text(
                        "INSERT INTO files (folder, name, stem, client_id, file_type, business_date, seq,"
                        " intake_date, sha256, size_bytes, raw_key, status, original) VALUES (:c, :n, :s, :c,"
                        " 'PAY', :d, :q, :d, :s, 1, :n, 'VALIDATED', 1) RETURNING file_id"
                    ),
                    {"c": CLIENT, "n": stem + ".csv", "s": stem, "d": DAY, "q": seq},
                ).scalar_one()
                conn.execute(
                    sqlalchemy.text(
                        "INSERT INTO records (business_no, file_id, client_id, file_type, business_date, line_no,"
                        " client_ref, amount_cents, currency, ack_status, state, payload, value_date,"
                        " payer_id_type, payer_id_no)"
                        " SELECT :prefix || lpad(x.i::text, 6, '0'), :fid, :c, 'PAY', :d, x.i,"
                        " x.ref, x.cents, 'CNY', 'ACCEPTED', 'APPROVED',"
                        ' \'{"client_ref":"\' || x.ref || \'","value_date":"\' || x.vd || \'",\' || t.body'
                        " || ',\"amount\":\"' || (x.cents / 100)::text || '.' || lpad((x.cents % 100)::text, 2, '0')"
                        " || '\"}',"
                        " x.vd, t.payer_id_type, t.payer_id_no"  # the columns validation writes (V013, V016)
                        " FROM (SELECT i, 'B' || :seq || i AS ref, 100000 + (i * 7919 % 99) * 100000 AS cents,"
                        " CAST(CAST(:dd AS date) + (i % 3) AS text) AS vd FROM generate_series(1, :k) AS i) AS x"
                        " INNER JOIN bench_payload AS t ON t.k = x.i % 2000"
                    ),
                    {
                        "prefix": f"{CLIENT}-PAY-20261127-{seq}-",
                        "fid": file_id,
                        "c": CLIENT,
                        "d": DAY,
                        "dd": DAY,
                        "seq": seq,
                        "k": per_file,
                    },
                )
            conn.execute(sqlalchemy.text("ANALYZE records"))
        print(f"set-up: {per_file * 10:,} approved payments in {time.perf_counter() - t0:.1f} s (not timed)")
        if not with_aml:
            # In the settlement DAG, screen_aml runs just before post_ledger, and post_ledger plans
            # only payments a screening covered (it screens the day itself otherwise): screen here,
            # untimed, as the DAG does (--with-aml times it instead).
            t0 = time.perf_counter()
            held = aml.screen(DAY)
            print(f"aml.screen: {time.perf_counter() - t0:.1f} s (not timed); held {held}")
        # The set-up wrote a lot of WAL (~1 GB at 1M payments): flush it now with a checkpoint, so
        # that the checkpoint it would trigger does not land inside the timed phases.
        t0 = time.perf_counter()
        with admin.connect() as c:
            c.execute(sqlalchemy.text("CHECKPOINT"))
        print(
            f"CHECKPOINT after set-up: {time.perf_counter() - t0:.1f} s "
            "(not timed: the set-up's WAL is flushed before the timed phases)"
        )

        probe = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
        print(f"load average before: {_load()}")
        if with_aml:
            with _Clock(probe) as clock:
                held = aml.screen(DAY)
            print(f"aml.screen: {per_file * 10 / clock.wall:,.0f} payments/s; {clock}; held {held}")

        with _Clock(probe) as settle_clock:
            counts = settlement.post_ledger(DAY)
        dt_settle = settle_clock.wall
        rows = per_file * 10
        print(f"settlement.post_ledger: {rows / dt_settle:,.0f} payments/s; {settle_clock}; {counts}")
        time.sleep(1)  # let the statistics collector catch up
        with db.begin() as conn:
            hot = conn.execute(
                sqlalchemy.text(
                    "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'records'"
                )
            ).one()
        print(
            f"record updates that stayed on their page (heap-only): {hot.n_tup_hot_upd:,} of {hot.n_tup_upd:,}"
        )

        # The same postings, COPY'd into a table shaped like ledger_transfers (same key, indexes and
        # defaults): what the ledger stores, one row per posting.
        with db.begin() as conn:
            postings = conn.execute(
                sqlalchemy.text(
                    "SELECT business_no, client_id, business_date, debit_account, credit_account, amount_cents"
                    " FROM ledger_transfers ORDER BY transfer_id"
                )
            ).all()
            conn.execute(
                sqlalchemy.text(
                    "CREATE TABLE ledger_copy (LIKE ledger_transfers INCLUDING DEFAULTS INCLUDING IDENTITY"
                    " INCLUDING CONSTRAINTS INCLUDING INDEXES)"
                )
            )
        buf = io.StringIO()
        for p in postings:
            buf.write("\t".join(str(v) for v in p) + "\n")
        raw = db.engine().raw_connection()
        try:
            cur = raw.cursor()
            buf.seek(0)
            sql = (
                "COPY ledger_copy (business_no, client_id, business_date, debit_account, credit_account,"
                " amount_cents) FROM STDIN"
            )
            with _Clock(probe) as copy_clock:
                if hasattr(cur, "copy_expert"):  # psycopg2
                    cur.copy_expert(sql, buf)
                else:  # psycopg 3
                    with cur.copy(sql) as copy:
                        copy.write(buf.getvalue())
                raw.commit()
            dt_copy = copy_clock.wall
        finally:
            raw.close()
        settled = counts["SETTLED"]
        print(
            f"plain COPY of the same {len(postings):,} postings (one per settled payment, each a debit and "
            f"a credit): {settled / dt_copy:,.0f} payments/s; {copy_clock}"
        )
        print(
            f"settlement time / COPY time: {dt_settle / dt_copy:.2f}x "
            f"(settlement also plans {rows:,} rows and updates {rows:,} record states)"
        )
        print(f"load average after: {_load()}")
        probe.dispose()
        totals = settlement.ledger_totals(DAY)
        assert totals["debit_cents"] == totals["credit_cents"], totals
        return {"settlement": rows / dt_settle, "copy": settled / dt_copy}
    finally:
        db.engine().dispose()
        with admin.connect() as c:
            c.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--with-aml", action="store_true")
    from pgserver import add_server_argument, each_server

    add_server_argument(ap, "--url")
    args = ap.parse_args()
    results = each_server(args.server, args.url, lambda url: measure(url, args.rows, args.with_aml))
    if len(results) > 1:
        print()
        for key, label in (("settlement", "settlement.post_ledger"), ("copy", "plain COPY")):
            print(
                f"{label + ' payments/s:':35s}" + "; ".join(f"{s} {r[key]:,.0f}" for s, r in results.items())
            )


if __name__ == "__main__":
    main()
