"""The hourly settlement-cutoff check (deadlines.check_cutoffs): SETTLEMENT_LATE for a client
whose approved records still wait at its settlement cutoff, and a client whose profile cannot be
used holds only its own check (PROFILE_INVALID), never the other clients' or the hourly run."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from tests.settlement_seed import DAY, pay, query, seed_file, write_profile

from daybook import deadlines

pytestmark = pytest.mark.integration
SH = ZoneInfo("Asia/Shanghai")


def _alerts(url):
    return sorted(query(url, "SELECT kind, dedup_key, client_id FROM alert_events"))


@pytest.mark.parametrize(
    "bad_profile",
    [
        'client_id: BADC\ncutoffs: {intake: "16:00", approval: "18:00", settlement: 19:00}\n',  # 19:00 unquoted
        "client_id: OTHERC\n",  # another client's id
        "client_id: BADC\ncutoffs: [unclosed\n",  # not YAML
    ],
)
def test_a_broken_profile_holds_only_its_own_clients_cutoff_check(
    business_db, tmp_path, monkeypatch, bad_profile
):
    folder = write_profile(tmp_path / "profiles", monkeypatch, "GOODC", "1000.00")
    (folder / "BADC.yaml").write_text(bad_profile, encoding="utf-8")
    seed_file(business_db, "GOODC", [pay(10000)])
    seed_file(business_db, "BADC", [pay(20000)])

    # 18:59: before GOODC's 19:00 cutoff; BADC is alerted as unusable, nothing else.
    assert deadlines.check_cutoffs(DAY, datetime(2026, 11, 27, 18, 59, tzinfo=SH)) == []
    [(kind, key, client)] = _alerts(business_db)
    assert kind == "PROFILE_INVALID" and key.startswith("profile-invalid:BADC:") and client is None
    message = query(business_db, "SELECT message FROM alert_events")[0][0]
    assert "BADC.yaml" in message and "settlement cutoff is not checked" in message

    # 19:00: GOODC's approved payment still waits; BADC's alert is not raised twice.
    assert deadlines.check_cutoffs(DAY, datetime(2026, 11, 27, 19, 0, tzinfo=SH)) == [
        f"settlement-late:GOODC:{DAY}"
    ]
    assert deadlines.check_cutoffs(DAY, datetime(2026, 11, 27, 20, 0, tzinfo=SH)) == [
        f"settlement-late:GOODC:{DAY}"
    ]
    assert [(k, c) for k, _, c in _alerts(business_db)] == [
        ("PROFILE_INVALID", None),
        ("SETTLEMENT_LATE", "GOODC"),
    ]

    # Fixed: BADC is checked like any other client.
    write_profile(folder, monkeypatch, "BADC", "1000.00")
    assert sorted(deadlines.check_cutoffs(DAY, datetime(2026, 11, 27, 19, 0, tzinfo=SH))) == [
        f"settlement-late:BADC:{DAY}",
        f"settlement-late:GOODC:{DAY}",
    ]
