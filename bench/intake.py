"""Benchmark (not a test): intake of a large day of PAY rows end to end, beside a plain PostgreSQL COPY.

    .venv/bin/python bench/intake.py [rows]        # default 1,000,000 rows (~155 MB)

Generates valid-looking PAY rows in a temp dir, in files of at most 500,000 rows (SEQ 001, 002, ...:
a file holds at most 999,999 rows, contract section 5), runs ``intake.process_drop`` on each (raw
copy with sha256, registration, streaming judge: gunzip/decode/CSV/count/exact total, inbox move)
on SQLite, and then ``COPY`` of the same files into a scratch table on PostgreSQL
(postgresql://postgres@127.0.0.1:5432/postgres). Prints rows/s and the peak RSS of the process.
"""

from __future__ import annotations

import hashlib
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROWS = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
FILE_ROWS = 500_000  # rows per file at most: a file holds at most 999,999 (contract section 5)
PG = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_file(path: Path, first: int, rows: int) -> tuple[int, str]:
    """Rows ``first``..``first + rows - 1`` of the day (refs unique across the day's files)."""
    from daybook.business_types import PAY

    cents_total = 0
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(",".join(PAY.required) + "\n")
        block = []
        for i in range(first, first + rows):
            cents = 100 + (i * 7919) % 9_999_900
            cents_total += cents
            block.append(
                f"REF{i:012d},2026-11-27,6222020200{i % 1000000:06d},张伟{i % 97},RIC,11010519491231002X,"
                f"ACCOUNT,00123456{i % 100000:05d},李芳,102100099996,{cents // 100}.{cents % 100:02d},CNY\n"
            )
            if len(block) == 50_000:
                fh.write("".join(block))
                block = []
        fh.write("".join(block))
    return cents_total, f"{cents_total // 100}.{cents_total % 100:02d}"


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="daybook-bench-"))
    os.environ.update(
        {
            "DAYBOOK_HOME": str(tmp),
            "DAYBOOK_LANDING": str(tmp / "landing"),
            "DAYBOOK_RAW": str(tmp / "raw"),
            "DAYBOOK_DB_URL": f"sqlite:///{tmp / 'bench.db'}",
        }
    )
    from daybook import db, intake

    inbox = tmp / "landing" / "BANKA" / "inbox"
    inbox.mkdir(parents=True)
    t0 = time.perf_counter()
    names = []
    for seq, first in enumerate(range(1, ROWS + 1, FILE_ROWS), start=1):
        name = f"BANKA_PAY_20261127_{seq:03d}.csv"
        rows = min(FILE_ROWS, ROWS + 1 - first)
        data = inbox / name
        _, total = write_file(data, first, rows)
        digest = hashlib.sha256()
        with open(data, "rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
        (inbox / f"{name[:-4]}.ctl").write_text(f"{name}|{rows}|{total}|{digest.hexdigest()}\n")
        names.append(name)
    size = sum((inbox / name).stat().st_size for name in names)
    print(
        f"generated {ROWS:,} rows in {len(names)} files, {size / 1e6:.0f} MB in {time.perf_counter() - t0:.1f}s"
    )
    db.migrate()
    rss_before = peak_rss_mib()

    t0 = time.perf_counter()
    for name in names:
        result = intake.process_drop(
            {"folder": "BANKA", "name": name, "control": f"{name[:-4]}.ctl"}, "2026-11-27"
        )
        assert result["status"] == "INTAKE_OK", result
    intake_s = time.perf_counter() - t0
    print(
        f"intake:  {intake_s:6.2f}s  {ROWS / intake_s:>12,.0f} rows/s  peak RSS {peak_rss_mib():.0f} MiB "
        f"(before intake {rss_before:.0f} MiB)"
    )

    import psycopg2

    processed = tmp / "landing" / "BANKA" / "processed"
    conn = psycopg2.connect(PG)
    cur = conn.cursor()
    cols = ", ".join(f"{c} text" for c in __import__("daybook.business_types").business_types.PAY.required)
    cur.execute(f"CREATE TEMP TABLE bench_copy ({cols})")
    t0 = time.perf_counter()
    for name in names:
        with open(processed / name, encoding="utf-8") as fh:
            cur.copy_expert("COPY bench_copy FROM STDIN WITH (FORMAT csv, HEADER true)", fh)
    conn.commit()
    copy_s = time.perf_counter() - t0
    cur.execute("SELECT COUNT(*) FROM bench_copy")
    assert cur.fetchone()[0] == ROWS
    conn.close()
    print(f"COPY:    {copy_s:6.2f}s  {ROWS / copy_s:>12,.0f} rows/s")
    print(f"intake / COPY rate: {copy_s / intake_s:.2f}")


if __name__ == "__main__":
    main()
