"""Benchmark: one client-day's archive package (archive.build_package) at several sizes.

    .venv/bin/python bench/archive.py [--rows 1000000 2000000] [--pg postgresql://postgres@127.0.0.1:5432/postgres]

For each size N: a fresh, uniquely named scratch PostgreSQL business database (dropped after)
holding N finished PAY records for one client and day in files of at most 500,000 records (SEQ
001, 002, ...: a file holds at most 999,999 rows, contract section 5, so business numbers end in
a 6-digit line number; payloads like the sample day's, one ledger posting, i.e. two entries, per
settled row, a few approvals) and each file's original bytes (a CSV of its lines) in a local raw
zone; an archive key is configured, so every
member is sealed. Then, each in its own child process so the peak RSS (os.wait4 rusage) is that
work's own:

- baseline: ``COPY (SELECT r.* ... the package's records query) TO STDOUT`` into /dev/null, and
  (up to ``--memory-baseline-max`` rows, default 1M: it needs ~4 GiB per million rows) pyarrow
  writing the same rows to Parquet from one in-memory table, as the package used to be built;
- ``archive.build_package``: write (records.parquet, ledger.csv, ... from streamed cursors, the
  original copied in chunks, everything sealed and uploaded from temporary files), read back
  and verify, purge check.

Prints seconds, rows/s, peak RSS and the process's CPU time per step and size, and the load
average at the start.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "include"))
CLIENT, DAY = "BENCH", "2026-11-27"
FILE_ROWS = 500_000  # records per file at most: a file holds at most 999,999 rows (contract section 5)

# Per file (:seq, :name, :stem, :raw; its :k records are the day's rows :g0 + 1 .. :g0 + :k).
LOAD_FILE_SQL = [
    """INSERT INTO files (folder, name, stem, client_id, file_type, business_date, seq, intake_date,
       sha256, size_bytes, raw_key, original, status, inbox_done, record_count, profile_version)
       VALUES (:client, :name, :stem, :client, 'PAY', :day, :seq, :day, :stem, 0, :raw, 1,
       'COMPLETED', 1, :k, 'v1')""",
    """INSERT INTO records (business_no, file_id, client_id, file_type, business_date, line_no,
       client_ref, amount_cents, currency, ack_status, reason_codes, state, tier, rule_version,
       final_code, final_date, payload)
       SELECT :client || '-PAY-20261127-' || :seq || '-' || lpad(l::text, 6, '0'), f.file_id, :client, 'PAY',
              :day, l, 'BENCHP' || lpad(g::text, 9, '0'), 10000 + (g * 7919) % 5000000, 'CNY', 'ACCEPTED', '',
              CASE WHEN g % 50 = 0 THEN 'RETURNED' ELSE 'SETTLED' END, 'AUTO', 'r1',
              CASE WHEN g % 50 = 0 THEN 'M_PREFUND' END, :day,
              json_build_object(
                'client_ref', 'BENCHP' || lpad(g::text, 9, '0'),
                'payer_name', '张伟' || (g % 997), 'payer_id_type', 'RIC',
                'payer_id_no', '11010519491231' || lpad((g % 10000)::text, 4, '0'),
                'payer_account', '6222' || lpad((g * 31)::text, 15, '0'),
                'payee_name', 'Payee ' || md5(g::text), 'payee_account', '6217' || lpad((g * 17)::text, 15, '0'),
                'payee_bank_code', '102100099996', 'amount', ((10000 + (g * 7919) % 5000000) / 100.0)::text,
                'currency', 'CNY', 'value_date', CAST(:day AS text), 'purpose', 'invoice ' || g)::text
       FROM generate_series(CAST(1 AS bigint), CAST(:k AS bigint)) AS l
       CROSS JOIN LATERAL (SELECT :g0 + l AS g) AS x CROSS JOIN files AS f WHERE f.name = :name""",
]
# Once for the day, after its files.
LOAD_DAY_SQL = [
    """INSERT INTO ledger_transfers (business_no, client_id, business_date, debit_account, credit_account,
       amount_cents, posted_at)
       SELECT r.business_no, r.client_id, r.business_date, r.client_id || chr(58) || 'PREFUND',
              r.client_id || chr(58) || 'PAYEE', r.amount_cents, '2026-11-27 18:00:00'
       FROM records AS r WHERE r.state = 'SETTLED' ORDER BY r.file_id, r.line_no""",
    """INSERT INTO approvals (business_no, level, decision, decided_by, opinion, rule_version, decided_at)
       SELECT business_no, 1, 'APPROVE', 'bench.reviewer.a', 'ok', 'r1', '2026-11-27 12:00:00'
       FROM records WHERE line_no % 500 = 0""",
    "INSERT INTO profile_versions (client_id, version, content) VALUES (:client, 'v1', 'client_id: BENCH\n')",
]

BUILD = """
import sys
from daybook import archive
if len(sys.argv) > 3:  # --profile: cProfile statistics of the whole step to that file
    import cProfile
    profiler = cProfile.Profile()
    out = profiler.runcall(archive.build_package, sys.argv[1], sys.argv[2])
    profiler.dump_stats(sys.argv[3])
else:
    out = archive.build_package(sys.argv[1], sys.argv[2])
assert out.get("verified") and out.get("encrypted"), out
"""

COPY_BASELINE = """
import sys, psycopg2
from daybook import db
conn = psycopg2.connect(sys.argv[1])
query = db.sql("select_records_of_package").replace(":client_id", "%(c)s").replace(":business_date", "%(d)s")
sql = conn.cursor().mogrify(query, {"c": sys.argv[2], "d": sys.argv[3]}).decode()
with open("/dev/null", "w") as sink:
    conn.cursor().copy_expert(f"COPY ({sql}) TO STDOUT", sink)
"""

PYARROW_BASELINE = """
import sys
import sqlalchemy, pyarrow as pa, pyarrow.parquet as pq
from daybook import archive, db
eng = sqlalchemy.create_engine(sys.argv[1])
with eng.connect() as conn:
    result = conn.execute(sqlalchemy.text(db.sql("select_records_of_package")),
                          {"client_id": sys.argv[2], "business_date": sys.argv[3]})
    columns = list(result.keys())
    rows = result.fetchall()
schema = archive.parquet_schema(columns)
cols = list(zip(*rows))
del rows
table = pa.Table.from_arrays(
    [pa.array(list(c), type=f.type) if f.type == pa.int64() else pa.array(archive._str_column(c), type=pa.string())
     for c, f in zip(cols, schema)], schema=schema)
pq.write_table(table, sys.argv[4], compression="zstd")
"""


def child(code: str, args: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """(seconds, peak RSS MiB, CPU seconds) of a Python snippet run in its own process (the CPU
    time is the process's own, all its threads; the database server's is not in it)."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code, *args], env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"child failed: {code.strip().splitlines()[1]}")
    return elapsed, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def write_original(path: Path, g0: int, k: int) -> int:
    """A CSV of the day's payment lines g0 + 1 .. g0 + k (a file's original bytes, copied into the package)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("client_ref,payer_name,payer_id_no,payee_name,payee_account,amount,currency,value_date\n")
        for start in range(g0 + 1, g0 + k + 1, 100_000):
            fh.write(
                "".join(
                    f"BENCHP{g:09d},张伟{g % 997},11010519491231{g % 10000:04d},Payee {g},"
                    f"6217{g * 17:015d},{(10000 + (g * 7919) % 5000000) / 100:.2f},CNY,{DAY}\n"
                    for g in range(start, min(g0 + k, start + 99_999) + 1)
                )
            )
    return path.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 2_000_000])
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--memory-baseline-max", type=int, default=1_000_000)
    parser.add_argument(
        "--profile",
        metavar="DIR",
        help="run build_package under cProfile and write archive-<rows>.prof there (slower)",
    )
    args = parser.parse_args()
    from daybook import crypto

    print(
        f"load average at start: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}"
    )
    print(f"uptime: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    admin = sqlalchemy.create_engine(args.pg, isolation_level="AUTOCOMMIT")
    for n in args.rows:
        db_name = f"daybook_bench_archive_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f'CREATE DATABASE "{db_name}"'))
        url = sqlalchemy.make_url(args.pg).set(database=db_name).render_as_string(hide_password=False)
        try:
            with tempfile.TemporaryDirectory(prefix="daybook-bench-archive-") as tmp_name:
                tmp = Path(tmp_name)
                env = {
                    **os.environ,
                    "PYTHONPATH": str(ROOT / "include"),
                    "DAYBOOK_HOME": str(tmp / "home"),
                    "DAYBOOK_LANDING": str(tmp / "landing"),
                    "DAYBOOK_RAW": str(tmp / "raw"),
                    "DAYBOOK_OUTPUTS": str(tmp / "outputs"),
                    "DAYBOOK_ARCHIVE": str(tmp / "archive"),
                    "DAYBOOK_DB_URL": url,
                    crypto.ENV_VAR: crypto.connection_env_value(crypto.generate_key()),
                    "TMPDIR": str(tmp),
                }
                os.environ.update({k: env[k] for k in ("DAYBOOK_DB_URL", "DAYBOOK_HOME")})
                from daybook import db

                db.migrate()
                start = time.perf_counter()
                size = 0
                with db.begin() as conn:
                    for seq, g0 in enumerate(range(0, n, FILE_ROWS), start=1):
                        name = f"{CLIENT}_PAY_20261127_{seq:03d}.csv"
                        k = min(FILE_ROWS, n - g0)
                        raw_key = f"{CLIENT}/{DAY}/{name}"
                        params = {"client": CLIENT, "day": DAY, "name": name, "stem": name[:-4]}
                        params.update(seq=f"{seq:03d}", raw=raw_key, g0=g0, k=k)
                        for statement in LOAD_FILE_SQL:
                            conn.execute(sqlalchemy.text(statement), params)
                        size += write_original(tmp / "raw" / raw_key, g0, k)
                    for statement in LOAD_DAY_SQL:
                        conn.execute(sqlalchemy.text(statement), {"client": CLIENT})
                with db.engine().connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    conn.execute(sqlalchemy.text("ANALYZE"))
                db.engine().dispose()
                print(
                    f"\n== {n:,} records in {-(-n // FILE_ROWS)} files ({size / 1e6:.0f} MB original files), loaded in "
                    f"{time.perf_counter() - start:.1f} s"
                )
                steps = [
                    ("baseline: COPY (records query) TO STDOUT", COPY_BASELINE, [url, CLIENT, DAY]),
                    (
                        "baseline: pyarrow, whole table in memory",
                        PYARROW_BASELINE,
                        [url, CLIENT, DAY, str(tmp / "baseline.parquet")],
                    ),
                    (
                        "archive.build_package (sealed, verified)",
                        BUILD,
                        [CLIENT, DAY]
                        + ([str(Path(args.profile).resolve() / f"archive-{n}.prof")] if args.profile else []),
                    ),
                ]
                if n > args.memory_baseline_max:
                    del steps[1]
                for label, code, argv in steps:
                    seconds, peak, cpu = child(code, argv, env)
                    print(
                        f"{label:44s} {seconds:7.1f} s {n / seconds:11,.0f} rows/s  peak RSS {peak:6.0f} MiB"
                        f"  CPU {cpu:5.1f} s"
                    )
                package = tmp / "archive" / CLIENT / DAY
                stored = sum(p.stat().st_size for p in package.rglob("*") if p.is_file())
                print(f"{'package size (sealed members)':44s} {stored / 1e6:7.0f} MB")
        finally:
            with admin.connect() as conn:
                conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
    admin.dispose()


if __name__ == "__main__":
    main()
