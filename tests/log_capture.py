"""The ERROR lines a logger writes during a test, through a handler of its own: Airflow's logging
set-up, which may run during the test, replaces the root handlers pytest's caplog relies on."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager


class _ErrorLines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@contextmanager
def errors_logged(name: str) -> Iterator[list[str]]:
    """The ERROR messages logged to ``name`` while the block runs."""
    handler = _ErrorLines()
    logger = logging.getLogger(name)
    logger.addHandler(handler)
    try:
        yield handler.lines
    finally:
        logger.removeHandler(handler)
