"""Schema version 9 (sql/schema/V009__settlement_bulk_posting.sql): postings without a foreign
key to records, records without an index on state; an existing ledger survives the upgrade."""

from __future__ import annotations

import pytest
import sqlalchemy
from tests.schema_upgrade import older_database
from tests.settlement_seed import DAY, execute, pay, query, seed_file, write_profile

from daybook import settlement

pytestmark = pytest.mark.integration


def _indexes(url: str, backend: str, table: str) -> set[str]:
    if backend == "sqlite":
        rows = query(url, "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = :t", t=table)
    else:
        rows = query(url, "SELECT indexname FROM pg_indexes WHERE tablename = :t", t=table)
    return {name for (name,) in rows}


def test_records_keep_no_index_on_state(business_db, backend):
    names = _indexes(business_db, backend, "records")
    assert "ix_records_day" in names and "ix_records_day_state" not in names
    if backend == "postgres":
        # Room on each page for the updated versions of its rows (heap-only state changes).
        assert query(business_db, "SELECT reloptions FROM pg_class WHERE relname = 'records'") == [
            (["fillfactor=50"],)
        ]


def test_ledger_has_no_foreign_key_to_records(business_db):
    # Accepted by the schema now; reconciliation reports it (test_settlement_reconciliation).
    execute(
        business_db,
        "INSERT INTO ledger_entries (business_no, leg, client_id, business_date, account, amount_cents)"
        " VALUES ('NOSUCH-PAY-20261127-001-000001', 'D', 'NOSUCH', :d, 'NOSUCH:PREFUND', 100)",
        d=DAY,
    )
    assert query(business_db, "SELECT COUNT(*) FROM ledger_entries") == [(1,)]


def test_upgrade_keeps_the_ledger_and_its_entry_ids(backend, business_db, tmp_path, monkeypatch):
    """Migrate a fresh database to V008, post the old way, then apply V009."""
    with older_database(9, backend, business_db, tmp_path, monkeypatch) as (url, upgrade):
        nos = seed_file(url, "UPGC", [pay(1000), pay(2000)], state="SETTLED")
        for no, cents in zip(nos, (1000, 2000), strict=True):
            for leg, account in (("D", "UPGC:PREFUND"), ("C", "UPGC:CLEARING")):
                execute(
                    url,
                    "INSERT INTO ledger_entries (business_no, leg, client_id, business_date, account,"
                    " amount_cents) VALUES (:n, :l, 'UPGC', :d, :a, :c)",
                    n=no,
                    l=leg,
                    d=DAY,
                    a=account,
                    c=cents,
                )
        # Gaps in the ids, as ON CONFLICT DO NOTHING leaves them on PostgreSQL.
        execute(url, "DELETE FROM ledger_entries WHERE business_no = :n AND leg = 'C'", n=nos[0])
        before = query(url, "SELECT * FROM ledger_entries ORDER BY entry_id")
        assert "V009__settlement_bulk_posting" in upgrade()
        assert query(url, "SELECT * FROM ledger_entries ORDER BY entry_id") == before
        execute(
            url,
            "INSERT INTO ledger_entries (business_no, leg, client_id, business_date, account, amount_cents)"
            " VALUES (:n, 'C', 'UPGC', :d, 'UPGC:CLEARING', 1000)",
            n=nos[0],
            d=DAY,
        )
        ((new_id,),) = query(
            url, "SELECT entry_id FROM ledger_entries WHERE business_no = :n AND leg = 'C'", n=nos[0]
        )
        assert new_id > max(row[0] for row in before)
        with pytest.raises(sqlalchemy.exc.IntegrityError):  # (business_no, leg) is still unique
            execute(
                url,
                "INSERT INTO ledger_entries (business_no, leg, client_id, business_date, account,"
                " amount_cents) VALUES (:n, 'D', 'UPGC', :d, 'UPGC:PREFUND', 1000)",
                n=nos[0],
                d=DAY,
            )
        assert "ix_ledger_day" in _indexes(url, backend, "ledger_entries")


def test_ledger_keyed_by_business_number_and_leg(business_db, backend):
    """V012: on PostgreSQL (business_no, leg) is the primary key, entry_id has no index of its
    own and the day index is BRIN; on both, entry ids are still filled in and the key is unique."""
    if backend == "postgres":
        key = query(
            business_db,
            "SELECT a.attname FROM pg_index AS i INNER JOIN pg_attribute AS a"
            " ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
            " WHERE i.indrelid = 'ledger_entries'::regclass AND i.indisprimary ORDER BY a.attname",
        )
        assert key == [("business_no",), ("leg",)]
        assert query(
            business_db,
            "SELECT indexdef LIKE '%USING brin%' FROM pg_indexes WHERE indexname = 'ix_ledger_day'",
        ) == [(True,)]
        assert _indexes(business_db, backend, "ledger_entries") == {"ledger_entries_pkey", "ix_ledger_day"}
    for leg in ("D", "C"):
        execute(
            business_db,
            "INSERT INTO ledger_entries (business_no, leg, client_id, business_date, account, amount_cents)"
            " VALUES ('KEYC-PAY-20261127-001-000001', :l, 'KEYC', :d, 'KEYC:X', 100)",
            l=leg,
            d=DAY,
        )
    ids = query(business_db, "SELECT entry_id FROM ledger_entries ORDER BY leg DESC")
    assert len({i for (i,) in ids}) == 2 and all(i is not None for (i,) in ids)
    with pytest.raises(sqlalchemy.exc.IntegrityError):
        execute(
            business_db,
            "INSERT INTO ledger_entries (business_no, leg, client_id, business_date, account, amount_cents)"
            " VALUES ('KEYC-PAY-20261127-001-000001', 'D', 'KEYC', :d, 'KEYC:X', 100)",
            d=DAY,
        )


def test_v013_plans_payments_from_before_the_upgrade_by_their_payload(
    business_db, backend, tmp_path, monkeypatch
):
    # Payments written before V013 have no value_date column: the plan reads the payload's. A
    # row with the column set is ordered by the column. Limit 250.00, three payments of 100.00:
    # the two earliest value dates settle, the third returns H_FUNDS.
    write_profile(tmp_path / "profiles", monkeypatch, "VDC", "250.00")
    with older_database(13, backend, business_db, tmp_path, monkeypatch) as (url, upgrade):
        old = seed_file(url, "VDC", [pay(10000, "2026-12-03"), pay(10000, "2026-12-01")])
        assert upgrade() == ["V013__records_value_date", "V014__ledger_key_bytewise"]
        assert query(url, "SELECT COUNT(*) FROM records WHERE value_date IS NOT NULL") == [(0,)]
        new = seed_file(url, "VDC", [pay(10000, "2026-12-09")], seq="002")
        # Written after the upgrade, as validation writes it: the column says the 2nd (the
        # payload's 9th is what the column replaces, so only the column can put it first).
        execute(url, "UPDATE records SET value_date = '2026-12-02' WHERE business_no = :n", n=new[0])
        assert settlement.post_ledger(DAY) == {"SETTLED": 2, "DISBURSED": 0, "RETURNED_FUNDS": 1}
        got = dict(query(url, "SELECT business_no, state FROM records"))
        assert got == {old[1]: "SETTLED", new[0]: "SETTLED", old[0]: "RETURNED"}
        assert query(url, "SELECT business_no, value_date FROM settlement_plan ORDER BY ord") == [
            (old[1], "2026-12-01"),
            (new[0], "2026-12-02"),
            (old[0], "2026-12-03"),
        ]


def test_v014_ledger_key_compares_bytes_and_keeps_the_postings(business_db, backend, tmp_path, monkeypatch):
    with older_database(14, backend, business_db, tmp_path, monkeypatch) as (url, upgrade):
        nos = seed_file(url, "COLC", [pay(1000), pay(2000)], state="SETTLED")
        for no in nos:
            for leg in ("D", "C"):
                execute(
                    url,
                    "INSERT INTO ledger_entries (business_no, leg, client_id, business_date, account,"
                    " amount_cents) VALUES (:n, :l, 'COLC', :d, 'COLC:X', 100)",
                    n=no,
                    l=leg,
                    d=DAY,
                )
        before = query(url, "SELECT * FROM ledger_entries ORDER BY entry_id")
        assert upgrade() == ["V014__ledger_key_bytewise"]
        assert query(url, "SELECT * FROM ledger_entries ORDER BY entry_id") == before
        if backend == "postgres":
            collations = query(
                url,
                "SELECT a.attname, c.collname FROM pg_attribute AS a INNER JOIN pg_collation AS c"
                " ON a.attcollation = c.oid WHERE a.attrelid = 'ledger_entries'::regclass"
                " AND a.attname IN ('business_no', 'leg') ORDER BY a.attname",
            )
            assert collations == [("business_no", "C"), ("leg", "C")]
        # Still the idempotency key, and still joined to records by business number.
        with pytest.raises(sqlalchemy.exc.IntegrityError):
            execute(
                url,
                "INSERT INTO ledger_entries (business_no, leg, client_id, business_date, account,"
                " amount_cents) VALUES (:n, 'D', 'COLC', :d, 'COLC:X', 100)",
                n=nos[0],
                d=DAY,
            )
        joined = query(
            url,
            "SELECT COUNT(*) FROM ledger_entries AS l INNER JOIN records AS r ON l.business_no = r.business_no",
        )
        assert joined == [(4,)]
