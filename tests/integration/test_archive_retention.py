"""Retention: expired packages are deleted with a certificate, legal holds block deletion.

``today`` is injected; the package of 2026-11-27 is kept 10 years, so it expires after
2036-11-27 (a date fixed here by hand, not read from the code).
"""

from __future__ import annotations

import hashlib
import json

import pytest
import sqlalchemy
from test_archive_package import CLIENT, DAY, PAY_CSV, _seed

from daybook import archive, crypto, retention

pytest_plugins = ["s3_fixtures"]
pytestmark = pytest.mark.integration


@pytest.fixture
def backend() -> str:
    return "sqlite"


@pytest.fixture
def archived(business_db, intake_zones, monkeypatch):
    monkeypatch.setenv(crypto.ENV_VAR, crypto.connection_env_value(crypto.generate_key()))
    _seed(intake_zones)
    archive.build_package(CLIENT, DAY)
    return business_db


def _pkg_objects() -> list[str]:
    return archive.archive_store().list("BANKA/2026-11-27/")


def test_a_package_is_kept_until_its_retention_date(archived):
    assert retention.delete_expired("2036-11-27", approved_by="carol") == {
        "deleted": [],
        "held": [],
        "certificates": [],
    }
    assert _pkg_objects()


def test_an_expired_package_is_deleted_with_a_certificate_of_what_when_and_who(archived):
    out = retention.delete_expired("2036-11-28", approved_by="carol")
    assert out["deleted"] == ["BANKA/2026-11-27"]
    assert _pkg_objects() == []
    store = archive.archive_store()
    cert = json.loads(store.get("_certificates/retention/BANKA/2026-11-27.json"))
    assert cert["deleted_on"] == "2036-11-28" and cert["approved_by"] == "carol"
    hashes = {m["path"]: m["sha256"] for m in cert["members"]}
    assert hashes["originals/BANKA_PAY_20261127_001.csv"] == hashlib.sha256(PAY_CSV).hexdigest()
    eng = sqlalchemy.create_engine(archived)
    with eng.connect() as conn:
        row = conn.execute(
            sqlalchemy.text("SELECT approved_by, certificate_sha256 FROM deletion_certificates")
        ).one()
        deleted_at = conn.execute(sqlalchemy.text("SELECT deleted_at FROM archives")).scalar_one()
    eng.dispose()
    assert row[0] == "carol"
    assert row[1] == hashlib.sha256(store.get("_certificates/retention/BANKA/2026-11-27.json")).hexdigest()
    assert deleted_at is not None
    assert retention.delete_expired("2036-11-29", approved_by="carol")["deleted"] == [], "deleted once"


@pytest.mark.parametrize("hold_date", [None, DAY])
def test_a_legal_hold_on_the_client_or_the_date_blocks_deletion_until_released(archived, hold_date):
    retention.place_hold(CLIENT, "court order 2036-17", "legal.dept", business_date=hold_date)
    retention.place_hold(CLIENT, "other day only", "legal.dept", business_date="2026-11-26")
    out = retention.delete_expired("2036-11-28", approved_by="carol")
    assert out["held"] == ["BANKA/2026-11-27"] and out["deleted"] == []
    assert _pkg_objects()
    hold_id = retention.holds_on(CLIENT, DAY)[0]["hold_id"]
    assert retention.release_hold(hold_id, "legal.dept")
    assert retention.delete_expired("2036-11-28", approved_by="carol")["deleted"] == ["BANKA/2026-11-27"]
