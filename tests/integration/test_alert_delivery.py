"""Alert delivery to real receivers on loopback: exactly what arrived, once per condition,
a resolve when it clears, and no second page."""

from __future__ import annotations

from pathlib import Path

import pytest

from alert_receivers import start
from daybook import alerting, db, events

DAY = "2026-03-02"
BANKA = """client_id: BANKA
name: Bank A
alerts:
  email: [ops-banka@example.com, lead-banka@example.com]
  slack_channel: "#ops-banka"
  pagerduty_routing_key: banka-key
"""
TRUSTB = """client_id: TRUSTB
name: Trust B
"""


@pytest.fixture
def receivers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "BANKA.yaml").write_text(BANKA)
    (folder / "TRUSTB.yaml").write_text(TRUSTB)
    monkeypatch.setenv("DAYBOOK_PROFILES", str(folder))
    monkeypatch.setenv("DAYBOOK_OPS_EMAIL", "oncall@example.com")
    monkeypatch.setenv("DAYBOOK_OPS_PAGERDUTY_KEY", "ops-key")
    monkeypatch.setenv("DAYBOOK_RUNBOOK_BASE_URL", "https://git.example.com/daybook/blob/main")
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "http://airflow.example.com")
    received, stop = start(monkeypatch)
    yield received
    stop()


def _raise(kind: str, severity: str, client: str | None = "BANKA", **kw) -> str:
    key = f"{kind.lower()}:{client}:{DAY}"
    with db.begin() as conn:
        events.alert(
            conn,
            kind,
            kw.pop("message", "3 payments returned H_FUNDS"),
            dedup_key=key,
            severity=severity,
            client_id=client,
            business_date=DAY,
            **kw,
        )
    return key


def _close_day() -> None:
    with db.begin() as conn:
        db.run(conn, "upsert_business_day_closed", {"business_date": DAY})


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_critical_alert_pages_once_and_resolves_once(business_db, receivers) -> None:
    key = _raise(
        "PREFUND_SHORT",
        "critical",
        details={"returned": 3, "dag_id": "settlement_daily", "run_id": "asset_triggered__2026-03-02"},
    )
    assert alerting.deliver() == {"sent": 3, "failed": 0}

    [page] = receivers.pagerduty
    assert page["routing_key"] == "banka-key"
    assert page["event_action"] == "trigger"
    assert page["dedup_key"] == key
    assert page["payload"]["severity"] == "critical"
    assert page["payload"]["summary"] == (
        "[CRITICAL] PREFUND_SHORT BANKA 2026-03-02: prefunded balance exhausted: payments returned H_FUNDS"
    )
    assert page["payload"]["custom_details"]["counts"] == "returned=3"
    assert page["payload"]["custom_details"]["stage"] == "settlement"
    hrefs = {link["text"]: link["href"] for link in page["links"]}
    assert hrefs == {
        "Airflow run": "http://airflow.example.com/dags/settlement_daily/runs/asset_triggered__2026-03-02",
        "Runbook": "https://git.example.com/daybook/blob/main/docs/runbooks/prefund_short.md",
    }
    [slack] = receivers.slack
    assert slack["path"] == "/slack/ops-banka"
    text = slack["body"]["text"]
    for line in (
        "Severity: critical",
        "Client: BANKA",
        "Business date: 2026-03-02",
        "Stage: settlement",
        "What: 3 payments returned H_FUNDS",
        "Counts: returned=3",
        "Blocked: the returned payments are not settled today",
        "Runbook: https://git.example.com/daybook/blob/main/docs/runbooks/prefund_short.md",
    ):
        assert line in text.splitlines()
    [mail] = receivers.mails
    assert mail["to"] == ["lead-banka@example.com", "ops-banka@example.com"]
    assert mail["subject"].startswith("[CRITICAL] PREFUND_SHORT BANKA 2026-03-02")
    assert (
        "Airflow run: http://airflow.example.com/dags/settlement_daily/runs/asset_triggered__2026-03-02"
        in mail["body"]
    )

    # The condition persists, the stage raises it again on a rerun: nothing new goes out.
    _raise("PREFUND_SHORT", "critical")
    assert alerting.deliver() == {"sent": 0, "failed": 0}
    assert alerting.resolve_cleared() == []
    assert (len(receivers.pagerduty), len(receivers.slack), len(receivers.mails)) == (1, 1, 1)

    _close_day()
    assert alerting.resolve_cleared() == [key]
    receivers.clear()
    assert alerting.deliver() == {"sent": 3, "failed": 0}
    [page] = receivers.pagerduty
    assert (page["event_action"], page["dedup_key"], page["routing_key"]) == ("resolve", key, "banka-key")
    [slack] = receivers.slack
    assert slack["body"]["text"].startswith("#ops-banka\n[RESOLVED] PREFUND_SHORT BANKA 2026-03-02")
    [mail] = receivers.mails
    assert mail["subject"].startswith("[RESOLVED] PREFUND_SHORT")
    assert alerting.deliver() == {"sent": 0, "failed": 0}
    assert len(receivers.pagerduty) == 1


@pytest.mark.parametrize("backend", ["sqlite"])
def test_severity_routes_and_ops_fallback(business_db, receivers) -> None:
    _raise("APPROVAL_BACKLOG", "warning", message="12 records wait for review")
    _raise("DAY_NOT_CLOSED", "info", client="TRUSTB", message="2 files not archived")
    _raise("UNKNOWN_CLIENT", "critical", client=None, message="landing folder 'ZZZ' has no profile")
    alerting.deliver()
    # warning: Slack + email, no page; info: email only (TRUSTB has no contacts: operations);
    # critical without a client: operations' PagerDuty key and the default Slack webhook.
    assert [p["routing_key"] for p in receivers.pagerduty] == ["ops-key"]
    assert sorted(s["path"] for s in receivers.slack) == ["/slack/default", "/slack/ops-banka"]
    assert sorted((m["to"][0], m["subject"].split(":")[0]) for m in receivers.mails) == [
        ("lead-banka@example.com", "[WARNING] APPROVAL_BACKLOG BANKA 2026-03-02"),
        ("oncall@example.com", "[CRITICAL] UNKNOWN_CLIENT - 2026-03-02"),
        ("oncall@example.com", "[INFO] DAY_NOT_CLOSED TRUSTB 2026-03-02"),
    ]


@pytest.mark.parametrize("backend", ["sqlite"])
def test_failed_send_is_retried_once_receiver_is_back(business_db, receivers) -> None:
    _raise("RECON_BREAK", "critical", message="ledger total differs from plan")
    receivers.fail_http = True
    assert alerting.deliver() == {"sent": 1, "failed": 2}  # the email went; PagerDuty and Slack failed
    assert len(receivers.mails) == 1
    receivers.fail_http = False
    assert alerting.deliver() == {"sent": 2, "failed": 0}
    assert (len(receivers.pagerduty), len(receivers.slack), len(receivers.mails)) == (1, 1, 1)


@pytest.mark.parametrize("backend", ["sqlite"])
def test_personal_numbers_never_leave_in_alert_text(business_db, receivers) -> None:
    _raise(
        "REJECT_SPIKE",
        "warning",
        message="row 7 payer 110101199003071234 card 6222 0212 3456 7890 phone 13812345678 rejected",
    )
    alerting.deliver()
    texts = [receivers.slack[0]["body"]["text"], receivers.mails[0]["body"]]
    for text in texts:
        assert "110101199003071234" not in text and "6222 0212 3456 7890" not in text
        assert "13812345678" not in text
        assert "110101********1234" in text  # identity number: first 6 and last 4 kept
        assert "622202******7890" in text  # grouped card number
        assert "138****5678" in text  # mobile: first 3 and last 4
        assert "2026-03-02" in text  # dates are not personal numbers
