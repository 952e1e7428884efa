"""The one place configuration is read: environment variables with embedded defaults.

Every setting is read when asked for (never at import), so tests and the CLI can point the
same code at SQLite or PostgreSQL, at local folders or S3, by setting the environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from daybook.business_types import MAX_LINE_NO

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# The Airflow pool bounding how many row-scaling tasks (validation, settlement, archive) work
# on the business database at once; `daybook init` creates it with DAYBOOK_DB_POOL_SLOTS slots.
DB_POOL = "daybook_db"


class ConfigError(ValueError):
    """A setting holds a value the platform cannot run with; the message names it and what it needs."""


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


def _env_int_within(name: str, default: int, low: int, high: int, why: str) -> int:
    """An integer setting that must lie in ``low``..``high``; anything else is a :class:`ConfigError`."""
    text = _env(name, str(default))
    value = int(text) if text.isascii() and text.isdigit() else None
    if value is None or not low <= value <= high:
        raise ConfigError(f"{name} must be a whole number from {low} to {high} ({why}), got {text!r}")
    return value


@dataclass(frozen=True)
class Settings:
    """Resolved settings for one process. Build with :func:`settings`."""

    home: Path  # everything the embedded default writes lives here (git-ignored var/)
    landing: str  # landing root: a folder or s3://bucket/prefix
    raw: str  # raw zone: exact bytes of every file received
    outputs: str  # per-day outputs kept with the run (Data Docs, reports)
    archive: str  # archive root: a folder or s3://bucket/prefix
    db_url: str  # business database, SQLAlchemy URL
    profiles: Path  # client profile folder (contract section 8)
    calendar: Path  # business calendar folder (holidays and make-up working days per year)
    max_file_bytes: int  # F_TOO_LARGE limit on the data file's bytes (and on a .csv.gz's content)
    # F_TOO_LARGE limit on the data rows the control file declares; at most MAX_LINE_NO, the
    # largest line number a business number can carry.
    max_file_rows: int
    demo_approver: str  # named approver that answers pending items in the demo only ("" = nobody)
    db_pool_slots: int  # slots of the Airflow pool that bounds row-scaling tasks on the business DB
    heavy_queue: str  # Celery queue of the row-scaling tasks (dedicated workers listen to it)


def settings() -> Settings:
    home = Path(_env("DAYBOOK_HOME", str(PROJECT_ROOT / "var"))).resolve()
    return Settings(
        home=home,
        landing=_env("DAYBOOK_LANDING", str(home / "landing")),
        raw=_env("DAYBOOK_RAW", str(home / "raw")),
        outputs=_env("DAYBOOK_OUTPUTS", str(home / "outputs")),
        archive=_env("DAYBOOK_ARCHIVE", str(home / "archive")),
        db_url=_env("DAYBOOK_DB_URL", f"sqlite:///{home / 'daybook.db'}"),
        profiles=Path(_env("DAYBOOK_PROFILES", str(PROJECT_ROOT / "config" / "profiles"))),
        calendar=Path(_env("DAYBOOK_CALENDAR", str(PROJECT_ROOT / "config" / "calendar"))),
        max_file_bytes=int(_env("DAYBOOK_MAX_FILE_BYTES", str(2 * 1024**3))),
        max_file_rows=_env_int_within(
            "DAYBOOK_MAX_FILE_ROWS",
            MAX_LINE_NO,
            1,
            MAX_LINE_NO,
            "business numbers carry a 6-digit line number, contract section 5",
        ),
        demo_approver=_env("DAYBOOK_DEMO_APPROVER", ""),
        db_pool_slots=int(_env("DAYBOOK_DB_POOL_SLOTS", "4")),
        heavy_queue=_env("DAYBOOK_HEAVY_QUEUE", "default"),
    )
