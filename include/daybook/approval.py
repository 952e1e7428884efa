"""Approval (审核与审批): rules decide what is automatic, people decide the rest, four-eyes.

Rules live in the client profile (its version is stored on every record it judged). Tiers:
``AUTO`` (approved by rule), ``L1`` (one reviewer), ``L2`` (two distinct reviewers). Every
decision is an append-only row in ``approvals``; nobody decides twice on one record (database
uniqueness). Undecided records become final with A_EXPIRED at the client's approval cutoff.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from daybook import business_types, db, events, profiles
from daybook.config import settings

log = logging.getLogger(__name__)
LEVELS_NEEDED = {"L1": 1, "L2": 2}
BUSINESS_TZ = ZoneInfo("Asia/Shanghai")


class DecisionRefused(ValueError):
    """A decision that the four-eyes rules do not allow."""


def _clients(business_date: str, state: str) -> list[str]:
    with db.begin() as conn:
        rows = db.run(conn, "select_clients_with_state", {"business_date": business_date, "state": state})
        return [r.client_id for r in rows]


def assess(business_date: str) -> dict[str, int]:
    """Route the day's published rows to AUTO / L1 / L2 by the client's rules (set-based)."""
    db.migrate()
    counts = {"AUTO": 0, "L1": 0, "L2": 0}
    for client_id in _clients(business_date, "VALIDATED"):
        profile = profiles.load(client_id)
        params = {
            "business_date": business_date,
            "client_id": client_id,
            "rule_version": profile.version,
            "pay_auto_max": profile.approval_cents("auto_max_amount"),
            "pay_two_from": profile.approval_cents("two_reviewers_from"),
            "loan_auto_max": profile.approval_cents("loan_auto_max_amount"),
        }
        with db.begin() as conn:
            profiles.record_version(conn, profile)
            for tier in ("AUTO", "L2", "L1"):
                result = db.run(conn, f"update_records_tier_{tier.lower()}", params)
                counts[tier] += result.rowcount
            events.audit(
                conn,
                "approval",
                "rules_applied",
                f"{client_id}/{business_date}",
                rule_version=profile.version,
            )
    log.info("approval routing for %s: %s", business_date, counts)
    return counts


def pending(business_date: str | None = None, client_id: str | None = None) -> list[dict[str, Any]]:
    with db.begin() as conn:
        rows = db.run(
            conn, "select_pending_approvals", {"business_date": business_date, "client_id": client_id}
        )
        return [dict(r._mapping) for r in rows]


def decide(business_no: str, user: str, decision: str, opinion: str = "") -> str:
    """Record one reviewer's decision; returns the record's state afterwards."""
    decision = decision.upper()
    if decision not in ("APPROVE", "DECLINE"):
        raise DecisionRefused(f"decision must be APPROVE or DECLINE, not {decision!r}")
    if decision == "DECLINE" and not opinion.strip():
        raise DecisionRefused("a decline needs an opinion (审批意见)")
    with db.begin() as conn:
        record = db.run(conn, "select_record", {"business_no": business_no}).first()
        if record is None:
            raise DecisionRefused(f"no record {business_no}")
        if record.state != "PENDING_APPROVAL":
            raise DecisionRefused(f"{business_no} is {record.state}, not waiting for approval")
        earlier = db.run(conn, "select_approvals_of_record", {"business_no": business_no}).all()
        if any(a.decided_by == user for a in earlier):
            raise DecisionRefused(
                f"{user} already decided on {business_no}; a second level needs another person"
            )
        level = len(earlier) + 1
        db.run(
            conn,
            "insert_approval",
            {
                "business_no": business_no,
                "level": level,
                "decision": decision,
                "decided_by": user,
                "opinion": opinion,
                "rule_version": record.rule_version,
            },
        )
        btype = business_types.get(record.file_type)
        if decision == "DECLINE":
            state = btype.final_refused
            db.run(
                conn,
                "update_record_final",
                {
                    "business_no": business_no,
                    "state": state,
                    "final_code": "A_DECLINED",
                    "final_date": record.business_date,
                    "expected": "PENDING_APPROVAL",
                },
            )
        elif level >= LEVELS_NEEDED[record.tier]:
            state = "APPROVED"
            db.run(
                conn,
                "update_record_state",
                {"business_no": business_no, "state": state, "expected": "PENDING_APPROVAL"},
            )
        else:
            state = "PENDING_APPROVAL"
        events.audit(
            conn,
            user,
            f"approval_{decision.lower()}",
            business_no,
            level=level,
            opinion=opinion,
            rule_version=record.rule_version,
        )
    return state


def demo_decide(business_date: str) -> int:
    """The demo's named reviewers approve what is pending. Only when DAYBOOK_DEMO_APPROVER is set."""
    names = [n.strip() for n in settings().demo_approver.split(",") if n.strip()]
    if not names:
        log.info("no demo approver configured: pending items wait for people")
        return 0
    reviewers = names if len(names) >= 2 else [names[0], f"{names[0]}-second"]
    decided = 0
    for item in pending(business_date):
        for level in range(LEVELS_NEEDED[item["tier"]]):
            decide(item["business_no"], reviewers[level], "APPROVE", "approved by the demo reviewer")
            decided += 1
    return decided


def cutoff(profile: profiles.Profile, business_date: str) -> datetime:
    hh, mm = (int(x) for x in str(profile.data["cutoffs"]["approval"]).split(":"))
    return datetime.combine(date.fromisoformat(business_date), time(hh, mm), tzinfo=BUSINESS_TZ)


def decisions_complete(business_date: str, now: datetime | None = None) -> bool:
    """True when no record of the day waits for a person, or every waiting client is past its cutoff."""
    now = now or datetime.now(BUSINESS_TZ)
    waiting = {item["client_id"] for item in pending(business_date)}
    return all(now >= cutoff(profiles.load(c), business_date) for c in waiting)


def expire(business_date: str, now: datetime | None = None) -> int:
    """At each client's approval cutoff, undecided records become final with A_EXPIRED."""
    now = now or datetime.now(BUSINESS_TZ)
    expired = 0
    for client_id in _clients(business_date, "PENDING_APPROVAL"):
        if now < cutoff(profiles.load(client_id), business_date):
            continue
        with db.begin() as conn:
            for type_code, btype in business_types.REGISTRY.items():
                result = db.run(
                    conn,
                    "update_records_expired",
                    {
                        "business_date": business_date,
                        "client_id": client_id,
                        "file_type": type_code,
                        "state": btype.final_refused,
                    },
                )
                expired += result.rowcount
            if expired:
                events.alert(
                    conn,
                    "APPROVAL_EXPIRED",
                    f"{expired} records of {client_id} expired undecided",
                    dedup_key=f"approval-expired:{client_id}:{business_date}",
                    client_id=client_id,
                    business_date=business_date,
                )
    return expired
