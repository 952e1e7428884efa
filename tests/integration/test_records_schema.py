"""Schema version 11 (sql/schema/V011__records_bulk_load.sql): records are loaded without a
per-row foreign key check to files on PostgreSQL, and the reference it enforced still cannot
break."""

from __future__ import annotations

import re
import shutil

import pytest
import sqlalchemy
from tests.settlement_seed import execute, pay, query, seed_file

from daybook import db

pytestmark = pytest.mark.integration


def _foreign_keys_to_files(url: str, backend: str) -> int:
    if backend == "sqlite":
        rows = query(url, "SELECT COUNT(*) FROM pragma_foreign_key_list('records') WHERE \"table\" = 'files'")
    else:
        rows = query(
            url,
            "SELECT COUNT(*) FROM pg_constraint WHERE contype = 'f'"
            " AND conrelid = 'records'::regclass AND confrelid = 'files'::regclass",
        )
    return rows[0][0]


def test_records_reference_files_only_on_sqlite(business_db, backend):
    assert _foreign_keys_to_files(business_db, backend) == (1 if backend == "sqlite" else 0)


def test_a_file_with_records_is_never_deleted(business_db):
    """The one statement that deletes files rows leaves any file that can own records alone."""
    nos = seed_file(business_db, "KEEP", [pay(1000), pay(2000)])
    (file_id,) = query(business_db, "SELECT file_id FROM records WHERE business_no = :n", n=nos[0])[0]
    # Records exist only from validation on (INTAKE_OK -> VALIDATED -> COMPLETED); only a pending
    # receipt that never became an original (RECEIVED, original = 0) is ever deleted.
    for original in (1, 0):
        for status in ("RECEIVED", "INTAKE_OK", "VALIDATED", "COMPLETED"):
            if (original, status) == (0, "RECEIVED"):
                continue
            execute(
                business_db,
                "UPDATE files SET status = :s, original = :o WHERE file_id = :f",
                s=status,
                o=original,
                f=file_id,
            )
            execute(business_db, db.sql("delete_pending_receipt"), file_id=file_id)
            assert query(business_db, "SELECT COUNT(*) FROM files WHERE file_id = :f", f=file_id) == [(1,)]
    assert query(business_db, "SELECT COUNT(*) FROM records WHERE file_id = :f", f=file_id) == [(2,)]


def test_upgrade_keeps_the_records(backend, business_db, tmp_path, monkeypatch):
    """Migrate a fresh database to V010, load records, then apply V011."""
    old = tmp_path / "schema_v10"
    old.mkdir()
    for path in sorted(db.SCHEMA_DIR.glob("V*.sql")):
        if int(re.match(r"V(\d+)", path.name).group(1)) < 11:
            shutil.copy(path, old / path.name)
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'v10.db'}"
    else:
        admin = sqlalchemy.create_engine(business_db, isolation_level="AUTOCOMMIT")
        name = sqlalchemy.make_url(business_db).database + "_v10"
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        url = sqlalchemy.make_url(business_db).set(database=name).render_as_string(hide_password=False)
    monkeypatch.setenv("DAYBOOK_DB_URL", url)
    try:
        monkeypatch.setattr(db, "SCHEMA_DIR", old)
        db.migrate()
        assert _foreign_keys_to_files(url, backend) == 1
        nos = seed_file(url, "UPGR", [pay(1000), pay(2000), pay(3000)])
        before = query(url, "SELECT business_no, file_id, amount_cents FROM records ORDER BY business_no")
        monkeypatch.setattr(db, "SCHEMA_DIR", db.PROJECT_ROOT / "sql" / "schema")
        assert "V011__records_bulk_load" in db.migrate()
        assert (
            query(url, "SELECT business_no, file_id, amount_cents FROM records ORDER BY business_no")
            == before
        )
        assert [n for (n, _, _) in before] == sorted(nos)
        assert _foreign_keys_to_files(url, backend) == (1 if backend == "sqlite" else 0)
    finally:
        db._engine_for(url).dispose()
        if backend == "postgres":
            admin = sqlalchemy.create_engine(business_db, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
