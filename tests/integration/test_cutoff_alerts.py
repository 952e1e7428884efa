"""The hourly settlement-cutoff check (deadlines.check_cutoffs): SETTLEMENT_LATE for a client
whose approved records still wait at its settlement cutoff, and a client whose profile cannot be
used holds only its own check (PROFILE_INVALID), never the other clients' or the hourly run. A
broken settlement cutoff reads the same in its PROFILE_INVALID alert whether this check or AML
hold expiry (the other reader of that cutoff) meets it first."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from tests.settlement_seed import DAY, pay, query, seed_file, write_profile

from daybook import aml, deadlines

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
    [(message, stage)] = query(business_db, "SELECT message, stage FROM alert_events")
    assert "BADC.yaml" in message and "settlement cutoff is not checked" in message
    # The stage held is settlement (docs/runbooks/profile_invalid.md), not the catalogue's intake.
    assert stage == "settlement"

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


def _profile_invalid(url):
    return query(
        url,
        "SELECT message, dedup_key, stage FROM alert_events WHERE kind = 'PROFILE_INVALID' ORDER BY alert_id",
    )


@pytest.mark.parametrize(
    ("cutoffs", "found"),
    [
        ('{intake: "16:00", approval: "18:00", settlement: 19:00}', "1140"),  # YAML: 19*60 + 0
        ('{intake: "16:00", approval: "18:00", settlement: "25:00"}', "'25:00'"),  # no such hour
        ('{intake: "16:00", approval: "18:00", settlement: "19:00:00"}', "'19:00:00'"),
        ('"19:00"', "'19:00'"),  # cutoffs not a mapping
    ],
)
def test_hourly_check_and_aml_expiry_describe_a_broken_settlement_cutoff_in_the_same_words(
    business_db, tmp_path, monkeypatch, cutoffs, found
):
    folder = write_profile(tmp_path / "profiles", monkeypatch, "BADC", "1000.00")
    seed_file(business_db, "BADC", [pay(10_000, payee="Amara O'Fictio-Nwosu")])  # S-0003
    assert aml.screen(DAY) == {"SANCTIONS": 1, "STRUCTURING": 0}  # an open case for expire_holds
    after = datetime(2026, 11, 27, 20, 0, tzinfo=SH)
    expected = (
        "client profile BADC.yaml of BADC cannot be used: "
        f'cutoffs.settlement must be a time in quotes, "HH:MM", found {found}; '
    )

    # Content 1: the hourly check meets it first, AML expiry finds the alert raised.
    (folder / "BADC.yaml").write_text(f"client_id: BADC\ncutoffs: {cutoffs}\n", encoding="utf-8")
    assert deadlines.check_cutoffs(DAY, after) == []
    assert aml.expire_holds(DAY, now=after) == 0
    [(by_check, key_1, stage_1)] = _profile_invalid(business_db)

    # Content 2 (the same cutoff, one comment more): AML expiry first, then the hourly check.
    (folder / "BADC.yaml").write_text(f"client_id: BADC\n# edited\ncutoffs: {cutoffs}\n", encoding="utf-8")
    assert aml.expire_holds(DAY, now=after) == 0
    assert deadlines.check_cutoffs(DAY, after) == []
    [_, (by_aml, key_2, stage_2)] = _profile_invalid(business_db)

    assert key_1 != key_2, "one alert per profile content and date"
    assert by_check.startswith(expected) and by_aml.startswith(expected), (by_check, by_aml)
    assert "settlement cutoff is not checked" in by_check and "AML cases are not expired" in by_aml
    assert stage_1 == stage_2 == "settlement", "both hold the client's settlement"


def test_a_broken_intake_cutoff_does_not_hold_the_settlement_cutoff_check(business_db, tmp_path, monkeypatch):
    """Like AML expiry, the check reads the settlement cutoff only: intake holds the client for its
    own broken cutoff, the client's settlement cutoff is still its own and is checked."""
    folder = tmp_path / "profiles"
    write_profile(folder, monkeypatch, "BADC", "1000.00")
    (folder / "BADC.yaml").write_text(
        'client_id: BADC\ncutoffs: {intake: 16:00, approval: "18:00", settlement: "19:00"}\n',
        encoding="utf-8",
    )
    seed_file(business_db, "BADC", [pay(10_000)])
    assert deadlines.check_cutoffs(DAY, datetime(2026, 11, 27, 18, 59, tzinfo=SH)) == []
    assert deadlines.check_cutoffs(DAY, datetime(2026, 11, 27, 19, 0, tzinfo=SH)) == [
        f"settlement-late:BADC:{DAY}"
    ]
    assert [kind for kind, _, _ in _alerts(business_db)] == ["SETTLEMENT_LATE"]
