"""The one place configuration is read: environment variables with embedded defaults.

Every setting is read when asked for (never at import), so tests and the CLI can point the
same code at SQLite or PostgreSQL, at local folders or S3, by setting the environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from daybook.business_types import MAX_LINE_NO

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# The business time zone: business dates, cutoffs and the business day of "now" are read in it.
BUSINESS_TZ = ZoneInfo("Asia/Shanghai")
# The Airflow pool bounding how many row-scaling tasks (validation, settlement, archive) work
# on the business database at once; `daybook init` creates it with DAYBOOK_DB_POOL_SLOTS slots.
DB_POOL = "daybook_db"


class ConfigError(ValueError):
    """A setting holds a value the platform cannot run with; the message names it and what it needs."""


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


def env_int(name: str, default: int, low: int, high: int | None, why: str) -> int:
    """The whole-number setting ``name`` (``default`` when not set or empty), which must lie in
    ``low``..``high`` (``high`` None: no ceiling). Plain ASCII digits only; anything else is a
    :class:`ConfigError` naming the setting, its range, ``why`` (the reason for the range) and the
    value found. Every setting read as a number goes through here."""
    text = _env(name, str(default))
    value = int(text) if text.isascii() and text.isdigit() else None
    if value is None or value < low or (high is not None and value > high):
        allowed = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise ConfigError(f"{name} must be a whole number {allowed} ({why}), got {text!r}")
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
    # F_DATE beyond this many calendar days after the run's business date (a later date is
    # otherwise kept for its own run)
    max_days_ahead: int
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
        max_file_bytes=env_int(
            "DAYBOOK_MAX_FILE_BYTES",
            2 * 1024**3,
            1,
            None,
            "the F_TOO_LARGE limit on a data file's bytes; 0 would refuse every file",
        ),
        max_file_rows=env_int(
            "DAYBOOK_MAX_FILE_ROWS",
            MAX_LINE_NO,
            1,
            MAX_LINE_NO,
            "business numbers carry a 6-digit line number, contract section 5",
        ),
        max_days_ahead=env_int(
            "DAYBOOK_MAX_DAYS_AHEAD",
            30,
            0,
            366,
            "how far ahead of today's business date a file's date may be, in calendar days",
        ),
        demo_approver=_env("DAYBOOK_DEMO_APPROVER", ""),
        db_pool_slots=env_int(
            "DAYBOOK_DB_POOL_SLOTS",
            4,
            1,
            None,
            "slots of the daybook_db pool; with 0 no row-scaling task would ever run",
        ),
        heavy_queue=_env("DAYBOOK_HEAVY_QUEUE", "default"),
    )
