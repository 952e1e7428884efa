"""Business calendar: weekends, public holidays and make-up working days (调休), as data per year.

Files live in ``config/calendar/<year>.yaml`` (``DAYBOOK_CALENDAR``). A year without a file
falls back to Monday-Friday, which an operator sees in the intake log.
"""

from __future__ import annotations

import functools
from datetime import date, timedelta
from pathlib import Path

import yaml

from daybook.config import settings


@functools.cache
def _year(folder: Path, year: int) -> tuple[frozenset[date], frozenset[date]] | None:
    path = folder / f"{year}.yaml"
    if not path.is_file():
        return None
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    holidays = frozenset(date.fromisoformat(str(d)) for d in data.get("holidays", []))
    workdays = frozenset(date.fromisoformat(str(d)) for d in data.get("workdays", []))
    return holidays, workdays


def is_business_day(day: date) -> bool:
    """True on weekdays that are not holidays, and on make-up working days."""
    year = _year(settings().calendar, day.year)
    if year is not None:
        holidays, workdays = year
        if day in workdays:
            return True
        if day in holidays:
            return False
    return day.weekday() < 5


def previous_business_day(day: date) -> date:
    """The latest business day on or before ``day``."""
    while not is_business_day(day):
        day -= timedelta(days=1)
    return day
