"""A second business database on the test's backend, migrated only up to an older schema version,
for tests of what a migration does to existing data."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy

from daybook import db


@contextmanager
def older_database(
    before: int, backend: str, business_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, Callable[[], list[str]]]]:
    """Yields ``(url, upgrade)``: a fresh database (SQLite file or PostgreSQL database beside the
    fixture's) migrated with the schema files numbered below ``before``, and a function that
    applies the rest (``upgrade(through=n)``: only those numbered up to n) and returns the
    versions it applied. ``DAYBOOK_DB_URL`` points at it inside
    the block; a PostgreSQL database is dropped after it."""
    old = tmp_path / f"schema_before_v{before}"
    old.mkdir()
    real = db.SCHEMA_DIR
    for path in sorted(real.glob("V*.sql")):
        if int(re.match(r"V(\d+)", path.name).group(1)) < before:
            shutil.copy(path, old / path.name)
    name = None
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / f'before_v{before}.db'}"
    else:
        admin = sqlalchemy.create_engine(business_db, isolation_level="AUTOCOMMIT")
        name = sqlalchemy.make_url(business_db).database + f"_v{before}"
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        url = sqlalchemy.make_url(business_db).set(database=name).render_as_string(hide_password=False)

    def upgrade(through: int | None = None) -> list[str]:
        if through is None:
            monkeypatch.setattr(db, "SCHEMA_DIR", real)
        else:
            upto = tmp_path / f"schema_through_v{through}"
            upto.mkdir(exist_ok=True)
            for path in sorted(real.glob("V*.sql")):
                if int(re.match(r"V(\d+)", path.name).group(1)) <= through:
                    shutil.copy(path, upto / path.name)
            monkeypatch.setattr(db, "SCHEMA_DIR", upto)
        return db.migrate()

    monkeypatch.setenv("DAYBOOK_DB_URL", url)
    monkeypatch.setattr(db, "SCHEMA_DIR", old)
    try:
        db.migrate()
        yield url, upgrade
    finally:
        monkeypatch.setattr(db, "SCHEMA_DIR", real)
        db._engine_for(url).dispose()
        if name is not None:
            admin = sqlalchemy.create_engine(business_db, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
