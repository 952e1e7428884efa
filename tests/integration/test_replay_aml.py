"""Replay of a day with anti-money-laundering holds: the archived release and block decisions
(four-eyes) are replayed, so the day replays byte for byte; a day whose archived AML decisions
were changed replays differently and says so.

The sample day runs through approval; a sanctions list naming two of BANKA's approved payments
(one payer or payee name each, chosen here from the day's own rows, each name on no other
payment) is configured; screening holds both; two people release the first, and the second is
blocked by two people after a third disagreed. Settlement and archive then run through their
DAGs. Local folders and the loopback S3 endpoint, as in test_replay.py.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from collections import Counter
from datetime import date

import pytest
from click.testing import CliRunner

from approval_seed import query
from daybook import aml, archive, crypto, db, sample
from daybook.cli import main
from daybook.config import PROJECT_ROOT
from daybook.runner import run_day, run_stage
from daybook.storage import open_store
from s3_fixtures import point_zones

pytest_plugins = ["s3_fixtures"]
pytestmark = pytest.mark.integration
DAY = date(2026, 11, 27)
PKG = "BANKA/2026-11-27"
DECISIONS = "aml/decisions.csv"


def _listed_names(url: str) -> list[tuple[str, str]]:
    """Two (business_no, name) of BANKA's approved payments, each name Chinese (matched exactly
    by screening) and on no other approved payment of the day, as payer or payee."""
    rows = query(
        url,
        "SELECT business_no, client_id, payload FROM records WHERE file_type = 'PAY' AND state = 'APPROVED'"
        " ORDER BY business_no",
    )
    parties = [(no, client, json.loads(p)) for no, client, p in rows]
    seen = Counter(n for _, _, p in parties for n in (p.get("payer_name"), p.get("payee_name")) if n)
    picked = []
    for no, client, p in parties:
        name = p.get("payee_name")
        if (
            client == "BANKA"
            and name
            and aml.is_chinese(name)
            and seen[name] == 1
            and seen[p["payer_name"]] == 1
        ):
            picked.append((no, name))
    assert len(picked) >= 2, "the sample day has two approved BANKA payments with names of their own"
    return picked[:2]


@pytest.fixture(scope="module", params=["local", "s3"])
def aml_day(request, tmp_path_factory, airflow_db):
    """The sample day with one AML hold released and one blocked, archived with a key; yields
    (zone kind, released business_no, blocked business_no)."""
    root = tmp_path_factory.mktemp("replay-aml-day")
    with pytest.MonkeyPatch.context() as mp:
        zones = point_zones(mp, request.param, root, request, "daybook-replay-aml")
        url = f"sqlite:///{root / 'business.db'}"
        mp.setenv("DAYBOOK_DB_URL", url)
        mp.setenv("DAYBOOK_DEMO_APPROVER", "test.reviewer.a,test.reviewer.b")
        mp.setenv(crypto.ENV_VAR, crypto.connection_env_value(crypto.generate_key()))
        db.migrate()
        sample.generate_day(open_store(zones["landing"]), DAY)
        states = run_day(DAY.isoformat(), through="approval")
        assert set(states.values()) == {"success"}, states
        (released, released_name), (blocked, blocked_name) = _listed_names(url)
        config = root / "aml-config"
        config.mkdir()
        shutil.copy(PROJECT_ROOT / "config" / "aml" / "thresholds.yaml", config / "thresholds.yaml")
        (config / "sanctions.csv").write_text(
            f"entry_id,name,kind,program\nT-0001,{released_name},person,TEST\nT-0002,{blocked_name},person,TEST\n",
            encoding="utf-8",
        )
        mp.setenv("DAYBOOK_AML_CONFIG", str(config))
        assert aml.screen(DAY.isoformat()) == {"SANCTIONS": 2, "STRUCTURING": 0}
        assert aml.release(released, "aml.officer.a", "namesake, other birth date") == "OPEN"
        assert aml.release(released, "aml.officer.b", "agree") == "RELEASED"
        assert aml.block(blocked, "aml.officer.a", "listed person") == "OPEN"
        assert aml.release(blocked, "aml.officer.b", "not convinced") == "OPEN"  # disagreement
        assert aml.block(blocked, "aml.officer.c", "confirmed match") == "BLOCKED"
        for stage in ("settlement", "archive"):
            assert run_stage(stage, DAY.isoformat()) == "success", stage
        # The day's outcome depends on the decisions: released settled, blocked returned.
        assert query(url, "SELECT state, final_code FROM records WHERE business_no = :n", n=released) == [
            ("SETTLED", None)
        ]
        assert query(url, "SELECT state, final_code FROM records WHERE business_no = :n", n=blocked) == [
            ("RETURNED", "M_AML_HOLD")
        ]
        yield request.param, released, blocked
        db._engine_for(url).dispose()


def _replay_cli() -> tuple[int, str]:
    result = CliRunner().invoke(main, ["replay", "--client", "BANKA", "--date", DAY.isoformat()])
    return result.exit_code, result.output


def test_replay_of_a_day_with_an_aml_release_and_block_matches_byte_for_byte(aml_day):
    kind, released, blocked = aml_day
    assert archive.archive_store().root.startswith("s3://") == (kind == "s3")
    manifest = archive.read_manifest("BANKA", DAY.isoformat())
    decisions = list(csv.DictReader(io.StringIO(archive.read_member(manifest, DECISIONS).decode())))
    assert [(d["business_no"], d["decision"], d["decided_by"]) for d in decisions] == [
        (released, "RELEASE", "aml.officer.a"),
        (released, "RELEASE", "aml.officer.b"),
        (blocked, "BLOCK", "aml.officer.a"),
        (blocked, "RELEASE", "aml.officer.b"),
        (blocked, "BLOCK", "aml.officer.c"),
    ]
    ret = archive.read_member(manifest, "returns/BANKA_PAY_20261127_001.ret.csv").decode()
    assert any(line.split(",")[1] == blocked and "M_AML_HOLD" in line for line in ret.splitlines()), ret
    assert any(line.split(",")[1] == released and ",SETTLED," in line for line in ret.splitlines()), ret
    code, out = _replay_cli()
    assert code == 0, out
    assert out.strip().splitlines()[-1] == "MATCH: 6 members compared"


def test_replay_reports_a_day_whose_archived_aml_decisions_were_changed(aml_day):
    """Without the releases (the second officer's release dropped), the held payment is not
    released in the replay: it expires at the cutoff and is returned, not settled."""
    kind, released, _ = aml_day
    store, key = archive.archive_store(), crypto.archive_key()
    manifest = archive.read_manifest("BANKA", DAY.isoformat())
    original_sealed = store.get(f"{PKG}/{DECISIONS}.enc")
    lines = archive.read_member(manifest, DECISIONS).decode().splitlines(keepends=True)
    forged = "".join(line for line in lines if "aml.officer.b,agree" not in line).encode()
    assert len(forged) < sum(len(line) for line in lines)
    archive.put_object(store, f"{PKG}/{DECISIONS}.enc", key.seal(forged, DECISIONS))
    try:
        code, out = _replay_cli()
    finally:
        archive.put_object(store, f"{PKG}/{DECISIONS}.enc", original_sealed)
    assert code == 1, out
    diffs = out.strip().splitlines()
    assert f"DIFF {DECISIONS}: sha256 differs from the manifest" in diffs, out
    assert any(
        line.startswith("DIFF returns/BANKA_PAY_20261127_001.ret.csv: bytes differ") for line in diffs
    ), out
    assert "DIFF ledger.csv: postings differ" in diffs, out
