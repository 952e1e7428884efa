"""The failure catalogue: each condition, raised the way its owning stage raises it, reaches the
on-call exactly once per channel its severity routes to, with its runbook link; raising it again
(the condition persists, the stage reruns) sends nothing more."""

from __future__ import annotations

import hashlib
import os
import shutil
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from alert_receivers import start
from daybook import alerting, db, events, intake, kpi
from daybook.dag_support import record_task_failure
from s3_fixtures import CLIENT, DAY, DAY8, drop, pay_csv

pytest_plugins = ["s3_fixtures"]
pytestmark = pytest.mark.integration
SH = ZoneInfo("Asia/Shanghai")
ALL_PAST = datetime(2026, 11, 27, 17, 30, tzinfo=SH)  # past BANKA's (16:00) and TRUSTB's intake cutoff
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(params=["local"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(autouse=True)
def own_profiles(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sample profiles in a folder of the test's own, so a scenario may add a broken one."""
    folder = tmp_path / "profiles"
    shutil.copytree(ROOT / "config" / "profiles", folder)
    monkeypatch.setenv("DAYBOOK_PROFILES", str(folder))


@pytest.fixture
def receivers(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DAYBOOK_OPS_EMAIL", "oncall@example.com")
    received, stop = start(monkeypatch)
    yield received
    stop()


def _owner_event(kind: str, key: str, message: str, severity: str = "warning", client: str | None = CLIENT):
    def raise_it(_zones) -> None:
        with db.begin() as conn:
            events.alert(
                conn, kind, message, dedup_key=key, severity=severity, client_id=client, business_date=DAY
            )

    return raise_it


def _unknown_client(zones) -> None:
    zones.landing.put(f"ZZBANK/inbox/ZZBANK_PAY_{DAY8}_001.csv", b"x")
    intake.list_drops(DAY)


def _incomplete(zones) -> None:
    drop(zones.landing, f"{CLIENT}_PAY_{DAY8}_001.csv", pay_csv(["1.00"]).encode())  # no control file
    intake.alert_at_cutoff(DAY, ALL_PAST)


def _orphan_control(zones) -> None:
    zones.landing.put(f"{CLIENT}/inbox/{CLIENT}_PAY_{DAY8}_002.ctl", b"x")  # its data file never came
    intake.alert_at_cutoff(DAY, ALL_PAST)


BROKEN_PROFILE = "client_id: BANKX\n"  # in BANKC.yaml: names another client
BROKEN_VERSION = hashlib.sha256(BROKEN_PROFILE.encode()).hexdigest()


def _invalid_profile(zones) -> None:
    # into the test's own profile folder (``own_profiles``)
    Path(os.environ["DAYBOOK_PROFILES"], "BANKC.yaml").write_text(BROKEN_PROFILE)
    zones.landing.put(f"BANKC/inbox/BANKC_PAY_{DAY8}_001.csv", b"x")
    intake.list_drops(DAY)


def _missing(_zones) -> None:
    intake.alert_at_cutoff(DAY, ALL_PAST)


def _reject_spike(_zones) -> None:
    with db.begin() as conn:
        conn.exec_driver_sql(
            "INSERT OR IGNORE INTO files (folder, name, stem, client_id, file_type, business_date, intake_date, sha256,"
            " size_bytes, raw_key, status, reason_code) VALUES ('BANKA', 'BANKA_PAY_20261127_009.csv',"
            " 'BANKA_PAY_20261127_009', 'BANKA', 'PAY', ?, ?, 'ab', 10, 'raw/x', 'REJECTED', 'F_ERROR_RATE')",
            (DAY, DAY),
        )
    kpi.check_reject_spikes(DAY)


def _task_failed(_zones) -> None:
    ti = SimpleNamespace(
        dag_id="settlement_daily", run_id="manual__1", task_id="post_ledger", map_index=-1, try_number=3
    )
    record_task_failure(
        {"ti": ti, "params": {"business_date": DAY}, "exception": RuntimeError("ledger locked")}
    )


# (raise, dedup key, kind, client shown, channels that must each carry exactly one message)
SCENARIOS = {
    "late file": (_missing, f"missing:{CLIENT}:LOAN:{DAY}", "MISSING_FILE", CLIENT, {"slack", "email"}),
    "incomplete file": (
        _incomplete,
        f"incomplete:{CLIENT}/{CLIENT}_PAY_{DAY8}_001.csv:{DAY}",
        "INCOMPLETE_FILE",
        CLIENT,
        {"slack", "email"},
    ),
    "control file without its data file": (
        _orphan_control,
        f"incomplete:{CLIENT}/{CLIENT}_PAY_{DAY8}_002.ctl:{DAY}",
        "INCOMPLETE_FILE",
        CLIENT,
        {"slack", "email"},
    ),
    "unknown client": (
        _unknown_client,
        f"unknown-client:ZZBANK:{DAY}",
        "UNKNOWN_CLIENT",
        "-",
        {"pagerduty", "slack", "email"},
    ),
    "invalid client profile": (
        _invalid_profile,
        f"profile-invalid:BANKC:{BROKEN_VERSION[:16]}:{DAY}",
        "PROFILE_INVALID",
        "-",
        {"pagerduty", "slack", "email"},
    ),
    "reject spike": (
        _reject_spike,
        f"reject-spike:{CLIENT}:{DAY}",
        "REJECT_SPIKE",
        CLIENT,
        {"slack", "email"},
    ),
    "approval backlog": (
        _owner_event("APPROVAL_BACKLOG", f"approval-backlog:{CLIENT}:{DAY}", "12 records wait for review"),
        f"approval-backlog:{CLIENT}:{DAY}",
        "APPROVAL_BACKLOG",
        CLIENT,
        {"slack", "email"},
    ),
    "expired approvals": (
        _owner_event("APPROVAL_EXPIRED", f"approval-expired:{CLIENT}:{DAY}", "4 records expired undecided"),
        f"approval-expired:{CLIENT}:{DAY}",
        "APPROVAL_EXPIRED",
        CLIENT,
        {"slack", "email"},
    ),
    "funds shortfall": (
        _owner_event(
            "PREFUND_SHORT", f"prefund-short:{CLIENT}:{DAY}", "3 payments returned H_FUNDS", "critical"
        ),
        f"prefund-short:{CLIENT}:{DAY}",
        "PREFUND_SHORT",
        CLIENT,
        {"pagerduty", "slack", "email"},
    ),
    "AML hold": (
        _owner_event("AML_HOLD", f"aml-hold:{CLIENT}:{DAY}", "2 payments held: SANCTIONS 1, STRUCTURING 1"),
        f"aml-hold:{CLIENT}:{DAY}",
        "AML_HOLD",
        CLIENT,
        {"slack", "email"},
    ),
    "reconciliation break": (
        _owner_event(
            "RECON_BREAK", f"recon-break:{CLIENT}:{DAY}", "1 break: ledger debit differs", "critical"
        ),
        f"recon-break:{CLIENT}:{DAY}",
        "RECON_BREAK",
        CLIENT,
        {"pagerduty", "slack", "email"},
    ),
    "archive verification failure": (
        _owner_event(
            "ARCHIVE_VERIFY_FAILED", f"archive-verify:{CLIENT}:{DAY}:ab12", "sha256 differs", "critical"
        ),
        f"archive-verify:{CLIENT}:{DAY}:ab12",
        "ARCHIVE_VERIFY_FAILED",
        CLIENT,
        {"pagerduty", "slack", "email"},
    ),
    "task failed after retries": (
        _task_failed,
        "task-failed:settlement_daily:manual__1:post_ledger:-1",
        "TASK_FAILED",
        "-",
        {"pagerduty", "slack", "email"},
    ),
}


def _messages_for(received, key: str) -> dict[str, list[str]]:
    marker = f"Dedup key: {key}"
    return {
        "slack": [s["body"]["text"] for s in received.slack if marker in s["body"]["text"]],
        "email": [m["body"] for m in received.mails if marker in m["body"]],
        "pagerduty": [
            p["payload"]["summary"]
            for p in received.pagerduty
            if p["dedup_key"] == key and p["event_action"] == "trigger"
        ],
    }


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_catalogue_condition_alerts_once_with_runbook(scenario, business_db, intake_zones, receivers) -> None:
    raise_it, key, kind, client, channels = SCENARIOS[scenario]
    raise_it(intake_zones)
    alerting.deliver()
    got = _messages_for(receivers, key)
    assert {ch for ch, msgs in got.items() if msgs} == channels
    assert all(len(got[ch]) == 1 for ch in channels), got
    runbook = f"docs/runbooks/{kind.lower()}.md"
    for text in got["slack"] + got["email"]:
        assert f"Runbook: {runbook}" in text
        assert f"Client: {client}" in text
        assert f"Business date: {DAY}" in text
        assert "Blocked: " in text
    assert (ROOT / runbook).is_file(), f"{runbook} is missing"

    raise_it(intake_zones)  # the condition persists; the stage raises it again
    alerting.deliver()
    assert _messages_for(receivers, key) == got
