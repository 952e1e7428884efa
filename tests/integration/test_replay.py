"""Replay end to end: a real sample day (intake through archive, sealed with a key) replayed
from its archive matches byte for byte; a tampered or deleted archived member is reported.

The day runs with its zones (landing, raw, outputs, archive) on local folders and on the
loopback S3 endpoint (moto server): replay reads the archive through the same store interface
either way. One day is run per zone kind for the whole module (it is the slow part) and replayed
twice. SQLite only: replay always runs into a scratch SQLite database, and the live day on
PostgreSQL is covered by test_business_day; running the day again on PostgreSQL would double
this file's time.
"""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from click.testing import CliRunner

from daybook import archive, crypto, db, sample
from daybook.cli import main
from daybook.runner import run_day
from daybook.storage import open_store
from s3_fixtures import point_zones

pytest_plugins = ["s3_fixtures"]
pytestmark = pytest.mark.integration
DAY = date(2026, 11, 27)
PKG = "BANKA/2026-11-27"


@pytest.fixture(scope="module", params=["local", "s3"])
def archived_day(request, tmp_path_factory, airflow_db):
    """The sample day run through every stage with an archive key; yields the zone kind."""
    root = tmp_path_factory.mktemp("replay-day")
    with pytest.MonkeyPatch.context() as mp:
        zones = point_zones(mp, request.param, root, request, "daybook-replay")
        url = f"sqlite:///{root / 'business.db'}"
        mp.setenv("DAYBOOK_DB_URL", url)
        mp.setenv("DAYBOOK_DEMO_APPROVER", "test.reviewer.a,test.reviewer.b")
        mp.setenv(crypto.ENV_VAR, crypto.connection_env_value(crypto.generate_key()))
        db.migrate()
        sample.generate_day(open_store(zones["landing"]), DAY)
        states = run_day(DAY.isoformat())
        assert set(states.values()) == {"success"}, states
        yield request.param
        db._engine_for(url).dispose()


def _replay_cli(tmp_path) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["replay", "--client", "BANKA", "--date", DAY.isoformat()])
    return result.exit_code, result.output


def _csv(manifest: dict, path: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(archive.read_member(manifest, path).decode())))


def test_replay_of_an_archived_day_matches_byte_for_byte(archived_day, tmp_path):
    store = archive.archive_store()
    assert store.root.startswith("s3://") == (archived_day == "s3")
    # The package really is sealed: replay has to open it with the key, not read plaintext.
    assert store.exists(f"{PKG}/returns/BANKA_PAY_20261127_001.ret.csv.enc")
    assert not store.exists(f"{PKG}/returns/BANKA_PAY_20261127_001.ret.csv")
    # The day has what replay must reproduce: a refused file, rejected rows, people's
    # approval decisions, and settled payments in the ledger.
    manifest = archive.read_manifest("BANKA", DAY.isoformat())
    assert "returns/BANKA_PAY_20261127_01.rej" in {m["path"] for m in manifest["members"]}
    import pyarrow.parquet as pq

    states = pq.read_table(io.BytesIO(archive.read_member(manifest, "records.parquet")))["state"].to_pylist()
    assert {"REJECTED", "SETTLED"} <= set(states), sorted(set(states))
    assert {a["decided_by"] for a in _csv(manifest, "approvals.csv")} >= {"test.reviewer.a"}
    assert {e["leg"] for e in _csv(manifest, "ledger.csv")} == {"D", "C"}
    code, out = _replay_cli(tmp_path)
    assert code == 0, out
    # BANKA's day: one refused file (.rej), two accepted files (.ack.csv and .ret.csv each),
    # plus the ledger: 6 comparisons.
    assert out.strip().splitlines()[-1] == "MATCH: 6 members compared"


def test_replay_reports_a_rewritten_return_file_and_a_deleted_member(archived_day, tmp_path):
    store, key = archive.archive_store(), crypto.archive_key()
    ret = "returns/BANKA_PAY_20261127_001.ret.csv"
    forged = (
        b"client_ref,business_no,status,reason_code,amount,final_date\nFORGED,X,SETTLED,,1.00,2026-11-27\n"
    )
    archive.put_object(store, f"{PKG}/{ret}.enc", key.seal(forged, ret))  # archive's own write path
    store.delete(f"{PKG}/returns/BANKA_PAY_20261127_01.rej.enc")
    code, out = _replay_cli(tmp_path)
    assert code == 1, out
    lines = out.strip().splitlines()
    assert any(
        line.startswith(f"DIFF {ret}: bytes differ (line 2: archived b'FORGED,X,SETTLED") for line in lines
    ), out
    assert any(line.startswith(f"DIFF {ret}: sha256 differs from the manifest") for line in lines), out
    assert "DIFF returns/BANKA_PAY_20261127_01.rej: missing from the archive" in lines, out
    assert lines[-1].startswith("DIFFERENT:")
