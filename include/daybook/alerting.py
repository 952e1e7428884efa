"""Alert routing and delivery: from ``alert_events`` to the people on call.

Each alert kind of the failure catalogue (:data:`CATALOGUE`) says which stage it belongs to,
what it blocks, when its condition clears and which runbook answers it. Delivery routes by
severity to the client's contacts from its profile (``alerts:``), falling back to the operations
contacts (``DAYBOOK_OPS_EMAIL``, ``DAYBOOK_OPS_SLACK_CHANNEL``, ``DAYBOOK_OPS_PAGERDUTY_KEY``):

========  ===================================
critical  PagerDuty + Slack + email
warning   Slack + email
info      email
========  ===================================

Sends go through the official Airflow notifiers (``SlackWebhookNotifier``, ``SmtpNotifier``,
``PagerdutyNotifier``) with endpoints from Airflow connections ``daybook_slack`` (or
``daybook_slack_<channel>``), ``daybook_smtp`` and ``daybook_pagerduty`` (its host overrides
the Events v2 base URL). Every send is claimed in ``alert_deliveries`` first, keyed by
(alert, channel, action): a persisting condition pages once, its resolve goes out once, and a
failed send is released to be retried by the next delivery run.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from daybook import db, profiles

log = logging.getLogger(__name__)

SLACK_CONN_ID = "daybook_slack"
SMTP_CONN_ID = "daybook_smtp"
PAGERDUTY_CONN_ID = "daybook_pagerduty"
CHANNELS_BY_SEVERITY = {
    "critical": ("pagerduty", "slack", "email"),
    "warning": ("slack", "email"),
    "info": ("email",),
}
DAY_CLOSE = "the business date is closed (archive_daily closed the day)"


@dataclass(frozen=True)
class Kind:
    stage: str
    title: str
    blocked: str
    clears: str


CATALOGUE: dict[str, Kind] = {
    "MISSING_FILE": Kind(
        "intake",
        "expected file late: not received by the intake cutoff",
        "the client's records of that file type for the date are not processed today",
        "the expected file is registered by intake",
    ),
    "INCOMPLETE_FILE": Kind(
        "intake",
        "data file waits for its control file (or the reverse)",
        "the file is not registered, validated or settled until the pair is complete",
        "intake registers the file (the pair arrived)",
    ),
    "PAST_DATE_FILE": Kind(
        "intake",
        "complete file dated on an earlier business day that is not closed",
        "the file is not registered, answered or processed until a run of its date takes it",
        "a run of its date registers the file",
    ),
    "UNKNOWN_CLIENT": Kind(
        "intake",
        "landing folder without a client profile",
        "every file in that folder is left unprocessed",
        "a client profile exists for the folder",
    ),
    "PROFILE_INVALID": Kind(
        "intake",
        "client profile cannot be used (does not parse, or names another client)",
        "that client only, at every stage that needs its profile: inbox left untouched, records not "
        "routed, screened, settled or expired, large-value report not written, day not archived, its "
        "alerts sent to operations; other clients go on",
        "the profile file no longer holds the content the alert was raised for (fixed or replaced)",
    ),
    "REJECT_SPIKE": Kind(
        "validation",
        "reject rate above the client's threshold or far above its norm",
        "the rejected records are refused back to the client; a systematic fault may need a resend",
        DAY_CLOSE,
    ),
    "APPROVAL_BACKLOG": Kind(
        "approval",
        "records wait for review close to the approval cutoff",
        "records not decided by the cutoff expire (A_EXPIRED) and are not settled",
        "no record of the client and date waits for review",
    ),
    "APPROVAL_EXPIRED": Kind(
        "approval",
        "records expired undecided at the approval cutoff",
        "the expired records are refused (A_EXPIRED) and not settled",
        DAY_CLOSE,
    ),
    "PREFUND_SHORT": Kind(
        "settlement",
        "prefunded balance exhausted: payments returned H_FUNDS",
        "the returned payments are not settled today",
        DAY_CLOSE,
    ),
    "AML_HOLD": Kind(
        "settlement",
        "payments held for AML review",
        "held payments are not settled until two people release them",
        "no AML case of the client and date is open",
    ),
    "RECON_BREAK": Kind(
        "settlement",
        "reconciliation break between records, ledger and plan",
        "the day's archive and close wait until every break is fixed or explained",
        "no unexplained reconciliation break of the client and date remains",
    ),
    "ARCHIVE_VERIFY_FAILED": Kind(
        "archive",
        "archive package failed verification",
        "the business date cannot close; retention proof for the package is missing",
        "the client's archive package for the date is verified",
    ),
    "ARCHIVE_UNENCRYPTED": Kind(
        "archive",
        "archive package stored without client-side encryption",
        "nothing is blocked; the package is not protected by the archive key",
        DAY_CLOSE,
    ),
    "DAY_NOT_CLOSED": Kind(
        "archive",
        "business date stays open",
        "late files for the date are still accepted; the day's report is provisional",
        DAY_CLOSE,
    ),
    "SETTLEMENT_LATE": Kind(
        "settlement",
        "approved records not settled by the settlement cutoff",
        "the approved records miss today's value date",
        "no approved record of the client and date waits for settlement",
    ),
    "DEADLINE_MISSED": Kind(
        "daybook",
        "a stage run is still not finished at its deadline",
        "every later stage of the day waits for this run",
        DAY_CLOSE + ", or an operator resolves it",
    ),
    "TASK_FAILED": Kind(
        "daybook",
        "a task failed after all its retries",
        "the run's later tasks, and the stages after it, do not run for the date",
        DAY_CLOSE + ", or an operator resolves it after rerunning the task",
    ),
}

# --------------------------------------------------------------------------- content

# Card numbers written in groups ("6222 0212 3456 7890"); unbroken numbers are daybook.pii's.
_GROUPED_NUMBER = re.compile(r"(?<![\w*])\d{4}(?:[ -]\d{4}){2,4}\d{0,3}(?![\w*])")


def mask(text: str) -> str:
    """Mask personal numbers (identity, card, account, mobile) as daybook.pii does, including
    card numbers written in groups."""
    from daybook.pii import mask_text, mask_value

    return _GROUPED_NUMBER.sub(lambda m: mask_value(re.sub(r"[ -]", "", m.group(0))), mask_text(text))


def runbook_link(kind: str) -> str:
    base = os.environ.get("DAYBOOK_RUNBOOK_BASE_URL", "").strip().rstrip("/")
    path = f"docs/runbooks/{kind.lower()}.md"
    return f"{base}/{path}" if base else path


def _stage(event: dict[str, Any]) -> str:
    if event.get("stage"):
        return str(event["stage"])
    known = CATALOGUE.get(event["kind"])
    if known and known.stage != "daybook":
        return known.stage
    dag_id = str(_details(event).get("dag_id") or "")
    return dag_id.split("_")[0] if dag_id else "daybook"


def _details(event: dict[str, Any]) -> dict[str, Any]:
    raw = event.get("details") or "{}"
    return dict(json.loads(raw)) if isinstance(raw, str) else dict(raw)


def content(event: dict[str, Any], action: str = "trigger") -> dict[str, Any]:
    """Subject, plain-text body and fields of one alert's message (PII masked)."""
    kind = CATALOGUE.get(event["kind"])
    details = _details(event)
    counts = {k: v for k, v in sorted(details.items()) if isinstance(v, int) and not isinstance(v, bool)}
    run_id = details.get("run_id")
    fields = {
        "severity": event["severity"],
        "kind": event["kind"],
        "client": event.get("client_id") or "-",
        "business_date": event.get("business_date") or "-",
        "stage": _stage(event),
        "what": event["message"],
        "counts": ", ".join(f"{k}={v}" for k, v in counts.items()) or "-",
        "blocked": kind.blocked if kind else "see the runbook",
        "clears_when": kind.clears if kind else "an operator resolves it",
        "airflow_run": event.get("run_url") or "not known (raised outside an Airflow run)",
        "runbook": runbook_link(event["kind"]),
        "dedup_key": event["dedup_key"],
    }
    if run_id:
        fields["run_id"] = str(run_id)
    fields = {k: mask(str(v)) for k, v in fields.items()}
    title = kind.title if kind else event["kind"].replace("_", " ").lower()
    prefix = "RESOLVED" if action == "resolve" else event["severity"].upper()
    subject = mask(f"[{prefix}] {event['kind']} {fields['client']} {fields['business_date']}: {title}")
    lines = [subject, ""]
    if action == "resolve":
        lines.append(f"Cleared: {fields['clears_when']}")
    lines += [f"{k.replace('_', ' ').capitalize()}: {v}" for k, v in fields.items()]
    return {"subject": subject, "text": "\n".join(lines), "fields": fields}


def _html(body: str) -> str:
    return "<pre>" + html.escape(body) + "</pre>"


# --------------------------------------------------------------------------- routing


def _ops_route() -> dict[str, Any]:
    emails = [e.strip() for e in os.environ.get("DAYBOOK_OPS_EMAIL", "").split(",") if e.strip()]
    return {
        "email": emails,
        "slack_channel": os.environ.get("DAYBOOK_OPS_SLACK_CHANNEL", "").strip(),
        "pagerduty_routing_key": os.environ.get("DAYBOOK_OPS_PAGERDUTY_KEY", "").strip(),
    }


def _client_contacts(client_id: str) -> dict[str, Any]:
    """The ``alerts:`` section of the client's profile; :class:`profiles.InvalidProfile` when the
    profile does not load or the section is not a mapping with a list of addresses."""
    profile = profiles.load(client_id)
    contacts = profile.data.get("alerts") or {}
    emails = contacts.get("email") if isinstance(contacts, dict) else None
    if not isinstance(contacts, dict) or not (
        emails is None or (isinstance(emails, list) and all(isinstance(e, str) for e in emails))
    ):
        raise profiles.InvalidProfile(
            profiles.profile_path(client_id),
            profile.version,
            'alerts must be a mapping as {email: [ops@example.com], slack_channel: "#ops", '
            f"pagerduty_routing_key: key}}, found {contacts!r}",
        )
    return contacts


def _contacts_unreadable(client_id: str, broken: profiles.InvalidProfile, event: dict[str, Any]) -> None:
    """PROFILE_INVALID for a client whose contacts cannot be read (:func:`profiles.hold`); its
    alert goes to operations meanwhile, and the log says which alert."""
    business_date = str(event.get("business_date") or business_date_today())
    profiles.hold(
        client_id,
        broken,
        business_date,
        "its alerts go to operations (DAYBOOK_OPS_*) instead of its own contacts until it is fixed",
        stage="alerts",
    )
    log.warning("alert %s of %s goes to operations", event["dedup_key"], client_id)


def routes(event: dict[str, Any]) -> dict[str, str]:
    """Channel -> target (email list, Slack channel, PagerDuty routing key) for one alert.

    The client's profile contacts come first; a channel the client has no contact for goes to
    operations; a channel nobody is configured for is skipped (logged). Slack and PagerDuty may
    use their connection's default (target ``default``) when no channel/key is configured. When
    the client's profile (or its ``alerts:`` section) cannot be read, the alert is never dropped:
    it goes to operations like an alert without a client, and a PROFILE_INVALID names the client.
    """
    ops = _ops_route()
    client: dict[str, Any] = {}
    if event.get("client_id"):
        client_id = str(event["client_id"])
        try:
            client = _client_contacts(client_id)
        except profiles.UnknownClient:
            client = {}
        except profiles.InvalidProfile as broken:
            _contacts_unreadable(client_id, broken, event)
            client = {}
    out: dict[str, str] = {}
    for channel in CHANNELS_BY_SEVERITY.get(event["severity"], CHANNELS_BY_SEVERITY["warning"]):
        if channel == "email":
            to = list(client.get("email") or []) or ops["email"]
            if to:
                out["email"] = ",".join(to)
            else:
                log.warning("alert %s: nobody to email", event["dedup_key"])
        elif channel == "slack":
            out["slack"] = str(client.get("slack_channel") or ops["slack_channel"] or "default")
        elif channel == "pagerduty":
            out["pagerduty"] = str(
                client.get("pagerduty_routing_key") or ops["pagerduty_routing_key"] or "default"
            )
    return out


# --------------------------------------------------------------------------- senders


def _slack_conn_id(channel: str) -> str:
    from airflow.sdk import BaseHook

    slug = re.sub(r"[^a-z0-9]+", "_", channel.lower()).strip("_")
    if slug and slug != "default":
        try:
            BaseHook.get_connection(f"{SLACK_CONN_ID}_{slug}")
            return f"{SLACK_CONN_ID}_{slug}"
        except Exception:  # noqa: BLE001 - no per-channel webhook: the default one
            pass
    return SLACK_CONN_ID


def send_slack(target: str, msg: dict[str, Any]) -> None:
    from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier

    text = msg["text"] if target == "default" else f"{target}\n{msg['text']}"
    SlackWebhookNotifier(slack_webhook_conn_id=_slack_conn_id(target), text=text).notify({})


def send_email(target: str, msg: dict[str, Any]) -> None:
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    SmtpNotifier(
        to=target.split(","),
        from_email=os.environ.get("DAYBOOK_ALERTS_FROM", "daybook-alerts@localhost"),
        subject=msg["subject"],
        html_content=_html(msg["text"]),
        smtp_conn_id=SMTP_CONN_ID,
    ).notify({})


def _pagerduty_notifier_class():
    from airflow.providers.pagerduty.hooks.pagerduty_events import PagerdutyEventsAsyncHook
    from airflow.providers.pagerduty.notifications.pagerduty import PagerdutyNotifier

    class EndpointEventsAsyncHook(PagerdutyEventsAsyncHook):
        """The provider's Events v2 hook, with the base URL taken from the connection's host."""

        def __init__(self, integration_key: str | None, pagerduty_events_conn_id: str) -> None:
            from airflow.sdk import BaseHook

            super().__init__(
                integration_key=integration_key, pagerduty_events_conn_id=pagerduty_events_conn_id
            )
            host = (BaseHook.get_connection(pagerduty_events_conn_id).host or "").rstrip("/")
            if host:
                self.base_url = host if "://" in host else f"https://{host}"

    class EndpointPagerdutyNotifier(PagerdutyNotifier):
        @property
        def hook_async(self) -> PagerdutyEventsAsyncHook:  # type: ignore[override]
            return EndpointEventsAsyncHook(self.integration_key, self.pagerduty_events_conn_id)

    return EndpointPagerdutyNotifier


def send_pagerduty(target: str, msg: dict[str, Any], event: dict[str, Any], action: str) -> None:
    fields = msg["fields"]
    links = [
        {"href": v, "text": k}
        for k, v in (("Airflow run", fields["airflow_run"]), ("Runbook", fields["runbook"]))
    ]
    notifier = _pagerduty_notifier_class()(
        summary=msg["subject"][:1024],
        severity=event["severity"] if event["severity"] in ("critical", "warning", "info") else "error",
        source="daybook",
        action=action,
        dedup_key=event["dedup_key"],
        custom_details=fields,
        component=fields["stage"],
        group=fields["client"],
        links=[link for link in links if link["href"].startswith(("http://", "https://"))] or None,
        pagerduty_events_conn_id=PAGERDUTY_CONN_ID,
        integration_key=None if target == "default" else target,
    )
    asyncio.run(notifier.async_notify({}))


def _send(channel: str, target: str, event: dict[str, Any], action: str) -> None:
    msg = content(event, action)
    if channel == "slack":
        send_slack(target, msg)
    elif channel == "email":
        send_email(target, msg)
    else:
        send_pagerduty(target, msg, event, action)


# --------------------------------------------------------------------------- clearing


def _count(name: str, params: dict[str, Any]) -> int:
    with db.begin() as conn:
        return int(db.run(conn, name, params).scalar_one())


def _key_part(event: dict[str, Any], index: int) -> str:
    parts = str(event["dedup_key"]).split(":")
    return parts[index] if len(parts) > index else ""


def _stem_registered(event: dict[str, Any]) -> bool:
    """Whether the file an intake alert keyed ``<kind>:<client>/<name>:<date>`` names is registered."""
    folder_and_name = _key_part(event, 1)
    stem = folder_and_name.split("/")[-1].split(".")[0]
    return _count("count_files_of_stem", {"folder": folder_and_name.split("/")[0], "stem": stem}) > 0


def _cleared_by_kind(event: dict[str, Any]) -> bool:
    kind, details = event["kind"], _details(event)
    day = {"client_id": event.get("client_id"), "business_date": event.get("business_date")}
    checks: dict[str, Callable[[], bool]] = {
        # intake's keys: missing:<client>:<type>:<date> and incomplete:<client>/<name>:<date>
        "MISSING_FILE": lambda: (
            _count(
                "count_expected_file_received",
                {**day, "file_type": details.get("file_type") or _key_part(event, 2)},
            )
            > 0
        ),
        "INCOMPLETE_FILE": lambda: _stem_registered(event),
        "PAST_DATE_FILE": lambda: _stem_registered(event),  # past-date:<client>/<name>:<date>
        "UNKNOWN_CLIENT": lambda: _has_profile(str(details.get("folder") or _key_part(event, 1))),
        # profile-invalid:<client>:<version prefix>:<date>; a still broken new content raises its own
        "PROFILE_INVALID": lambda: (
            profiles.file_version(str(details.get("client") or _key_part(event, 1))) != details.get("version")
        ),
        "APPROVAL_BACKLOG": lambda: _count("count_pending_of_client_day", day) == 0,
        "AML_HOLD": lambda: _count("count_open_aml_cases", day) == 0,
        "RECON_BREAK": lambda: _count("count_unexplained_breaks", day) == 0,
        "ARCHIVE_VERIFY_FAILED": lambda: _count("count_verified_archives", day) > 0,
        "SETTLEMENT_LATE": lambda: _count("count_approved_of_client_day", day) == 0,
    }
    check = checks.get(kind)
    return bool(check and check())


def _has_profile(folder: str) -> bool:
    try:
        profiles.load(folder)
        return True
    except (profiles.UnknownClient, ValueError):
        return False


def cleared(event: dict[str, Any]) -> bool:
    """Whether the alert's condition no longer holds (see :data:`CATALOGUE` ``clears``).

    Every alert of a business date clears when that date is closed; some clear earlier, when
    the state that raised them is gone.
    """
    if event.get("business_date") and _count("count_day_closed", {"business_date": event["business_date"]}):
        return True
    try:
        return _cleared_by_kind(event)
    except Exception:  # noqa: BLE001 - a check that cannot run yet leaves the alert open
        log.exception("alert %s: clear check failed; stays open", event["dedup_key"])
        return False


def resolve(dedup_key: str, resolved_by: str) -> bool:
    """Mark one alert resolved (by a check or an operator). Its resolve goes out on the next delivery."""
    with db.begin() as conn:
        return (
            db.run(
                conn, "update_alert_resolved", {"dedup_key": dedup_key, "resolved_by": resolved_by}
            ).rowcount
            == 1
        )


def resolve_cleared() -> list[str]:
    """Resolve every open alert whose condition cleared. Returns their dedup keys."""
    with db.begin() as conn:
        open_alerts = [dict(r) for r in db.run(conn, "select_open_alerts").mappings()]
    done = [a["dedup_key"] for a in open_alerts if cleared(a)]
    for key in done:
        resolve(key, "daybook:condition-cleared")
    return done


# --------------------------------------------------------------------------- delivery


def _claim(dedup_key: str, channel: str, action: str, target: str) -> bool:
    with db.begin() as conn:
        params = {"dedup_key": dedup_key, "channel": channel, "action": action, "target": target}
        return db.run(conn, "insert_alert_delivery_claim", params).rowcount == 1


def deliver(dedup_key: str | None = None) -> dict[str, int]:
    """Send every trigger and resolve that is due, once per (alert, channel, action).

    Returns counts ``{"sent": n, "failed": n}``. ``dedup_key`` limits the run to one alert (the
    deadline callback pages at once this way).
    """
    counts = {"sent": 0, "failed": 0}
    seen = _deliver_due(dedup_key, counts, set())
    if dedup_key is None:
        # Alerts recorded while routing (PROFILE_INVALID of a client whose contacts cannot be
        # read) go out in this run, not an hour later.
        _deliver_due(None, counts, seen)
    return counts


def _deliver_due(dedup_key: str | None, counts: dict[str, int], skip: set[str]) -> set[str]:
    """One pass of :func:`deliver` over the alerts due now, but those in ``skip``; returns the
    dedup keys it looked at. A resolve goes to the targets its trigger reached (the same
    PagerDuty routing key closes the incident), whatever the client's profile says now."""
    with db.begin() as conn:
        due = [dict(r) for r in db.run(conn, "select_alerts_to_deliver").mappings()]
        due = [e for e in due if e["dedup_key"] not in skip]
        sent_triggers: dict[str, dict[str, str]] = {}
        for event in due:
            if event["resolved_at"] is not None:
                rows = db.run(conn, "select_alert_deliveries", {"dedup_key": event["dedup_key"]}).mappings()
                sent_triggers[event["dedup_key"]] = {
                    r["channel"]: r["target"]
                    for r in rows
                    if r["action"] == "trigger" and r["status"] == "SENT"
                }
    for event in due:
        if dedup_key is not None and event["dedup_key"] != dedup_key:
            continue
        action = "trigger" if event["resolved_at"] is None else "resolve"
        targets = routes(event) if action == "trigger" else sent_triggers.get(event["dedup_key"], {})
        for channel, target in targets.items():
            if not _claim(event["dedup_key"], channel, action, target):
                continue
            key = {"dedup_key": event["dedup_key"], "channel": channel, "action": action}
            try:
                _send(channel, target, event, action)
            except Exception:  # noqa: BLE001 - release the claim; the next run retries
                log.exception("alert %s: %s %s failed", event["dedup_key"], channel, action)
                with db.begin() as conn:
                    db.run(conn, "delete_alert_delivery_claim", key)
                counts["failed"] += 1
                continue
            with db.begin() as conn:
                db.run(conn, "update_alert_delivery_sent", key)
            counts["sent"] += 1
    return {e["dedup_key"] for e in due}


def business_date_today() -> str:
    """Today's date in the business time zone (only for the hourly sweep's own checks)."""
    from datetime import datetime

    from daybook.config import BUSINESS_TZ

    return datetime.now(BUSINESS_TZ).date().isoformat()
