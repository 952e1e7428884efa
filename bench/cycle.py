"""Benchmark: a whole business day, drop to archive, through the real DAGs, at several sizes.

    .venv/bin/python bench/cycle.py [--pay 100000 1000000 2000000] [--pg postgresql://postgres@127.0.0.1:5432/postgres]
                                    [--file-rows 500000] [--server {stock,compose,both}]

For each size N: N PAY rows and N/5 LOAN rows for a benchmark client (huge prefunding, two
scripted reviewers answering the human tier), each type in files of at most 500,000 rows
(``--file-rows``; SEQ 001, 002, ...), as a client must split a large day since a file holds at most
999,999 rows: ``--pay 1000000`` drops two PAY files and one LOAN file, ``--pay 2000000`` four PAY
files and one LOAN file. A fresh PostgreSQL business database, local folders. Each stage's DAG
runs in its own process (``daybook run-day`` style: ``dag.test()``), so the time and the peak RSS
printed per stage are that stage's own. Beside
them, in the same run: a plain PostgreSQL ``COPY`` of the same files into scratch tables
(the floor for "loading the day"). Prints per stage the process's seconds (interpreter start,
Airflow and DAG loading included), the DAG run's own time from its start to its end as Airflow
records it, the sum of its task durations, rows/s over the run time and the peak RSS, then its
slowest tasks with each one's time and peak RSS (the process's high-water mark reset when the
task starts: it includes what the stage's process already held); the pipeline total (sum of the
DAG run times) and how it scales with N.

``DAYBOOK_BENCH_LOGS=<folder>`` keeps each stage's log there (the run's own folder is removed).

``--server stock`` runs on the ``--pg`` server (the machine's stock PostgreSQL by default);
``--server compose`` on a private server started with docker-compose.yml's production settings
(bench/pgserver.py); ``both`` (the default) runs everything on each in turn and ends with the
pipeline totals of the two side by side.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

import sqlalchemy

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "include"))
DAY = date(2026, 11, 27)
STAGES = ("intake", "validation", "approval", "settlement", "archive")
CLIENT = "BENCH"
# Rows per file at most: a file may hold at most 999,999 rows (the business number's line part has 6
# digits, contract section 5), so a large day comes as several files of each type.
FILE_ROWS = 500_000
PROFILE = f"""client_id: {CLIENT}
accepted_currencies: [CNY]
prefund_limit: "999999999999999.00"
cutoffs: {{intake: "23:59", approval: "23:59", settlement: "23:59"}}
# Rules that leave about 0.2% of payments to the scripted reviewers, as a busy day would.
approval:
  auto_max_amount: "1499000.00"
  two_reviewers_from: "1499500.00"
  loan_auto_max_amount: "99999999.00"
"""


def write_files(folder: Path, n_pay: int, file_rows: int = FILE_ROWS) -> list[Path]:
    """n_pay PAY rows and n_pay // 5 LOAN rows, each type split into files of at most ``file_rows``
    rows (SEQ 001, 002, ...) with their control files, as a client sends a large day: a file holds
    at most 999,999 rows (contract section 5). Rows come from the same 2,000 templates whatever the
    split; client refs are numbered across the type's files, so they are unique across files."""
    from daybook import sample

    rng = random.Random(7)
    pay_tpl = sample._pay_rows(rng, CLIENT, DAY, 2000, ["CNY"])
    loan_tpl = sample._loan_rows(rng, CLIENT, DAY, 2000)
    inbox = folder / CLIENT / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    written = []
    for type_code, header, tpl, n, amount_col in (
        ("PAY", sample.PAY_HEADER, pay_tpl, n_pay, "amount"),
        ("LOAN", sample.LOAN_HEADER, loan_tpl, n_pay // 5, "loan_amount"),
    ):
        ai = header.index(amount_col)
        for seq, first in enumerate(range(0, n, file_rows), start=1):
            name = f"{CLIENT}_{type_code}_{DAY:%Y%m%d}_{seq:03d}.csv"
            buf = io.StringIO()
            w = csv.writer(buf, lineterminator="\n")
            w.writerow(header)
            rows = []
            for i in range(first, min(n, first + file_rows)):
                row = list(tpl[i % len(tpl)])
                row[0] = f"{CLIENT}{type_code[0]}{i:09d}"
                rows.append(row)
                if len(rows) == 50_000:
                    w.writerows(rows)
                    rows.clear()
            w.writerows(rows)
            data = buf.getvalue().encode()
            (inbox / name).write_bytes(data)
            parsed = [r[ai] for r in csv.reader(io.StringIO(buf.getvalue()))][1:]
            (inbox / (name[:-4] + ".ctl")).write_bytes(
                sample.control_line(name, data, [[c] for c in parsed], 0)
            )
            written.append(inbox / name)
    return written


def header_of(path: Path) -> list[str]:
    """The column names on a CSV file's first line, reading that line only."""
    with open(path, encoding="utf-8", newline="") as fh:
        return fh.readline().rstrip("\r\n").split(",")


def copy_baseline(pg: str, files: list[Path]) -> float:
    """Seconds for a plain COPY of the same files into scratch text tables (each created from its
    file's header, then loaded). The headers are read before the clock starts: only the tables
    and the COPY are timed, as each file is read once, by COPY."""
    import psycopg2

    headers = [header_of(path) for path in files]
    conn = psycopg2.connect(pg)
    cur = conn.cursor()
    start = time.perf_counter()
    for i, (path, header) in enumerate(zip(files, headers, strict=True)):
        cur.execute(f"DROP TABLE IF EXISTS bench_copy_{i}")
        cur.execute(f"CREATE UNLOGGED TABLE bench_copy_{i} ({', '.join(f'{c} text' for c in header)})")
        with open(path, encoding="utf-8") as fh:
            cur.copy_expert(f"COPY bench_copy_{i} FROM STDIN WITH (FORMAT csv, HEADER true)", fh)
    conn.commit()
    elapsed = time.perf_counter() - start
    for i in range(len(files)):
        cur.execute(f"DROP TABLE bench_copy_{i}")
    conn.commit()
    conn.close()
    return elapsed


# Runs one stage's DAG in a fresh process, then reads from Airflow's metadata database how long
# the DAG run took from its start to its end (the pipeline's own time: no interpreter start-up,
# no DAG parsing) and the sum of its task instances' durations.
STAGE_CODE = """
import json, sys
from daybook.runner import prepare_airflow, run_stage
# dag.test() stands in for the api-server with an in-process execution API that it builds, starts
# and answers its first request with during the first task of the run (~2.7 s when idle, most of
# it in that first request, whichever it is); in production the api-server is already running.
# All three are done here, before the run starts (a request to its health endpoint), so that the
# run time is the pipeline's own: dag.test() reuses this instance (in_process_api_server() is
# cached).
prepare_airflow()
# The business database's schema is migrated before the run, as production's init service does
# (docker-compose.yml, `daybook init`): otherwise the first stage's first task applies every
# schema version to the fresh benchmark database inside its timing.
from daybook import db
db.migrate()
import httpx
from airflow.sdk.execution_time.supervisor import in_process_api_server
httpx.Client(transport=in_process_api_server().transport, base_url="http://in-process.invalid/").get("health")
# Peak RSS per task: dag.test() runs each task in this process, so the kernel's high-water mark of
# the process (VmHWM) is reset to the current RSS when a task starts (/proc/self/clear_refs, "5")
# and read when it ends, by a listener of the task runner's hooks. A task's figure includes what
# the process held when it started (Airflow, the modules earlier tasks imported): a task process
# of its own under the scheduler starts with less. The stage's peak is the highest of them all.
from airflow.sdk._shared.listeners import hookimpl
from airflow.sdk.listener import get_listener_manager


def hwm_kib():
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))


class TaskPeaks:
    def __init__(self):
        self.peaks, self.stage = {{}}, 0

    @hookimpl
    def on_task_instance_running(self, previous_state, task_instance):
        self.stage = max(self.stage, hwm_kib())
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")

    def ended(self, ti):
        hwm = hwm_kib()
        self.stage = max(self.stage, hwm)
        index = -1 if ti.map_index is None else ti.map_index
        self.peaks[ti.task_id + ("" if index < 0 else f"[{{index}}]")] = hwm

    @hookimpl
    def on_task_instance_success(self, previous_state, task_instance):
        self.ended(task_instance)

    @hookimpl
    def on_task_instance_failed(self, previous_state, task_instance, error):
        self.ended(task_instance)

    @hookimpl
    def on_task_instance_skipped(self, previous_state, task_instance):
        self.ended(task_instance)


task_peaks = TaskPeaks()
get_listener_manager().add_listener(task_peaks)
state = run_stage("{stage}", "{day}")
from airflow.models import DagRun, TaskInstance
from airflow.utils.session import create_session
with create_session() as session:
    run = session.query(DagRun).filter(DagRun.dag_id == "{stage}_daily").order_by(DagRun.id.desc()).first()
    tis = session.query(TaskInstance).filter(
        TaskInstance.dag_id == run.dag_id, TaskInstance.run_id == run.run_id
    ).all()
    span = (run.end_date - run.start_date).total_seconds()
    busy = sum(ti.duration or 0 for ti in tis)
    slowest = sorted(
        (
            (key, ti.duration or 0, task_peaks.peaks.get(key, 0))
            for ti in tis
            for key in [ti.task_id + ("" if ti.map_index < 0 else f"[{{ti.map_index}}]")]
        ),
        key=lambda item: -item[1],
    )[:8]
# The process's own peak RSS (VmHWM of its address space since exec, reset per task above and
# kept as the highest reading); the rusage of a child also counts the parent's memory at the
# fork, which would hide the stage's own figure.
hwm = max(task_peaks.stage, hwm_kib())
print("DAYBOOK_BENCH " + json.dumps({{"span": span, "tasks": busy, "peak_kib": hwm, "slowest": slowest}}))
sys.exit(0 if state == "success" else 1)
"""


def run_stage(stage: str, env: dict[str, str]) -> tuple[float, float, dict[str, float]]:
    """(process seconds, peak RSS MiB, {span, tasks}) of one stage's DAG run in its own process."""
    code = STAGE_CODE.format(stage=stage, day=DAY.isoformat())
    log = Path(env["DAYBOOK_HOME"]).parent / f"{stage}.log"
    start = time.perf_counter()
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, _ = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.environ.get("DAYBOOK_BENCH_LOGS"):  # keep each stage's log (the run's folder is removed)
        keep = Path(os.environ["DAYBOOK_BENCH_LOGS"])
        keep.mkdir(parents=True, exist_ok=True)
        (keep / log.name).write_bytes(log.read_bytes())
    if os.waitstatus_to_exitcode(status) != 0:
        tail = log.read_text(errors="replace").splitlines()[-40:]
        raise RuntimeError(f"{stage}_daily failed:\n" + "\n".join(tail))
    lines = [
        line for line in log.read_text(errors="replace").splitlines() if line.startswith("DAYBOOK_BENCH ")
    ]
    times = json.loads(lines[-1].split(" ", 1)[1])
    return elapsed, times["peak_kib"] / 1024, times


def measure(pg: str, sizes: list[int], file_rows: int = FILE_ROWS) -> dict[int, float]:
    """Every size on the server at ``pg``; the pipeline time (sum of DAG run times) per size."""
    admin = sqlalchemy.create_engine(pg, isolation_level="AUTOCOMMIT")
    totals = {}
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="daybook-cycle-") as tmp_name:
            tmp = Path(tmp_name)
            (tmp / "profiles").mkdir()
            (tmp / "profiles" / f"{CLIENT}.yaml").write_text(PROFILE)
            files = write_files(tmp / "landing", n, file_rows)
            copy_s = copy_baseline(pg, files)
            db_name = f"daybook_bench_{uuid.uuid4().hex[:8]}"
            with admin.connect() as conn:
                conn.execute(sqlalchemy.text(f'CREATE DATABASE "{db_name}"'))
            url = sqlalchemy.make_url(pg).set(database=db_name).render_as_string(hide_password=False)
            env = {
                **os.environ,
                "DAYBOOK_HOME": str(tmp / "home"),
                "DAYBOOK_LANDING": str(tmp / "landing"),
                "DAYBOOK_RAW": str(tmp / "raw"),
                "DAYBOOK_OUTPUTS": str(tmp / "outputs"),
                "DAYBOOK_ARCHIVE": str(tmp / "archive"),
                "DAYBOOK_PROFILES": str(tmp / "profiles"),
                "DAYBOOK_DB_URL": url,
                "DAYBOOK_DEMO_APPROVER": "bench.reviewer.a,bench.reviewer.b",
            }
            rows = n + n // 5
            print(
                f"\n== {n:,} PAY + {n // 5:,} LOAN rows in {len(files)} files "
                f"({sum(f.stat().st_size for f in files) / 1e6:.0f} MB), "
                f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
            )
            print(f"{'baseline: plain COPY of the files':40s} {copy_s:8.1f} s {rows / copy_s:12,.0f} rows/s")
            total = span_total = 0.0
            print(f"{'':40s} {'process':>10s} {'DAG run':>10s} {'tasks':>8s} {'rows/s (run)':>14s}")
            try:
                for stage in STAGES:
                    seconds, peak, times = run_stage(stage, env)
                    total += seconds
                    span_total += times["span"]
                    print(
                        f"{stage + '_daily':40s} {seconds:8.1f} s {times['span']:8.1f} s {times['tasks']:6.1f} s "
                        f"{rows / times['span']:14,.0f} peak RSS {peak:7.0f} MiB"
                    )
                    print(
                        f"{'':4s}slowest tasks: "
                        + ", ".join(
                            f"{task} {seconds:.1f} s ({peak / 1024:,.0f} MiB)"
                            for task, seconds, peak in times["slowest"]
                        )
                    )
            finally:
                with admin.connect() as conn:
                    conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
            print(
                f"{'pipeline total (drop to archive)':40s} {total:8.1f} s {span_total:8.1f} s "
                f"{'':8s} {rows / span_total:14,.0f}"
            )
            totals[n] = span_total
    if len(totals) > 1:
        base_n = min(totals)
        print("\nscaling of pipeline time (sum of DAG run times) with size:")
        for n, t in sorted(totals.items()):
            print(
                f"  {n:>10,} PAY rows: {t:7.1f} s  ({t / totals[base_n]:.1f}x time for {n / base_n:.0f}x rows)"
            )
    admin.dispose()
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pay", type=int, nargs="+", default=[100_000, 1_000_000, 2_000_000])
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument(
        "--file-rows",
        type=int,
        default=FILE_ROWS,
        help="rows per file at most, 1-999999 (a business number's line part has 6 digits)",
    )
    from pgserver import add_server_argument, each_server

    add_server_argument(parser, "--pg")
    args = parser.parse_args()
    if not 1 <= args.file_rows <= 999_999:
        parser.error("--file-rows must be from 1 to 999999: a file holds at most 999,999 rows")
    results = each_server(args.server, args.pg, lambda url: measure(url, args.pay, args.file_rows))
    if len(results) > 1:
        print("\npipeline total (sum of DAG run times) per server:")
        for n in args.pay:
            print(f"  {n:>10,} PAY rows: " + "; ".join(f"{s} {r[n]:.1f} s" for s, r in results.items()))


if __name__ == "__main__":
    main()
