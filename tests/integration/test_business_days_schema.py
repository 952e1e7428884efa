"""Schema version 18 (sql/schema/V018__business_days_opened.sql): days whose intake ran before the
upgrade are recorded OPEN (unless closed), as the intake run of a date now records it."""

from __future__ import annotations

import pytest
from tests.schema_upgrade import older_database
from tests.settlement_seed import execute, pay, query, seed_file

pytestmark = pytest.mark.integration


def test_v018_records_the_days_intake_ran_as_open_and_keeps_closed_days_closed(
    business_db, backend, tmp_path, monkeypatch
):
    with older_database(18, backend, business_db, tmp_path, monkeypatch) as (url, upgrade):
        seed_file(url, "OPNA", [pay(100)], day="2026-11-25")  # intake of the 25th ran
        seed_file(url, "OPNB", [pay(100)], day="2026-11-26")  # and of the 26th, since closed
        execute(url, "INSERT INTO business_days (business_date, status) VALUES ('2026-11-26', 'CLOSED')")
        assert query(url, "SELECT COUNT(*) FROM business_days") == [(1,)]
        assert upgrade() == ["V018__business_days_opened", "V019__settlement_without_plan_rows"]
        assert query(url, "SELECT business_date, status FROM business_days ORDER BY business_date") == [
            ("2026-11-25", "OPEN"),
            ("2026-11-26", "CLOSED"),
        ]
