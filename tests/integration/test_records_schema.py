"""Schema version 11 (sql/schema/V011__records_bulk_load.sql): records are loaded without a
per-row foreign key check to files on PostgreSQL, and the reference it enforced still cannot
break."""

from __future__ import annotations

import pytest
from tests.schema_upgrade import older_database
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
    with older_database(11, backend, business_db, tmp_path, monkeypatch) as (url, upgrade):
        assert _foreign_keys_to_files(url, backend) == 1
        nos = seed_file(url, "UPGR", [pay(1000), pay(2000), pay(3000)])
        before = query(url, "SELECT business_no, file_id, amount_cents FROM records ORDER BY business_no")
        assert "V011__records_bulk_load" in upgrade()
        assert (
            query(url, "SELECT business_no, file_id, amount_cents FROM records ORDER BY business_no")
            == before
        )
        assert [n for (n, _, _) in before] == sorted(nos)
        assert _foreign_keys_to_files(url, backend) == (1 if backend == "sqlite" else 0)
