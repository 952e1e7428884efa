"""Planner statistics after bulk steps: approval routing and settlement leave fresh statistics of
the tables they changed (PostgreSQL ANALYZE), so the next stage's queries are planned on the
day as it is; SQLite keeps none and the call is a no-op there."""

from __future__ import annotations

import pytest
from tests import approval_seed
from tests.settlement_seed import DAY, pay, query, seed_file, write_profile

from daybook import approval, db, settlement

pytestmark = pytest.mark.integration


def _analyzed(url: str, table: str) -> int:
    return query(url, "SELECT analyze_count FROM pg_stat_user_tables WHERE relname = :t", t=table)[0][0]


def test_analyze_refreshes_the_statistics_of_the_tables_named(business_db, backend):
    if backend == "sqlite":
        db.analyze("records", "ledger_transfers")
        # Nothing was asked of SQLite: it has no statistics tables (ANALYZE would create them).
        assert query(business_db, "SELECT name FROM sqlite_master WHERE name LIKE 'sqlite_stat%'") == []
        return
    before = _analyzed(business_db, "records"), _analyzed(business_db, "ledger_transfers")
    db.analyze("records")
    assert _analyzed(business_db, "records") == before[0] + 1
    assert _analyzed(business_db, "ledger_transfers") == before[1]


def test_routing_refreshes_the_statistics_of_records(business_db, backend, tmp_path, monkeypatch):
    if backend == "sqlite":
        pytest.skip("SQLite keeps no planner statistics")
    approval_seed.write_profiles(tmp_path / "profiles", monkeypatch, "STATA")
    approval_seed.seed_file(business_db, "STATA", "PAY", [approval_seed.pay(1000)])
    records = _analyzed(business_db, "records")
    approval.assess(DAY)
    assert _analyzed(business_db, "records") == records + 1


def test_settlement_refreshes_the_statistics_of_records_and_postings(
    business_db, backend, tmp_path, monkeypatch
):
    if backend == "sqlite":
        pytest.skip("SQLite keeps no planner statistics")
    write_profile(tmp_path / "profiles", monkeypatch, "STATS", "1000.00")
    seed_file(business_db, "STATS", [pay(10000)])
    records, ledger = _analyzed(business_db, "records"), _analyzed(business_db, "ledger_transfers")
    settlement.post_ledger(DAY)
    assert _analyzed(business_db, "records") == records + 1
    assert _analyzed(business_db, "ledger_transfers") == ledger + 1
