"""Benchmark: validation of 1M PAY rows with the full GX suite, beside a plain pandas read.

    .venv/bin/python bench/validation.py [--rows 1000000] [--chunk 500000] [--end-to-end sqlite|postgres]

The rows are generated as a client sends a large day: files of at most 500,000 rows (SEQ 001,
002, ...; a file holds at most 999,999 rows, contract section 5). Prints, for the same generated
files in the same run:

- ``pandas read``: ``pd.read_csv`` of the files with every cell as text (the floor: reading alone);
- ``suite``: read in chunks by validation's pyarrow reader + the PAY suite run through GX on
  every chunk (one reused context, BASIC results, per-row codes from the registered predicates,
  counts cross-checked with GX) + the vectorized reason-code strings, i.e. everything
  ``validate_file`` does per row except the duplicate lookup and the database write;
- ``end-to-end`` (optional): ``validation.validate_client`` of the same files against a fresh
  SQLite file or PostgreSQL database (pyarrow read, suite, duplicate lookup, bulk load, ack
  file, Data Docs; ``--chunk`` rows per chunk); the drop and intake run first in a set-up process.
  On PostgreSQL also the server's CPU, and the floor: a plain COPY of the records it wrote into a
  table shaped like ``records``.

Rows/s and the peak RSS of each stage are printed (each stage runs in its own subprocess so the
peaks do not mix). About 1% of the generated rows carry a defect.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from daybook.business_types import PAY

BD = dt.date(2026, 11, 27)
HEADER = [*PAY.required, *PAY.optional]
FILE_ROWS = 500_000  # rows per file at most: a file holds at most 999,999 (contract section 5)


def generate(folder: Path, rows: int) -> list[Path]:
    """``rows`` PAY rows built from 2,000 templates (stdnum check digits) in files of at most
    FILE_ROWS rows named as a client names them; refs unique across the files."""
    import random

    from daybook.sample import make_account, make_card, make_ric, make_uscc, person

    rng = random.Random(7)
    templates = []
    for t in range(2000):
        corporate = t % 3 == 0
        card = t % 2 == 0
        row = [
            "",
            (BD + dt.timedelta(days=t % 5)).isoformat(),
            make_account(rng, 19),
            person(rng),
            "USCC" if corporate else "RIC",
            make_uscc(rng) if corporate else make_ric(rng, dt.date(1950 + t % 50, 1 + t % 12, 1 + t % 28)),
            "CARD" if card else "ACCOUNT",
            make_card(rng) if card else make_account(rng, 17),
            person(rng),
            "102100099996",
            f"{rng.randint(1, 99999)}.{rng.randint(0, 99):02d}",
            "CNY",
            "货款" if t % 4 else "",
        ]
        if t % 100 == 1:  # ~1% defects of a few kinds
            row[[10, 5, 9, 11, 1][t // 100 % 5]] = ["0", "X", "1", "USD", "2020-01-01"][t // 100 % 5]
        templates.append(row)
    paths = []
    for seq, first in enumerate(range(0, rows, FILE_ROWS), start=1):
        path = folder / f"BENCH_PAY_{BD:%Y%m%d}_{seq:03d}.csv"
        with path.open("w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(HEADER)
            for i in range(first, min(rows, first + FILE_ROWS)):
                row = templates[i % 2000]
                row[0] = f"R{i:09d}"
                w.writerow(row)
        paths.append(path)
    return paths


def _files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.csv"))


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def stage_read(folder: Path) -> dict:
    import pandas as pd

    t = time.perf_counter()
    n = 0
    for path in _files(folder):
        frame = pd.read_csv(path, dtype="str", keep_default_na=False, na_filter=False)
        n += len(frame)
        del frame
    return {"rows": n, "seconds": time.perf_counter() - t}


def _arrow_chunks(folder: Path, chunk: int):
    """The files as pandas frames of text cells (``str`` dtype), streamed by validation's pyarrow reader."""
    from daybook import rowread
    from daybook.storage import LocalStore

    store = LocalStore(str(folder))
    for path in _files(folder):
        yield from rowread.iter_frames(store, path.name, False, HEADER, encoding="utf-8", chunk_rows=chunk)


def stage_suite(folder: Path, chunk: int) -> dict:
    """Chunks streamed by pyarrow, each validated by the PAY suite; read and validation timed apart."""
    t = time.perf_counter()
    import great_expectations  # noqa: F401 - import cost is per process, not per row: kept out

    from daybook import expectations, profiles, validation  # noqa: F401
    from daybook.validation_suites import rules_for

    imports = time.perf_counter() - t
    profile = profiles.Profile(
        "BENCH", "bench", "", profiles._merge(profiles.DEFAULTS, {"client_id": "BENCH"})
    )
    t0 = time.perf_counter()
    c0 = time.process_time()
    runner = validation.SuiteRunner(rules_for("PAY", profile, BD), "BENCH_PAY_20261127_001")
    n = rejected = 0
    read = 0.0
    chunks = _arrow_chunks(folder, chunk)
    while True:
        t = time.perf_counter()
        frame = next(chunks, None)
        read += time.perf_counter() - t
        if frame is None:
            break
        bits = runner.run(frame)
        codes = validation.code_strings(bits)
        rejected += int((codes != "").sum())
        n += len(frame)
    total = time.perf_counter() - t0
    cpu = time.process_time() - c0
    return {
        "cpu_seconds": cpu,
        "rows": n,
        "rejected": rejected,
        "seconds": total,
        "read_seconds": read,
        "import_seconds": imports,
    }


PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def _pg_name(home: Path) -> str:
    """A scratch database of this run (named after its temporary folder): concurrent benches never share one."""
    return "daybook_bench_validation_" + "".join(c for c in home.parent.name if c.isalnum()).lower()


def _e2e_env(backend: str, home: Path) -> None:
    os.environ["DAYBOOK_HOME"] = str(home)
    os.environ["DAYBOOK_PROFILES"] = str(home / "profiles")
    if backend == "postgres":
        os.environ["DAYBOOK_DB_URL"] = f"postgresql://postgres@127.0.0.1:5432/{_pg_name(home)}"


def _drop_pg(home: Path) -> None:
    import sqlalchemy

    admin = sqlalchemy.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{_pg_name(home)}" WITH (FORCE)'))
    admin.dispose()


def stage_intake(folder: Path, backend: str, home: Path) -> dict:
    """Set-up for the end-to-end stage (own process, so its memory is not counted): drop + intake."""
    import shutil

    from daybook.fileformat import amount_total_cents, sha256_hex

    _e2e_env(backend, home)
    if backend == "postgres":
        import sqlalchemy

        _drop_pg(home)
        admin = sqlalchemy.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f'CREATE DATABASE "{_pg_name(home)}"'))
        admin.dispose()
    (home / "profiles").mkdir(parents=True)
    (home / "profiles" / "BENCH.yaml").write_text("client_id: BENCH\n")
    from daybook import intake

    inbox = home / "landing" / "BENCH" / "inbox"
    inbox.mkdir(parents=True)
    total = 0
    for path in _files(folder):
        name = path.name
        shutil.copy(path, inbox / name)
        with path.open(encoding="utf-8", newline="") as fh:
            reader = csv.reader(fh)
            next(reader)
            cells = [row[HEADER.index("amount")] for row in reader]
        count = len(cells)
        cents = amount_total_cents(cells)
        control = (
            f"{name}|{count}|{cents // 100}.{cents % 100:02d}|{sha256_hex((inbox / name).read_bytes())}\n"
        )
        (inbox / f"{name[:-4]}.ctl").write_text(control)
        total += count
    t = time.perf_counter()
    for drop in intake.list_drops(BD.isoformat()):
        result = intake.process_drop(drop, BD.isoformat())
        assert result["status"] == "INTAKE_OK", result
    return {"rows": total, "seconds": time.perf_counter() - t}


def stage_end_to_end(backend: str, home: Path, chunk: int) -> dict:
    """validate_client of the intake-accepted files: read, suite, duplicates, bulk load, ack, Data Docs."""
    _e2e_env(backend, home)
    import great_expectations  # noqa: F401 - import cost is per process, not per row: kept out

    from daybook import validation

    validation.CHUNK_ROWS = chunk

    t = time.perf_counter()
    c0 = time.process_time()
    results = validation.validate_client("BENCH", BD.isoformat())
    seconds = time.perf_counter() - t
    cpu = time.process_time() - c0
    out = {
        "rows": sum(r.get("rows") or 0 for r in results),
        "status": ",".join(sorted({r["status"] for r in results})),
        "seconds": seconds,
        "cpu_seconds": cpu,
    }
    if backend == "postgres":
        out["server_cpu_seconds"] = _server_cpu()
        out["floor_seconds"], out["floor_server_cpu_seconds"] = _records_copy_floor(home)
    return out


def _records_copy_floor(home: Path) -> tuple[float, float]:
    """(wall, server CPU) of a plain COPY of the records validation wrote, as ready-made COPY text,
    into a fresh table shaped like ``records`` (same columns, indexes and fillfactor): the cost of
    writing these rows at all, the floor of the end-to-end stage on PostgreSQL."""
    import psycopg

    url = f"postgresql://postgres@127.0.0.1:5432/{_pg_name(home)}"
    dump = home / "records.copy"
    with psycopg.connect(url, autocommit=True) as conn:
        with dump.open("wb") as fh, conn.cursor().copy("COPY records TO STDOUT") as copy:
            for block in copy:
                fh.write(block)
        conn.execute("CREATE TABLE records_floor (LIKE records INCLUDING ALL) WITH (fillfactor = 50)")
        pid = conn.info.backend_pid
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        cpu0 = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        t = time.perf_counter()
        with dump.open("rb") as fh, conn.cursor().copy("COPY records_floor FROM STDIN") as copy:
            while block := fh.read(1 << 20):
                copy.write(block)
        seconds = time.perf_counter() - t
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK") - cpu0
    dump.unlink()
    return seconds, cpu


def _server_cpu() -> float:
    """CPU seconds (user + system) of the server processes still serving the scratch database: the
    connections validation used stay in its pool, so this is the server's share of the run (the
    server runs on this machine; read from /proc)."""
    import sqlalchemy

    from daybook import db

    with db.engine().connect() as conn:
        pids = conn.execute(
            sqlalchemy.text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        ).scalars()
        total = 0.0
        for pid in list(pids):
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _child(args: argparse.Namespace) -> None:
    path = Path(args.file)  # the folder of the generated files
    if args.stage == "read":
        out = stage_read(path)
    elif args.stage == "suite":
        out = stage_suite(path, args.chunk)
    elif args.stage.startswith("intake:"):
        out = stage_intake(path, args.stage.split(":", 1)[1], Path(args.home))
    else:
        out = stage_end_to_end(args.stage.split(":", 1)[1], Path(args.home), args.chunk)
    out["peak_rss_mb"] = round(_peak_mb())
    print(json.dumps(out))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=500_000)
    parser.add_argument("--end-to-end", choices=["sqlite", "postgres"], action="append", default=[])
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    parser.add_argument("--home", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        _child(args)
        return
    with tempfile.TemporaryDirectory(prefix="daybook-bench-") as tmp:
        path = Path(tmp) / "files"
        path.mkdir()
        t = time.perf_counter()
        files = generate(path, args.rows)
        print(
            f"generated {args.rows} PAY rows in {len(files)} files "
            f"({sum(f.stat().st_size for f in files) / 1e6:.0f} MB) in {time.perf_counter() - t:.1f} s"
        )
        stages = ["read", "suite", *[s for b in args.end_to_end for s in (f"intake:{b}", f"e2e:{b}")]]
        print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} CPUs)")
        for stage in stages:
            cmd = [
                sys.executable,
                __file__,
                "--stage",
                stage,
                "--file",
                str(path),
                "--chunk",
                str(args.chunk),
                "--home",
                str(Path(tmp) / f"home-{stage.split(':')[-1]}"),
            ]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode:
                sys.exit(f"stage {stage} failed:\n{proc.stderr[-4000:]}")
            res = json.loads(proc.stdout.splitlines()[-1])
            label = {"read": "pandas read", "suite": "suite"}.get(stage, stage.replace("e2e:", "end-to-end "))
            rate = res["rows"] / res["seconds"]
            extra = f", rejected {res['rejected']}" if "rejected" in res else ""
            if "cpu_seconds" in res:
                extra += (
                    f", CPU {res['cpu_seconds']:.2f} s ({res['rows'] / res['cpu_seconds']:,.0f} rows/CPU-s)"
                )
            if "server_cpu_seconds" in res:
                both = res["cpu_seconds"] + res["server_cpu_seconds"]
                extra += (
                    f"\n{'':<22} database server CPU {res['server_cpu_seconds']:.2f} s; validation + server "
                    f"{both:.2f} s CPU ({res['rows'] / both:,.0f} rows/CPU-s; {both / res['seconds']:.2f} cores busy)"
                )
            if "floor_seconds" in res:
                extra += (
                    f"\n{'':<22} floor: plain COPY of the same records into a table shaped like records "
                    f"{res['floor_seconds']:.2f} s ({res['rows'] / res['floor_seconds']:,.0f} rows/s, "
                    f"server CPU {res['floor_server_cpu_seconds']:.2f} s); end to end = "
                    f"{res['seconds'] / res['floor_seconds']:.1f}x the floor"
                )
            if "read_seconds" in res:
                validate = res["seconds"] - res["read_seconds"]
                extra += (
                    f"\n{'':<22} of which arrow read {res['read_seconds']:.2f} s, GX + codes {validate:.2f} s "
                    f"({res['rows'] / validate:,.0f} rows/s); imports {res['import_seconds']:.1f} s not counted"
                )
            print(
                f"{label:<22} {res['rows']:>9} rows {res['seconds']:6.2f} s {rate:>10,.0f} rows/s "
                f"peak RSS {res['peak_rss_mb']:>5} MB{extra}"
            )
        if "postgres" in args.end_to_end:
            _drop_pg(Path(tmp) / "home-postgres")


if __name__ == "__main__":
    main()
