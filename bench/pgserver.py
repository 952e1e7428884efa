"""A private PostgreSQL server configured like production, for the benchmarks.

Production runs PostgreSQL with the server settings given as ``-c name=value`` arguments to the
``postgres`` service's ``command`` in docker-compose.yml (a buffer pool and WAL budget sized for
a business day). The machine's stock server runs with distribution defaults (128 MB of shared
buffers, 1 GB of WAL between checkpoints), so a benchmark against it measures a differently
configured database. ``compose_server()`` starts a throwaway cluster on this machine with those
same settings, read from docker-compose.yml so they cannot drift, and yields its URL:

    with compose_server() as url:   # postgresql://postgres@127.0.0.1:<port>/postgres
        ...

The cluster lives in a fresh temporary directory (trust authentication for user ``postgres``,
listening on 127.0.0.1 at a free port, its Unix socket in that directory) and is stopped and
removed on exit, also after an error. Run as root, the server runs as the ``postgres`` OS user.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import os
import shlex
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"


def compose_settings(compose_file: Path = COMPOSE_FILE) -> dict[str, str]:
    """The ``-c name=value`` server settings of the ``postgres`` service's command, in order."""
    import yaml

    command = yaml.safe_load(compose_file.read_text(encoding="utf-8"))["services"]["postgres"]["command"]
    args = shlex.split(command) if isinstance(command, str) else [str(a) for a in command]
    settings: dict[str, str] = {}
    it = iter(args[1:] if args and args[0] == "postgres" else args)
    for arg in it:
        if arg != "-c":
            raise ValueError(f"{compose_file}: postgres command argument {arg!r} is not a -c setting")
        pair = next(it, "")
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ValueError(f"{compose_file}: -c {pair!r} is not name=value")
        settings[name] = value
    return settings


def bindir() -> Path:
    """The directory of initdb and pg_ctl: ``pg_config --bindir``, else the newest
    /usr/lib/postgresql/<version>/bin."""
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True)
        path = Path(out.stdout.strip())
        if (path / "initdb").is_file() and (path / "pg_ctl").is_file():
            return path
    found = sorted(
        (Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin") if Path(p, "initdb").is_file()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if not found:
        raise RuntimeError("no PostgreSQL server binaries (initdb, pg_ctl) found")
    return found[-1]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_options(settings: dict[str, str], port: int, socket_dir: Path) -> list[str]:
    """The postgres command-line options of the private server: where it listens, then the settings."""
    options = [
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        f"port={port}",
        "-c",
        f"unix_socket_directories={socket_dir}",
    ]
    for name, value in settings.items():
        options += ["-c", f"{name}={value}"]
    return options


@contextlib.contextmanager
def compose_server(compose_file: Path = COMPOSE_FILE) -> Iterator[str]:
    """A private PostgreSQL cluster with docker-compose.yml's server settings; yields its URL."""
    settings = compose_settings(compose_file)
    bins = bindir()
    as_root = os.geteuid() == 0
    tmp = Path(tempfile.mkdtemp(prefix="daybook-pgserver-"))
    data, log = tmp / "data", tmp / "server.log"

    def run(*argv: str) -> subprocess.CompletedProcess:
        cmd = [str(a) for a in argv]
        if as_root:  # initdb and postgres refuse to run as root
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, cwd=tmp, capture_output=True, text=True)

    def check(result: subprocess.CompletedProcess, what: str) -> None:
        if result.returncode != 0:
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            raise RuntimeError(f"{what} failed ({result.returncode}):\n{result.stdout}{result.stderr}{tail}")

    started = False
    try:
        if as_root:
            shutil.chown(tmp, "postgres", "postgres")
        check(
            run(
                bins / "initdb", "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C.UTF-8"
            ),
            "initdb",
        )
        port = _free_port()
        options = shlex.join(server_options(settings, port, tmp))
        started = True  # from here on, stop whatever pg_ctl may have started
        check(run(bins / "pg_ctl", "start", "-w", "-D", data, "-l", log, "-o", options), "pg_ctl start")
        shown, version = _shown_settings(bins, port, tmp, list(settings), run)
        print(
            f"private PostgreSQL {version} on 127.0.0.1:{port} runs with docker-compose.yml's settings: "
            + ", ".join(f"{k}={v}" for k, v in shown.items())
        )
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        try:
            if started:
                run(bins / "pg_ctl", "stop", "-w", "-m", "fast", "-D", data)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def _shown_settings(
    bins: Path, port: int, socket_dir: Path, names: list[str], run
) -> tuple[dict[str, str], str]:
    """Each setting as the running server reports it (as ``SHOW`` does), checked to come from the
    command line, and the server's version."""
    quoted = ", ".join("'" + n.replace("'", "''") + "'" for n in names)
    query = (
        "SELECT name, current_setting(name), source FROM pg_settings"
        f" WHERE name = ANY(ARRAY[{quoted}]) OR name = 'server_version'"
    )
    result = run(
        bins / "psql", "-X", "-A", "-t", "-F", "|", "-h", socket_dir, "-p", str(port), "-U", "postgres",
        "-d", "postgres", "-c", query,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"psql failed ({result.returncode}): {result.stderr}")
    rows = {
        name: (value, source)
        for name, value, source in (line.split("|") for line in result.stdout.splitlines() if line)
    }
    version = rows.pop("server_version")[0]
    not_applied = [n for n in names if rows.get(n, ("", ""))[1] != "command line"]
    if not_applied:
        raise RuntimeError(f"the private server does not run with docker-compose.yml's {not_applied}: {rows}")
    return {n: rows[n][0] for n in names}, version


def add_server_argument(parser: argparse.ArgumentParser, url_option: str) -> None:
    """The benchmarks' ``--server {stock,compose,both}`` option (``both`` by default)."""
    parser.add_argument(
        "--server",
        choices=("stock", "compose", "both"),
        default="both",
        help=f"stock: the {url_option} server; compose: a private server with docker-compose.yml's settings",
    )


def each_server(choice: str, stock_url: str, measure: Callable[[str], T]) -> dict[str, T]:
    """``measure(url)`` on the stock server (``stock_url``), on a private server with
    docker-compose.yml's settings, or on both in turn (``choice``), each under a heading;
    returns the results by server name."""
    results: dict[str, T] = {}
    if choice in ("stock", "both"):
        print(f"\n=== stock server ({stock_url})")
        results["stock"] = measure(stock_url)
    if choice in ("compose", "both"):
        print("\n=== compose server (a private server with docker-compose.yml's settings)")
        with compose_server() as url:
            results["compose"] = measure(url)
    return results
