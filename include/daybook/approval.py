"""Approval (审核与审批): rules decide what is automatic, people decide the rest, four-eyes.

Rules live in the client profile's ``approval:`` section (its version is stored on every
record it judged as ``rule_version``):

* PAY by amount and risk flags: ``AUTO`` (approved by rule), ``L1`` (one reviewer), ``L2``
  (two distinct reviewers). A currency listed in ``review_currencies`` is never automatic.
* LOAN by credit policy (``loan_policy``): the monthly instalment by the annuity formula over
  the monthly income (DTI), loan over collateral for MORTGAGE (LTV) and the credit score.
  A record that fails the policy is final at once: DECLINED with ``A_POLICY``. A record that
  passes is approved by rule when it is small and clearly good, else goes to L1 or L2.

Every decision is an append-only row in ``approvals`` plus an ``audit_events`` entry.
Four-eyes: nobody decides twice on one record (database uniqueness), the second level is a
different person, and the operator who submitted a file for review (its maker) never decides
on its records. Undecided records become final with A_EXPIRED at the client's approval
cutoff; a backlog alert is raised ``backlog_alert_minutes`` before it.
"""

from __future__ import annotations

import json
import logging
import queue
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any

import yaml
from sqlalchemy.exc import IntegrityError

from daybook import business_types, db, events, profiles
from daybook.config import BUSINESS_TZ, settings

log = logging.getLogger(__name__)
LEVELS_NEEDED = {"L1": 1, "L2": 2}
CENT = Decimal("0.01")

# Defaults for the approval settings this module adds to the profile's ``approval:`` section
# (profiles.DEFAULTS holds the amount thresholds that predate them).
APPROVAL_DEFAULTS: dict[str, Any] = {
    "review_currencies": [],
    "backlog_alert_minutes": 30,
    "loan_policy": {
        "annual_rate": "0.0435",
        "max_dti": "0.50",
        "max_ltv": "0.80",
        "min_credit_score": 600,
        "auto_max_dti": "0.35",
        "auto_min_credit_score": 700,
        "two_reviewers_from": "1000000.00",
    },
}


class DecisionRefused(ValueError):
    """A decision (or submission) that the approval rules do not allow."""


class FourEyesRefused(DecisionRefused):
    """This person may not decide on this record (maker-checker, same person twice)."""


class NotPending(DecisionRefused):
    """The record is not (or no longer) waiting for this decision."""


class NoSuchRecord(DecisionRefused, LookupError):
    """No record (or file) with that number."""


# --------------------------------------------------------------------------- rules


def _approval_section(profile_data: dict[str, Any]) -> dict[str, Any]:
    section = dict(profile_data.get("approval") or {})
    for key, value in APPROVAL_DEFAULTS.items():
        if isinstance(value, dict):
            section[key] = {**value, **(section.get(key) or {})}
        else:
            section.setdefault(key, value)
    return section


@dataclass(frozen=True)
class LoanPolicy:
    annual_rate: Decimal
    max_dti: Decimal
    max_ltv: Decimal
    min_credit_score: int
    auto_max_cents: int
    auto_max_dti: Decimal
    auto_min_credit_score: int
    two_reviewers_from_cents: int

    @classmethod
    def of(cls, profile_data: dict[str, Any]) -> LoanPolicy:
        section = _approval_section(profile_data)
        p = section["loan_policy"]
        return cls(
            annual_rate=Decimal(str(p["annual_rate"])),
            max_dti=Decimal(str(p["max_dti"])),
            max_ltv=Decimal(str(p["max_ltv"])),
            min_credit_score=int(p["min_credit_score"]),
            auto_max_cents=profiles.cents(section["loan_auto_max_amount"]),
            auto_max_dti=Decimal(str(p["auto_max_dti"])),
            auto_min_credit_score=int(p["auto_min_credit_score"]),
            two_reviewers_from_cents=profiles.cents(p["two_reviewers_from"]),
        )


def monthly_instalment(principal: Decimal, annual_rate: Decimal, term_months: int) -> Decimal:
    """Level monthly payment of an annuity loan, rounded half-up to the cent.

    ``P * r * (1 + r)^n / ((1 + r)^n - 1)`` with the monthly rate ``r = annual_rate / 12``;
    ``P / n`` when the rate is zero.
    """
    if term_months <= 0:
        raise ValueError("term_months must be positive")
    with localcontext() as ctx:
        ctx.prec = 40
        r = annual_rate / 12
        if r == 0:
            payment = principal / term_months
        else:
            growth = (1 + r) ** term_months
            payment = principal * r * growth / (growth - 1)
        return payment.quantize(CENT, rounding=ROUND_HALF_UP)


def loan_facts(payload: dict[str, str], policy: LoanPolicy) -> dict[str, Any]:
    """The credit facts of one loan application (Decimal, exact), as the policy sees them."""
    principal = Decimal(payload["loan_amount"])
    term = int(payload["term_months"])
    instalment = monthly_instalment(principal, policy.annual_rate, term)
    with localcontext() as ctx:
        ctx.prec = 40
        monthly_income = Decimal(payload["annual_income"]) / 12
        dti = instalment / monthly_income if monthly_income > 0 else None
        collateral = Decimal(payload["collateral_value"]) if payload.get("collateral_value") else None
        ltv = principal / collateral if collateral else None
    return {
        "product_code": payload["product_code"],
        "loan_amount": principal,
        "term_months": term,
        "annual_rate": policy.annual_rate,
        "monthly_instalment": instalment,
        "monthly_income": monthly_income,
        "dti": dti,
        "collateral_value": collateral,
        "ltv": ltv,
        "credit_score": int(payload["credit_score"]),
    }


def judge_loan(facts: dict[str, Any], policy: LoanPolicy) -> tuple[str, list[str]]:
    """``("DECLINE", reasons)``, ``("AUTO", [])``, ``("L1", reasons)`` or ``("L2", reasons)``."""
    declines = []
    if facts["credit_score"] < policy.min_credit_score:
        declines.append(f"credit score {facts['credit_score']} below {policy.min_credit_score}")
    if facts["dti"] is None:
        declines.append("no income to service the instalment")
    elif facts["dti"] > policy.max_dti:
        declines.append(f"DTI {facts['dti']:.4f} above {policy.max_dti}")
    if facts["product_code"] == "MORTGAGE":
        if facts["ltv"] is None:
            declines.append("mortgage without collateral value")
        elif facts["ltv"] > policy.max_ltv:
            declines.append(f"LTV {facts['ltv']:.4f} above {policy.max_ltv}")
    if declines:
        return "DECLINE", declines
    amount_cents = profiles.cents(facts["loan_amount"])
    reasons = []
    if amount_cents > policy.auto_max_cents:
        reasons.append(f"amount above {Decimal(policy.auto_max_cents) / 100:.2f}")
    if facts["dti"] > policy.auto_max_dti:
        reasons.append(f"DTI {facts['dti']:.4f} above {policy.auto_max_dti} for automatic approval")
    if facts["credit_score"] < policy.auto_min_credit_score:
        reasons.append(f"credit score below {policy.auto_min_credit_score} for automatic approval")
    if not reasons:
        return "AUTO", []
    if amount_cents >= policy.two_reviewers_from_cents:
        return "L2", reasons
    return "L1", reasons


def pay_facts(amount_cents: int, currency: str, profile_data: dict[str, Any]) -> dict[str, Any]:
    """Why a PAY record has its tier: the thresholds and the risk flags that applied."""
    section = _approval_section(profile_data)
    auto_max = profiles.cents(section["auto_max_amount"])
    two_from = profiles.cents(section["two_reviewers_from"])
    flags = []
    if currency in section["review_currencies"]:
        flags.append(f"currency {currency} always needs a reviewer")
    if amount_cents >= two_from:
        tier = "L2"
    elif amount_cents <= auto_max and not flags:
        tier = "AUTO"
    else:
        tier = "L1"
    return {
        "amount_cents": amount_cents,
        "currency": currency,
        "auto_max_cents": auto_max,
        "two_reviewers_from_cents": two_from,
        "risk_flags": flags,
        "tier": tier,
    }


def _rules(client_id: str, business_date: str) -> tuple[profiles.Profile, dict[str, Any]]:
    """The client's profile and the routing parameters of its ``approval:`` rules;
    :class:`profiles.InvalidProfile` when the profile does not load or its rules cannot be read
    (an amount that is not a decimal, a section that is not a mapping, ...)."""
    profile = profiles.load(client_id)
    try:
        section = _approval_section(profile.data)
        if not isinstance(section["review_currencies"], list):
            raise TypeError("review_currencies must be a list, as [USD]")
        LoanPolicy.of(profile.data)
        params = {
            "business_date": business_date,
            "client_id": client_id,
            "rule_version": profile.version,
            "pay_auto_max": profile.approval_cents("auto_max_amount"),
            "pay_two_from": profile.approval_cents("two_reviewers_from"),
            "review_currencies": "," + ",".join(str(c) for c in section["review_currencies"]) + ",",
        }
    except (ArithmeticError, AttributeError, KeyError, TypeError, ValueError) as exc:
        raise profiles.InvalidProfile(
            profiles.profile_path(client_id),
            profile.version,
            f"approval rules cannot be read ({type(exc).__name__}: {exc}); "
            f"found approval: {profile.data.get('approval')!r}",
        ) from exc
    return profile, params


def assess(business_date: str) -> dict[str, int]:
    """Route the day's published rows by the client's rules.

    PAY is set-based SQL; LOAN applies the credit policy per application in Python (Decimal
    arithmetic on the row's own values), then updates in one batch per outcome.

    On PostgreSQL the two run at once: the PAY statement is the database server's work and the
    loans mostly this process's, so the payments are routed on a connection of their own (one
    statement, committed on its own) while the loans are judged in the client's transaction.
    Each moves only records still VALIDATED, so a run that fails between the two commits is
    completed by a rerun, and no record is routed twice. SQLite (one writer at a time): one
    after the other in one transaction.

    A client whose profile (or its ``approval:`` rules) cannot be used is held: PROFILE_INVALID,
    its records stay VALIDATED, the other clients are routed; a run after the fix routes it.
    """
    db.migrate()
    counts = {"AUTO": 0, "L1": 0, "L2": 0, "POLICY": 0}
    for client_id in _clients(business_date, "VALIDATED"):
        try:
            profile, params = _rules(client_id, business_date)
        except profiles.InvalidProfile as broken:
            # Never the default rules instead: nothing of this client is approved by rule or
            # sent to reviewers; its records stay VALIDATED for the run after the fix.
            profiles.hold(
                client_id,
                broken,
                business_date,
                "its validated records are not routed (none approved by rule, none sent to "
                "reviewers) until it is fixed",
                stage="approval",
            )
            continue
        with db.begin() as conn:
            profiles.record_version(conn, profile)
        with db.begin() as conn, ThreadPoolExecutor(max_workers=1, thread_name_prefix="route") as pool:
            if conn.dialect.name == "postgresql":  # one pass over the day, beside the loans
                routed = pool.submit(_route_payments, params)
                loan = _assess_loans(conn, business_date, client_id, profile)
                for tier, n in routed.result().items():
                    counts[tier] += n
            else:
                for tier in ("AUTO", "L2", "L1"):
                    counts[tier] += db.run(conn, f"update_pay_records_tier_{tier.lower()}", params).rowcount
                loan = _assess_loans(conn, business_date, client_id, profile)
            for tier, n in loan.items():
                counts[tier] += n
            events.audit(
                conn,
                "approval",
                "rules_applied",
                f"{client_id}/{business_date}",
                rule_version=profile.version,
                loan_outcomes=loan,
            )
    db.analyze("records")  # the day's records moved out of VALIDATED
    log.info("approval routing for %s: %s", business_date, counts)
    return counts


def _route_payments(params: dict[str, Any]) -> dict[str, int]:
    """PostgreSQL: route the client's VALIDATED payments of the day in one statement, in a
    transaction of its own (committed when it returns). Returns the count per tier."""
    with db.begin() as conn:
        return {tier: int(n) for tier, n in db.run(conn, "update_pay_records_tiers_postgresql", params)}


ASSESS_PAGE = 20_000  # loan applications judged per page (memory does not grow with the day)


def _assess_loans(conn: Any, business_date: str, client_id: str, profile: profiles.Profile) -> dict[str, int]:
    policy = LoanPolicy.of(profile.data)
    outcomes = {"AUTO": 0, "L1": 0, "L2": 0, "POLICY": 0}
    day = {"business_date": business_date, "client_id": client_id, "file_type": "LOAN"}
    for file_id in [r.file_id for r in db.run(conn, "select_file_ids_of_client_day_type", day)]:
        after = 0  # keyset on (file_id, line_no): each page is an index range, whatever the day's size
        while True:
            rows = db.run(
                conn,
                "select_records_to_assess",
                {"file_id": file_id, "after": after, "page": ASSESS_PAGE},
            ).all()
            if not rows:
                break
            after = rows[-1].line_no
            _judge_loans(conn, rows, policy, profile.version, outcomes)
    return outcomes


def _judge_loans(
    conn: Any, rows: list[Any], policy: LoanPolicy, rule_version: str, outcomes: dict[str, int]
) -> None:
    """Judge one page of loan applications and record the outcomes in one batch per kind."""
    tiers: list[dict[str, Any]] = []
    declined: list[dict[str, Any]] = []
    audits: list[dict[str, Any]] = []
    for row in rows:
        outcome, reasons = judge_loan(loan_facts(json.loads(row.payload), policy), policy)
        key = {"business_no": row.business_no, "rule_version": rule_version}
        if outcome == "DECLINE":
            declined.append({**key, "state": business_types.LOAN.final_refused})
            audits.append(
                {
                    "actor": "approval",
                    "action": "policy_declined",
                    "subject": row.business_no,
                    "detail": json.dumps(
                        {"final_code": "A_POLICY", "reasons": reasons, "rule_version": rule_version},
                        sort_keys=True,
                        ensure_ascii=False,
                    ),
                }
            )
            outcomes["POLICY"] += 1
        else:
            state = "APPROVED" if outcome == "AUTO" else "PENDING_APPROVAL"
            tiers.append({**key, "state": state, "tier": outcome})
            outcomes[outcome] += 1
    if tiers:
        db.run_many(conn, "update_record_tier", tiers)
    if declined:
        db.run_many(conn, "update_record_policy_declined", declined)
        events.audit_many(conn, audits)


def _profile_data_of_version(
    conn: Any, client_id: str, version: str | None, business_date: str
) -> dict[str, Any]:
    """The profile settings that judged a record (kept in profile_versions), else the current ones.

    A routed record is shown with the version that judged it even while the current profile
    cannot be used (reviewers of a held client still see its facts); a record not routed yet
    needs the current profile and its ``approval:`` rules, as routing reads them
    (:class:`profiles.InvalidProfile` when they cannot be used)."""
    if version is not None:
        row = db.run(conn, "select_profile_version", {"client_id": client_id, "version": version}).first()
        if row is not None:
            return profiles._merge(profiles.DEFAULTS, yaml.safe_load(row.content) or {})
    return _rules(client_id, business_date)[0].data


# --------------------------------------------------------------------------- the queue


def _clients(business_date: str, state: str) -> list[str]:
    with db.begin() as conn:
        rows = db.run(conn, "select_clients_with_state", {"business_date": business_date, "state": state})
        return [r.client_id for r in rows]


def pending(
    business_date: str | None = None,
    client_id: str | None = None,
    tier: str | None = None,
    min_cents: int | None = None,
    max_cents: int | None = None,
) -> list[dict[str, Any]]:
    """Records waiting for a person, filtered by date, client, tier and amount range (cents)."""
    with db.begin() as conn:
        rows = db.run(
            conn,
            "select_pending_approvals",
            {
                "business_date": business_date,
                "client_id": client_id,
                "tier": tier,
                "min_cents": min_cents,
                "max_cents": max_cents,
            },
        )
        return [r._asdict() for r in rows]


def record_detail(business_no: str) -> dict[str, Any]:
    """One record with its validation facts, risk facts, decisions so far and maker.

    ``profile_problem`` is None, or says that the client's current profile (or its ``approval:``
    rules) cannot be used: a record not routed yet then has no risk facts (``risk`` is empty),
    since they come from rules that cannot be read; everything else about it is shown. Nothing
    is alerted here: the stage that holds the client raises PROFILE_INVALID."""
    with db.begin() as conn:
        record = db.run(conn, "select_record", {"business_no": business_no}).first()
        if record is None:
            raise NoSuchRecord(f"no record {business_no}")
        payload = json.loads(record.payload)
        file = db.run(conn, "select_file_of_record", {"file_id": record.file_id}).first()
        submission = db.run(conn, "select_submission", {"file_id": record.file_id}).first()
        decisions = [
            dict(a._mapping) for a in db.run(conn, "select_approvals_of_record", {"business_no": business_no})
        ]
        data: dict[str, Any] | None = None
        problem: str | None = None
        try:
            data = _profile_data_of_version(
                conn, record.client_id, record.rule_version, str(record.business_date)
            )
        except profiles.InvalidProfile as broken:
            problem = (
                f"the client's profile {broken.path.name} cannot be used ({broken.problem}), so its "
                "approval rules and this record's risk facts cannot be shown until it is fixed "
                "(PROFILE_INVALID)"
            )
    if data is None:
        risk: dict[str, Any] = {}
    elif record.file_type == "LOAN":
        policy = LoanPolicy.of(data)
        facts = loan_facts(payload, policy)
        outcome, reasons = judge_loan(facts, policy)
        risk = {**{k: (str(v) if isinstance(v, Decimal) else v) for k, v in facts.items()}}
        risk.update(policy_outcome=outcome, reasons=reasons)
        for key in ("dti", "ltv"):
            if facts[key] is not None:
                risk[key] = f"{facts[key]:.4f}"
        risk["monthly_income"] = f"{facts['monthly_income'].quantize(CENT, rounding=ROUND_HALF_UP)}"
    else:
        risk = pay_facts(record.amount_cents, record.currency, data)
    return {
        "business_no": record.business_no,
        "client_id": record.client_id,
        "file_type": record.file_type,
        "business_date": record.business_date,
        "client_ref": record.client_ref,
        "amount_cents": record.amount_cents,
        "currency": record.currency,
        "state": record.state,
        "tier": record.tier,
        "levels_needed": LEVELS_NEEDED.get(record.tier or "", 0),
        "rule_version": record.rule_version,
        "final_code": record.final_code,
        "validation": {
            "file_id": record.file_id,
            "file": file.stem if file else None,
            "line_no": record.line_no,
            "ack_status": record.ack_status,
            "reason_codes": record.reason_codes,
        },
        "risk": risk,
        "profile_problem": problem,
        "payload": payload,
        "submitted_by": submission.submitted_by if submission else None,
        "decisions": decisions,
    }


def audit_trail(business_no: str) -> list[dict[str, Any]]:
    """The audit events of one record, oldest first (details decoded)."""
    with db.begin() as conn:
        rows = db.run(conn, "select_audit_events_of_subject", {"subject": business_no}).mappings().all()
    return [{**dict(r), "detail": json.loads(r["detail"])} for r in rows]


def decisions_by_person(business_date: str) -> dict[str, int]:
    """How many decisions each person made on the day's records."""
    with db.begin() as conn:
        rows = db.run(conn, "count_decisions_of_day", {"business_date": business_date})
        return {r.decided_by: int(r.n) for r in rows}


def submit(file_id: int, user: str) -> None:
    """An operator submits a file's records for review and becomes their maker (once per file)."""
    with db.begin() as conn:
        if db.run(conn, "select_file_of_record", {"file_id": file_id}).first() is None:
            raise NoSuchRecord(f"no file {file_id}")
        existing = db.run(conn, "select_submission", {"file_id": file_id}).first()
        if existing is not None:
            raise NotPending(f"file {file_id} was already submitted by {existing.submitted_by}")
        deciders = {r.decided_by for r in db.run(conn, "select_deciders_of_file", {"file_id": file_id})}
        if user in deciders:
            raise FourEyesRefused(f"{user} already decided on records of file {file_id}: cannot be its maker")
        db.run(conn, "insert_submission", {"file_id": file_id, "submitted_by": user})
        events.audit(conn, user, "approval_submitted", f"file/{file_id}")


def decide(business_no: str, user: str, decision: str, opinion: str = "") -> str:
    """Record one reviewer's decision; returns the record's state afterwards.

    Refuses (:class:`FourEyesRefused`) the file's maker and anyone who already decided on the
    record; refuses (:class:`NotPending`) a record that no longer waits. A decline needs an
    opinion. Roles are checked by the callers (API, CLI); these rules hold for every caller.
    """
    decision, opinion = _checked(user, decision, opinion)
    try:
        with db.begin() as conn:
            decided, refused = _decide_batch(conn, [business_no], user, decision, opinion)
            if business_no in refused:
                raise refused[business_no]
            return decided[business_no]
    except IntegrityError as exc:
        # Two people deciding the same level at once, or one person twice at once: the
        # database's uniqueness keeps one; the other is told to look again.
        raise NotPending(f"{business_no} was decided by someone else at the same moment; reload") from exc


def _checked(user: str, decision: str, opinion: str) -> tuple[str, str]:
    """The decision and opinion normalized, or :class:`DecisionRefused` for a malformed one."""
    decision = decision.upper()
    opinion = opinion.strip()
    if decision not in ("APPROVE", "DECLINE"):
        raise DecisionRefused(f"decision must be APPROVE or DECLINE, not {decision!r}")
    if decision == "DECLINE" and not opinion:
        raise DecisionRefused("a decline needs an opinion (审批意见)")
    if not user.strip():
        raise DecisionRefused("a decision needs the name of the person deciding")
    return decision, opinion


DECIDE_BATCH = 1000  # records per transaction in decide_many


def decide_many(
    business_nos: list[str], user: str, decision: str, opinion: str = ""
) -> tuple[dict[str, str], dict[str, str]]:
    """One reviewer's same decision on many records ("approve selected" on the review page).

    Every record is judged by exactly the rules of :func:`decide` (four-eyes, maker-checker,
    still pending, a decline needs an opinion) and recorded as its own ``approvals`` row and
    audit event; only the round trips are shared: one transaction per :data:`DECIDE_BATCH`
    records. Returns ``(decided, refused)``: business number -> state afterwards, and business
    number -> why it was refused. A batch that meets a concurrent decision is rolled back and
    its records are decided one by one, so the outcome is the same as deciding each alone.
    """
    decision, opinion = _checked(user, decision, opinion)
    decided: dict[str, str] = {}
    refused: dict[str, str] = {}
    unique = list(dict.fromkeys(business_nos))
    for start in range(0, len(unique), DECIDE_BATCH):
        batch = unique[start : start + DECIDE_BATCH]
        try:
            with db.begin() as conn:
                done, refusals = _decide_batch(conn, batch, user, decision, opinion)
                no = {k: str(v) for k, v in refusals.items()}
        except (IntegrityError, NotPending):
            done, no = {}, {}
            for business_no in batch:
                try:
                    done[business_no] = decide(business_no, user, decision, opinion)
                except DecisionRefused as exc:
                    no[business_no] = str(exc)
        decided.update(done)
        refused.update(no)
    return decided, refused


def _decide_batch(
    conn: Any, batch: list[str], user: str, decision: str, opinion: str
) -> tuple[dict[str, str], dict[str, DecisionRefused]]:
    """Judge and record ``batch`` inside ``conn``: (state after per decided record, refusals)."""
    numbers = json.dumps(batch)

    def select(name: str) -> Any:
        # The batch as one JSON array parameter: an IN list of 1,000 placeholders cost more to
        # build and send than the statement took (1.5 s of 7.1 s for 65,600 decisions at 1M).
        return db.run(conn, f"{name}_{conn.dialect.name}", {"business_nos": numbers})

    records = {r.business_no: r for r in select("select_records_for_decision")}
    deciders: dict[str, list[str]] = {}
    for row in select("select_deciders_of_records"):
        deciders.setdefault(row.business_no, []).append(row.decided_by)
    decided: dict[str, str] = {}
    refused: dict[str, DecisionRefused] = {}
    approvals: list[dict[str, Any]] = []
    to_state: list[dict[str, Any]] = []
    to_final: list[dict[str, Any]] = []
    audits: list[dict[str, str]] = []
    for business_no in batch:
        record = records.get(business_no)
        earlier = deciders.get(business_no, [])
        if record is None:
            refused[business_no] = NoSuchRecord(f"no record {business_no}")
            continue
        if record.state != "PENDING_APPROVAL":
            refused[business_no] = NotPending(f"{business_no} is {record.state}, not waiting for approval")
            continue
        if record.submitted_by == user:
            refused[business_no] = FourEyesRefused(
                f"{user} submitted this file for review: the maker is never the checker"
            )
            continue
        if user in earlier:
            refused[business_no] = FourEyesRefused(
                f"{user} already decided on {business_no}; a second level needs another person"
            )
            continue
        level = len(earlier) + 1
        needed = LEVELS_NEEDED[record.tier]
        approvals.append(
            {
                "business_no": business_no,
                "level": level,
                "decision": decision,
                "decided_by": user,
                "opinion": opinion,
                "rule_version": record.rule_version,
            }
        )
        if decision == "DECLINE":
            state = business_types.get(record.file_type).final_refused
            to_final.append(
                {
                    "business_no": business_no,
                    "state": state,
                    "final_code": "A_DECLINED",
                    "final_date": record.business_date,
                    "expected": "PENDING_APPROVAL",
                }
            )
        elif level >= needed:
            state = "APPROVED"
            to_state.append({"business_no": business_no, "state": state, "expected": "PENDING_APPROVAL"})
        else:
            state = "PENDING_APPROVAL"
        decided[business_no] = state
        detail = {
            "level": level,
            "levels_needed": needed,
            "decision": decision,
            "opinion": opinion,
            "rule_version": record.rule_version,
            "state_after": state,
        }
        audits.append(
            {
                "actor": user,
                "action": f"approval_{decision.lower()}",
                "subject": business_no,
                "detail": json.dumps(detail, sort_keys=True, default=str),
            }
        )
    if approvals:
        db.run_many(conn, "insert_approval", approvals)
    for name, rows in (("update_record_state", to_state), ("update_record_final", to_final)):
        if rows and db.run_many(conn, name, rows).rowcount != len(rows):
            raise NotPending("records changed while deciding; reload")
    if audits:
        events.audit_many(conn, audits)
    return decided, refused


def demo_decide(business_date: str) -> int:
    """The demo's named reviewers approve what is pending. Only when DAYBOOK_DEMO_APPROVER is set.

    The n-th named reviewer decides level n: the first every waiting record's first level, the
    second the second level of the two-level ones. They work as two people would: the first
    goes through the queue in batches (:func:`decide_many`, one transaction each), two-level
    records first, and hands each committed batch's records that need another level to the
    second, who decides them while the first goes on. On PostgreSQL each works on a connection
    of their own, at once (the database's second core does the second reviewer's batches instead
    of idling); SQLite has one writer at a time, so there the second starts when the first is
    done.

    The audit chain stays one line per client: a batch appends its events at the end of its
    transaction holding the chain head's row lock until commit (:mod:`daybook.audit_chain`), so
    the two reviewers' batches take turns only for that tail, the chain's order is the commit
    order, and a record's level-2 event always follows its level-1 event (the second reviewer
    only gets records whose first level is committed). A record is decided at most once per
    level: each level has one reviewer, who gets each record once, and the database's
    uniqueness refuses anyone else's decision of it meanwhile (refused by decide_many: not
    pending, or that level taken).
    """
    names = [n.strip() for n in settings().demo_approver.split(",") if n.strip()]
    if not names:
        log.info("no demo approver configured: pending items wait for people")
        return 0
    reviewers = names if len(names) >= 2 else [names[0], f"{names[0]}-second"]
    levels = max(LEVELS_NEEDED.values())
    # The queue is read once (a scan of the day's records); each record's levels done are then
    # known from the batches decided.
    waiting = _demo_queue(business_date)
    needed = {no: n for no, _, n in waiting}
    inboxes: list[queue.SimpleQueue[list[str] | None]] = [queue.SimpleQueue() for _ in range(levels)]
    for level, inbox in enumerate(inboxes):
        todo = [no for no, done, n in waiting if done == level < n]
        for start in range(0, len(todo), DECIDE_BATCH):
            inbox.put(todo[start : start + DECIDE_BATCH])
    inboxes[0].put(None)  # the first level has nobody before it: its queue ends here

    def review(level: int) -> int:
        onward = inboxes[level + 1] if level + 1 < levels else None
        return _demo_review(reviewers[level], level, inboxes[level], onward, needed)

    if db.engine().dialect.name != "postgresql":
        return sum(review(level) for level in range(levels))
    with ThreadPoolExecutor(max_workers=levels, thread_name_prefix="demo-reviewer") as pool:
        running = [pool.submit(review, level) for level in range(levels)]
        return sum(f.result() for f in running)


def _demo_queue(business_date: str) -> list[tuple[str, int, int]]:
    """The day's waiting records as (business number, levels done, levels needed), those with
    most levels to go first (so the second reviewer has work early), then by number."""
    with db.begin() as conn:
        rows = db.run(conn, "select_pending_levels", {"business_date": business_date}).all()
    items = [(no, int(done), LEVELS_NEEDED[tier]) for no, tier, done in rows]
    items.sort(key=lambda item: (item[1] - item[2], item[0]))
    return items


def _demo_review(
    reviewer: str,
    level: int,
    inbox: queue.SimpleQueue[list[str] | None],
    onward: queue.SimpleQueue[list[str] | None] | None,
    needed: dict[str, int],
) -> int:
    """One demo reviewer deciding level ``level + 1`` of what arrives in ``inbox`` (None: no more),
    handing the records that need a further level to ``onward`` once their batch is committed.
    Returns the number decided. ``onward`` always gets its end mark, even when this one fails,
    so the next reviewer is never left waiting."""
    decided = 0
    try:
        while (batch := _next_batch(inbox)) is not None:
            done, refused = decide_many(batch, reviewer, "APPROVE", "approved by the demo reviewer")
            for business_no, why in refused.items():
                log.warning("demo reviewer %s could not decide %s: %s", reviewer, business_no, why)
            decided += len(done)
            further = [no for no in batch if no in done and needed[no] > level + 1]
            if onward is not None and further:
                onward.put(further)
    finally:
        if onward is not None:
            onward.put(None)
    return decided


def _next_batch(inbox: queue.SimpleQueue[list[str] | None]) -> list[str] | None:
    """The next records to decide: what is waiting in ``inbox`` (after blocking for the first),
    up to :data:`DECIDE_BATCH`; None once the inbox is at its end."""
    batch = inbox.get()
    if batch is None:
        return None
    while len(batch) < DECIDE_BATCH:
        try:
            more = inbox.get_nowait()
        except queue.Empty:
            break
        if more is None:
            inbox.put(None)  # the end mark: seen again by the next call
            break
        batch = batch + more
    return batch


# --------------------------------------------------------------------------- cutoff


# What a held client's waiting records go through (the PROFILE_INVALID alert says it).
_HELD_WAITING = (
    "its records waiting for review are not expired at its approval cutoff (unknown while the "
    "profile cannot be read) and the day's batch is released without them; they stay "
    "PENDING_APPROVAL until it is fixed and approval_daily runs again for the date"
)


def _profile_and_cutoff(client_id: str, business_date: str) -> tuple[profiles.Profile, datetime]:
    """The client's profile and approval cutoff on the date; :class:`profiles.InvalidProfile`
    when the profile does not load or ``cutoffs.approval`` is not a time ``"HH:MM"``."""
    profile = profiles.load(client_id)
    return profile, profiles.cutoff(profile, "approval", business_date)


def _waiting_clients(business_date: str) -> tuple[dict[str, tuple[profiles.Profile, datetime]], list[str]]:
    """The clients with records waiting for a person on the date: those whose profile and approval
    cutoff can be read (client -> (profile, cutoff)), and the held ones (PROFILE_INVALID raised)."""
    usable: dict[str, tuple[profiles.Profile, datetime]] = {}
    held: list[str] = []
    for client_id in _clients(business_date, "PENDING_APPROVAL"):
        try:
            usable[client_id] = _profile_and_cutoff(client_id, business_date)
        except profiles.InvalidProfile as broken:
            profiles.hold(client_id, broken, business_date, _HELD_WAITING, stage="approval")
            held.append(client_id)
    return usable, held


def poke_decisions(business_date: str, now: datetime | None = None) -> bool:
    """One poke of approval_daily's wait for decisions: :func:`backlog_alert`, then
    :func:`decisions_complete`'s answer, with the waiting clients read once for both (a scan of
    the day's records; a poke a minute until the cutoff)."""
    now = now or datetime.now(BUSINESS_TZ)
    waiting = _waiting_clients(business_date)
    _backlog_alert(business_date, now, waiting[0])
    return _decisions_complete(business_date, now, *waiting)


def decisions_complete(business_date: str, now: datetime | None = None) -> bool:
    """True when no record of the day waits for a person, or every waiting client is past its cutoff.

    A client whose profile cannot be used is held, not done: its cutoff is unknown, so its
    waiting records are neither waited for nor expired. They stay PENDING_APPROVAL (reviewers may
    still decide them), a PROFILE_INVALID alert names the client, and :func:`batch_summary` lists
    it as held for the supervisor who releases the batch. The other clients are not kept waiting
    for a profile fix that may take a day: they go on to expiry and release. After the fix, a run
    of approval_daily for the date waits for the held client's cutoff like any other's.
    """
    return _decisions_complete(
        business_date, now or datetime.now(BUSINESS_TZ), *_waiting_clients(business_date)
    )


def _decisions_complete(
    business_date: str, now: datetime, usable: dict[str, tuple[profiles.Profile, datetime]], held: list[str]
) -> bool:
    if held:
        log.error("approval %s: held, not waited for (profile cannot be used): %s", business_date, held)
    return all(now >= at for _, at in usable.values())


def backlog_alert(business_date: str, now: datetime | None = None) -> dict[str, dict[str, int]]:
    """Before each client's cutoff (``backlog_alert_minutes``), raise one alert with the backlog.

    Returns the counts per tier of each client alerted now (once per client and day: the
    alert's dedup key makes a repeated poke a no-op in the table).
    """
    usable, _held = _waiting_clients(business_date)  # a held client has no cutoff to warn of
    return _backlog_alert(business_date, now or datetime.now(BUSINESS_TZ), usable)


def _backlog_alert(
    business_date: str, now: datetime, usable: dict[str, tuple[profiles.Profile, datetime]]
) -> dict[str, dict[str, int]]:
    alerted: dict[str, dict[str, int]] = {}
    for client_id, (profile, at) in usable.items():
        lead = timedelta(minutes=int(_approval_section(profile.data)["backlog_alert_minutes"]))
        if not (at - lead <= now < at):
            continue
        with db.begin() as conn:
            rows = db.run(
                conn, "count_pending_by_tier", {"business_date": business_date, "client_id": client_id}
            ).all()
            counts = {r.tier: int(r.n) for r in rows}
            total = sum(counts.values())
            by_tier = ", ".join(f"{t} {n}" for t, n in counts.items())
            events.alert(
                conn,
                "APPROVAL_BACKLOG",
                f"{total} records of {client_id} ({business_date}) wait for review; "
                f"approval cutoff {at:%H:%M} Asia/Shanghai; by tier: {by_tier}",
                dedup_key=f"approval-backlog:{client_id}:{business_date}",
                client_id=client_id,
                business_date=business_date,
            )
        alerted[client_id] = counts
    return alerted


def expire(business_date: str, now: datetime | None = None) -> int:
    """At each client's approval cutoff, undecided records become final with A_EXPIRED.

    A client whose profile cannot be used is held (PROFILE_INVALID): its cutoff is unknown, so
    nothing of it expires (never at a default cutoff); a run after the fix expires it."""
    now = now or datetime.now(BUSINESS_TZ)
    expired = 0
    usable, _held = _waiting_clients(business_date)
    for client_id, (_profile, at) in usable.items():
        if now < at:
            continue
        with db.begin() as conn:
            waiting = [
                r["business_no"]
                for r in db.run(
                    conn,
                    "select_pending_approvals",
                    {
                        "business_date": business_date,
                        "client_id": client_id,
                        "tier": None,
                        "min_cents": None,
                        "max_cents": None,
                    },
                ).mappings()
            ]
            for type_code, btype in business_types.REGISTRY.items():
                expired += db.run(
                    conn,
                    "update_records_expired",
                    {
                        "business_date": business_date,
                        "client_id": client_id,
                        "file_type": type_code,
                        "state": btype.final_refused,
                    },
                ).rowcount
            if waiting:
                events.audit(
                    conn,
                    "approval",
                    "approval_expired",
                    f"{client_id}/{business_date}",
                    final_code="A_EXPIRED",
                    business_nos=waiting,
                )
                events.alert(
                    conn,
                    "APPROVAL_EXPIRED",
                    f"{len(waiting)} records of {client_id} expired undecided",
                    dedup_key=f"approval-expired:{client_id}:{business_date}",
                    client_id=client_id,
                    business_date=business_date,
                )
    return expired


# --------------------------------------------------------------------------- batch release


def held_clients(business_date: str) -> dict[str, str]:
    """The clients approval holds on the date: records still VALIDATED or PENDING_APPROVAL and a
    profile (rules, approval cutoff) that cannot be used; client -> what is wrong. Their alert
    was raised by the task that held them."""
    held: dict[str, str] = {}
    with db.begin() as conn:  # one scan of the day's records for both states
        clients = [
            r.client_id
            for r in db.run(conn, "select_clients_before_release", {"business_date": business_date})
        ]
    for client_id in clients:
        try:
            _rules(client_id, business_date)
            _profile_and_cutoff(client_id, business_date)
        except profiles.InvalidProfile as broken:
            held[client_id] = f"{broken.path.name}: {broken.problem}"
    return held


def batch_summary(business_dates: list[str]) -> str:
    """Markdown for the supervisor who releases the day's settlement batch, with the clients held
    because their profile cannot be used (their records are not in this release)."""
    lines = ["| business date | state | records |", "|---|---|---|"]
    with db.begin() as conn:
        for d in business_dates:
            for r in db.run(conn, "count_records_by_state", {"business_date": d}):
                lines.append(f"| {d} | {r.state} | {r.n} |")
    held = [(d, client, problem) for d in business_dates for client, problem in held_clients(d).items()]
    text = (
        "Release the approved records of the day to settlement. Every record below is in its "
        "state after review and the approval cutoff.\n\n" + "\n".join(lines)
    )
    if held:
        text += (
            "\n\n**Held, not in this release** (PROFILE_INVALID: the client's profile cannot be used; "
            "its VALIDATED and PENDING_APPROVAL records above wait for the fix and a new approval "
            "run, see docs/runbooks/profile_invalid.md):\n\n"
            + "\n".join(f"- {client} {d}: {problem}" for d, client, problem in held)
        )
    return text


def record_release(business_dates: list[str], released_by: str, how: str) -> None:
    """The batch-level sign-off as an audit event (who released which days, and how)."""
    with db.begin() as conn:
        for d in business_dates:
            events.audit(conn, released_by, "batch_released", f"batch/{d}", how=how)
