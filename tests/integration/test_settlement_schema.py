"""Schema version 9 (sql/schema/V009__settlement_bulk_posting.sql): postings without a foreign
key to records, records without an index on state; an existing ledger survives the upgrade."""

from __future__ import annotations

import pytest
import sqlalchemy
from tests.schema_upgrade import older_database
from tests.settlement_seed import DAY, assert_balanced, execute, pay, post, query, seed_file, write_profile

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
    post(business_db, "NOSUCH-PAY-20261127-001-000001", "NOSUCH", 100)
    assert query(business_db, "SELECT COUNT(*) FROM ledger_transfers") == [(1,)]
    assert query(business_db, "SELECT leg, account FROM ledger_entries ORDER BY entry_id") == [
        ("D", "NOSUCH:PREFUND"),
        ("C", "NOSUCH:CLEARING"),
    ]


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
        assert "V009__settlement_bulk_posting" in upgrade(through=14)
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


def test_ledger_keyed_by_business_number(business_db, backend):
    """V015: one row per posting in ledger_transfers, keyed by the business number (on PostgreSQL
    the primary key, compared bytewise; the id has no index of its own and the day index is
    BRIN); ledger_entries shows each posting as its debit and its credit entry."""
    if backend == "postgres":
        key = query(
            business_db,
            "SELECT a.attname, c.collname FROM pg_index AS i INNER JOIN pg_attribute AS a"
            " ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
            " INNER JOIN pg_collation AS c ON a.attcollation = c.oid"
            " WHERE i.indrelid = 'ledger_transfers'::regclass AND i.indisprimary",
        )
        assert key == [("business_no", "C")]
        assert query(
            business_db,
            "SELECT indexdef LIKE '%USING brin%' FROM pg_indexes WHERE indexname = 'ix_ledger_transfers_day'",
        ) == [(True,)]
        assert _indexes(business_db, backend, "ledger_transfers") == {
            "ledger_transfers_pkey",
            "ix_ledger_transfers_day",
        }
        assert query(business_db, "SELECT relkind FROM pg_class WHERE relname = 'ledger_entries'") == [("v",)]
    else:
        assert query(business_db, "SELECT type FROM sqlite_master WHERE name = 'ledger_entries'") == [
            ("view",)
        ]
    post(business_db, "KEYC-PAY-20261127-001-000001", "KEYC", 100)
    post(business_db, "KEYC-PAY-20261127-001-000002", "KEYC", 250, debit="LOANS", credit="DISBURSEMENT")
    entries = query(
        business_db,
        "SELECT entry_id, business_no, leg, account, amount_cents FROM ledger_entries ORDER BY entry_id",
    )
    assert [e[1:] for e in entries] == [
        ("KEYC-PAY-20261127-001-000001", "D", "KEYC:PREFUND", 100),
        ("KEYC-PAY-20261127-001-000001", "C", "KEYC:CLEARING", 100),
        ("KEYC-PAY-20261127-001-000002", "D", "KEYC:LOANS", 250),
        ("KEYC-PAY-20261127-001-000002", "C", "KEYC:DISBURSEMENT", 250),
    ]
    assert len({e[0] for e in entries}) == 4
    with pytest.raises(sqlalchemy.exc.IntegrityError):  # one posting per business number
        post(business_db, "KEYC-PAY-20261127-001-000001", "KEYC", 100, debit="X", credit="Y")


def test_v013_plans_payments_from_before_the_upgrade_by_their_payload(
    business_db, backend, tmp_path, monkeypatch
):
    # Payments written before V013 have no value_date column: V019 sets it from the payload, and
    # settlement orders by the column. Limit 250.00, three payments of 100.00:
    # the two earliest value dates settle, the third returns H_FUNDS.
    write_profile(tmp_path / "profiles", monkeypatch, "VDC", "250.00")
    with older_database(13, backend, business_db, tmp_path, monkeypatch) as (url, upgrade):
        old = seed_file(url, "VDC", [pay(10000, "2026-12-03"), pay(10000, "2026-12-01")])
        assert upgrade() == [
            "V013__records_value_date",
            "V014__ledger_key_bytewise",
            "V015__ledger_transfers",
            "V016__records_payer_id",
            "V017__aml_screenings",
            "V018__business_days_opened",
            "V019__settlement_without_plan_rows",
        ]
        # V019 gave them the payload's value date as their column.
        assert sorted(query(url, "SELECT business_no, value_date FROM records")) == sorted(
            [(old[0], "2026-12-03"), (old[1], "2026-12-01")]
        )
        new = seed_file(url, "VDC", [pay(10000, "2026-12-09")], seq="002")
        # Written after the upgrade, as validation writes it: the column says the 2nd (the
        # payload's 9th is what the column replaces, so only the column can put it first).
        execute(url, "UPDATE records SET value_date = '2026-12-02' WHERE business_no = :n", n=new[0])
        assert settlement.post_ledger(DAY) == {"SETTLED": 2, "DISBURSED": 0, "RETURNED_FUNDS": 1}
        got = dict(query(url, "SELECT business_no, state FROM records"))
        assert got == {old[1]: "SETTLED", new[0]: "SETTLED", old[0]: "RETURNED"}


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
        assert upgrade(through=14) == ["V014__ledger_key_bytewise"]
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


def _legs(url: str) -> list[tuple]:
    """The entries without their ids (renumbered by V015), in id order."""
    rows = query(
        url,
        "SELECT business_no, leg, client_id, business_date, account, amount_cents, posted_at"
        " FROM ledger_entries ORDER BY entry_id",
    )
    return [tuple(str(v) for v in row) for row in rows]


def test_v015_turns_each_pair_of_entries_into_one_posting(business_db, backend, tmp_path, monkeypatch):
    with older_database(15, backend, business_db, tmp_path, monkeypatch) as (url, upgrade):
        nos = seed_file(url, "TRFC", [pay(1000), pay(2000), pay(3000)], state="SETTLED")
        # Entries in an order of their own (the third payment posted first, credits before
        # debits); the loan-style accounts of the second show that accounts are kept as they were.
        for no, cents, debit, credit in (
            (nos[2], 3000, "TRFC:PREFUND", "TRFC:CLEARING"),
            (nos[0], 1000, "TRFC:PREFUND", "TRFC:CLEARING"),
            (nos[1], 2000, "TRFC:LOANS", "TRFC:DISBURSEMENT"),
        ):
            for leg, account in (("C", credit), ("D", debit)):
                execute(
                    url,
                    "INSERT INTO ledger_entries (business_no, leg, client_id, business_date, account,"
                    " amount_cents, posted_at) VALUES (:n, :l, 'TRFC', :d, :a, :c, '2026-11-27 18:00:00')",
                    n=no,
                    l=leg,
                    d=DAY,
                    a=account,
                    c=cents,
                )
        before = sorted(_legs(url))
        first_of_each = [
            r[0] for r in query(url, "SELECT business_no FROM ledger_entries ORDER BY entry_id")
        ][::2]
        assert upgrade(through=15) == ["V015__ledger_transfers"]
        assert sorted(_legs(url)) == before
        assert query(url, "SELECT COUNT(*) FROM ledger_transfers") == [(3,)]
        # Renumbered in the order of each posting's first entry: debit 2n - 1, credit 2n.
        after = query(url, "SELECT entry_id, business_no, leg FROM ledger_entries ORDER BY entry_id")
        assert [r[1] for r in after][::2] == first_of_each == [nos[2], nos[0], nos[1]]
        assert [(r[0], r[2]) for r in after] == [(1, "D"), (2, "C"), (3, "D"), (4, "C"), (5, "D"), (6, "C")]
        # New postings continue after the copied ones, and the key holds.
        post(url, "TRFC-PAY-20261127-002-000001", "TRFC", 500)
        assert (
            query(
                url,
                "SELECT MIN(entry_id) FROM ledger_entries WHERE business_no = 'TRFC-PAY-20261127-002-000001'",
            )[0][0]
            > 6
        )
        with pytest.raises(sqlalchemy.exc.IntegrityError):
            post(url, nos[0], "TRFC", 1000)
        execute(url, "DELETE FROM ledger_transfers WHERE business_no = 'TRFC-PAY-20261127-002-000001'")
        assert_balanced(url)


def test_v015_refuses_entries_that_do_not_pair_up(business_db, backend, tmp_path, monkeypatch):
    with older_database(15, backend, business_db, tmp_path, monkeypatch) as (url, upgrade):
        nos = seed_file(url, "UNPC", [pay(1000), pay(2000)], state="SETTLED")
        entries = [
            (nos[0], "D", "UNPC:PREFUND", 1000),
            (nos[0], "C", "UNPC:CLEARING", 1000),
            (nos[1], "D", "UNPC:PREFUND", 2000),  # its credit is missing
        ]
        for no, leg, account, cents in entries:
            execute(
                url,
                "INSERT INTO ledger_entries (business_no, leg, client_id, business_date, account, amount_cents)"
                " VALUES (:n, :l, 'UNPC', :d, :a, :c)",
                n=no,
                l=leg,
                d=DAY,
                a=account,
                c=cents,
            )
        before = query(url, "SELECT * FROM ledger_entries ORDER BY entry_id")
        with pytest.raises(
            settlement.LedgerUpgradeError, match=rf"1 business numbers .*{nos[1]} \(1 entries\)"
        ):
            upgrade()
        # Rolled back: still the table of V014 with its three entries, V015 not recorded.
        assert query(url, "SELECT * FROM ledger_entries ORDER BY entry_id") == before
        assert query(url, "SELECT COUNT(*) FROM schema_version WHERE version = 'V015__ledger_transfers'") == [
            (0,)
        ]
        execute(
            url,
            "INSERT INTO ledger_entries (business_no, leg, client_id, business_date, account, amount_cents)"
            " VALUES (:n, 'C', 'UNPC', :d, 'UNPC:CLEARING', 2000)",
            n=nos[1],
            d=DAY,
        )
        assert upgrade(through=15) == ["V015__ledger_transfers"]
        assert query(url, "SELECT COUNT(*) FROM ledger_transfers") == [(2,)]
        assert_balanced(url)
