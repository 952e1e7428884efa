"""Anti-money-laundering (反洗钱) checks of payments, between approval and settlement.

Three rules, thresholds in ``config/aml/thresholds.yaml`` (``DAYBOOK_AML_CONFIG``), each key
overridable per client under ``aml:`` in its profile; see docs/settlement.md:

1. Large-value transaction report (PBOC Order 2016 No. 3): per client, day and payer, the
   settled payments of a natural person (RIC) totalling RMB 500,000 or more, or of a
   non-natural person (USCC) totalling RMB 2,000,000 or more, single or same-day cumulative.
   A report never stops a payment.
2. Sanctions screening of payer and payee names against the list file: Latin names fuzzy
   (rapidfuzz token_sort_ratio after normalization), Chinese names exact after normalization.
3. Structuring: several payments of one payer each just below its reporting threshold within
   a few days.

A sanctions or structuring hit holds the payment (state ``AML_HOLD``, an open case). Two
distinct people must agree to release it (back to APPROVED, settled by the next settlement
run) or to block it (RETURNED with M_AML_HOLD). At the client's settlement cutoff, a case
still open expires: RETURNED with M_AML_HOLD.
"""

from __future__ import annotations

import copy
import csv
import functools
import hashlib
import io
import itertools
import logging
import os
import re
import unicodedata
from collections.abc import Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from rapidfuzz import fuzz, process
from sqlalchemy import bindparam
from sqlalchemy import text as sql_text

from daybook import arrowcsv, clearing, csvsafe, db, events, profiles
from daybook.config import BUSINESS_TZ, PROJECT_ROOT, settings
from daybook.storage import open_store

log = logging.getLogger(__name__)
DECISIONS = ("RELEASE", "BLOCK")
FETCH_ROWS = 20_000
LVR_HEADER = [
    "payer_id_type",
    "payer_id_no",
    "payer_total",
    "business_no",
    "client_ref",
    "value_date",
    "payer_name",
    "payee_name",
    "payee_account",
    "payee_bank_code",
    "amount",
    "currency",
]


class AmlError(RuntimeError):
    """A decision that the rules do not allow (not open, same person twice)."""


# --------------------------------------------------------------------------- configuration


def config_dir() -> Path:
    return Path(os.environ.get("DAYBOOK_AML_CONFIG", "").strip() or PROJECT_ROOT / "config" / "aml")


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        out[key] = (
            _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
        )
    return out


@dataclass(frozen=True)
class Thresholds:
    natural_min_cents: int
    entity_min_cents: int
    window_days: int
    min_payments: int
    band: Decimal
    latin_min_score: int
    list_path: Path

    @classmethod
    def of(cls, data: dict[str, Any]) -> Thresholds:
        lv, st, sa = data["large_value"], data["structuring"], data["sanctions"]
        return cls(
            natural_min_cents=profiles.cents(lv["natural_person_min"]),
            entity_min_cents=profiles.cents(lv["non_natural_person_min"]),
            window_days=int(st["window_days"]),
            min_payments=int(st["min_payments"]),
            band=Decimal(str(st["band"])),
            latin_min_score=int(sa["latin_min_score"]),
            list_path=config_dir() / str(sa["list"]),
        )

    def low(self, threshold_cents: int) -> int:
        """Lowest amount (cents) that counts as 'just below' the threshold."""
        return int((Decimal(threshold_cents) * (1 - self.band)).to_integral_value(rounding="ROUND_CEILING"))


def thresholds(client_id: str | None = None) -> Thresholds:
    """The platform's thresholds, with the client's ``aml:`` overrides when ``client_id`` is given;
    :class:`profiles.InvalidProfile` when the client's profile does not load or its overrides
    cannot be read (the platform's own file failing raises as it is)."""
    data = yaml.safe_load((config_dir() / "thresholds.yaml").read_text(encoding="utf-8"))
    base = Thresholds.of(data)
    if not client_id:
        return base
    profile = profiles.load(client_id)
    override = profile.data.get("aml") or {}
    try:
        if not isinstance(override, dict):
            raise TypeError("aml must be a mapping")
        return Thresholds.of(_merge(data, override))
    except (ArithmeticError, AttributeError, KeyError, TypeError, ValueError) as exc:
        raise profiles.InvalidProfile(
            profiles.profile_path(client_id),
            profile.version,
            f"aml thresholds cannot be read ({type(exc).__name__}: {exc}); found aml: {override!r}",
        ) from exc


def _thresholds_or_hold(client_id: str, business_date: str, consequence: str) -> Thresholds | None:
    """The client's thresholds; None after :func:`profiles.hold` when its profile cannot be used."""
    try:
        return thresholds(client_id)
    except profiles.InvalidProfile as broken:
        profiles.hold(client_id, broken, business_date, consequence, stage="settlement")
        return None


# --------------------------------------------------------------------------- sanctions names

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_MIDDLE_DOTS = "·・•‧"


def is_chinese(name: str) -> bool:
    return bool(_CJK.search(name))


def chinese_key(name: str) -> str:
    """NFKC (full-width to half-width), then without whitespace or middle dots."""
    text = unicodedata.normalize("NFKC", name)
    return "".join(ch for ch in text if not ch.isspace() and ch not in _MIDDLE_DOTS)


def latin_key(name: str) -> str:
    """Case-folded, accents and punctuation removed, tokens sorted (token order does not matter)."""
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", name))
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    tokens = re.sub(r"[^\w]+|_", " ", text).split()
    return " ".join(sorted(tokens))


@dataclass(frozen=True)
class SanctionsList:
    chinese: dict[str, tuple[str, str]]  # key -> (entry_id, listed name)
    latin_keys: list[str]
    latin_entries: list[tuple[str, str]]
    min_score: int

    def match(self, name: str) -> tuple[str, str, int] | None:
        """(entry_id, listed name, score) of the best hit, or None."""
        if not name:
            return None
        if is_chinese(name):
            hit = self.chinese.get(chinese_key(name))
            return (hit[0], hit[1], 100) if hit else None
        key = latin_key(name)
        if not key or not self.latin_keys:
            return None
        best = process.extractOne(key, self.latin_keys, scorer=fuzz.ratio, score_cutoff=self.min_score)
        if best is None:
            return None
        entry_id, listed = self.latin_entries[best[2]]
        return entry_id, listed, int(best[1])

    def match_many(self, names: Iterable[str]) -> dict[str, tuple[str, str, int]]:
        """The hits among ``names`` (name -> (entry_id, listed name, score)), each distinct name
        matched once: Chinese names by a dictionary lookup of their key, Latin names by one
        ``rapidfuzz.process.cdist`` of their distinct keys against the list (in blocks), with the
        same scorer, cutoff and tie rule (first listed entry) as :meth:`match`."""
        hits: dict[str, tuple[str, str, int]] = {}
        latin: dict[str, list[str]] = {}
        for name in set(names):
            if not name:
                continue
            if is_chinese(name):
                hit = self.chinese.get(chinese_key(name))
                if hit:
                    hits[name] = (hit[0], hit[1], 100)
            else:
                key = latin_key(name)
                if key:
                    latin.setdefault(key, []).append(name)
        if not latin or not self.latin_keys:
            return hits
        keys = sorted(latin)
        block = max(1, 4_000_000 // len(self.latin_keys))  # at most ~32 MB of scores at a time
        for start in range(0, len(keys), block):
            part = keys[start : start + block]
            scores = process.cdist(
                part, self.latin_keys, scorer=fuzz.ratio, score_cutoff=self.min_score, dtype=np.float64
            )
            best = scores.argmax(axis=1)
            for i in np.flatnonzero(scores[np.arange(len(part)), best] >= self.min_score):
                entry_id, listed = self.latin_entries[int(best[i])]
                for name in latin[part[i]]:
                    hits[name] = (entry_id, listed, int(scores[i, best[i]]))
        return hits


@functools.cache
def _load_list(path: str, mtime: float, min_score: int) -> SanctionsList:
    chinese: dict[str, tuple[str, str]] = {}
    latin_keys: list[str] = []
    latin_entries: list[tuple[str, str]] = []
    with open(path, encoding="utf-8-sig", newline="") as fh:
        for row in csv.DictReader(fh):
            name = row["name"].strip()
            if not name:
                continue
            if is_chinese(name):
                chinese[chinese_key(name)] = (row["entry_id"], name)
            else:
                latin_keys.append(latin_key(name))
                latin_entries.append((row["entry_id"], name))
    return SanctionsList(chinese, latin_keys, latin_entries, min_score)


def sanctions_list(t: Thresholds) -> SanctionsList:
    return _load_list(str(t.list_path), t.list_path.stat().st_mtime, t.latin_min_score)


# --------------------------------------------------------------------------- screening


def _clients(business_date: str) -> list[str]:
    with db.begin() as conn:
        return [
            r.client_id
            for r in db.run(
                conn, "select_clients_of_day", {"business_date": business_date, "file_type": "PAY"}
            )
        ]


def _parties(conn: Any, key: dict[str, str]) -> Iterator[tuple[Any, Any, Any]]:
    """The business numbers, payer names and payee names of the client's open payments of the day
    (approved, never screened) as Arrow arrays, a batch at a time, in no particular order. The
    names are read from the payloads in this process (:func:`daybook.clearing.json_fields`):
    the database server took 6 s to parse a million payloads for them (json_to_record)."""
    with (
        clearing.arrow_rows(conn, "select_pay_party_payloads", key) as (_, batches),
        # PostgreSQL: the driver decodes the next batch on a thread of its own while this one
        # parses (a cursor's fetch on SQLite builds Python rows: no gain).
        clearing.ahead(batches, "aml-read")
        if conn.dialect.name == "postgresql"
        else nullcontext(batches) as read,
    ):
        for batch in read:
            if batch.num_rows:
                names = clearing.json_fields(batch.column("payload"), ["payer_name", "payee_name"])
                yield batch.column("business_no"), names["payer_name"], names["payee_name"]


def _party_names(conn: Any, key: dict[str, str]) -> list[str]:
    """The distinct non-empty payer and payee names of the client's open payments of the day,
    sorted: each is matched against the sanctions list once."""
    import pyarrow.compute as pc

    seen: set[str | None] = set()
    for _, payers, payees in _parties(conn, key):
        seen.update(pc.unique(payers).to_pylist())
        seen.update(pc.unique(payees).to_pylist())
    return sorted(name for name in seen if name)


def _parties_named(
    conn: Any, key: dict[str, str], names: set[str]
) -> list[tuple[str, str | None, str | None]]:
    """(business number, payer name, payee name) of the client's open payments of the day whose
    payer or payee is one of ``names``, by business number."""
    import pyarrow as pa
    import pyarrow.compute as pc

    wanted = pa.array(sorted(names), type=pa.string())
    found: list[tuple[str, str | None, str | None]] = []
    for numbers, payers, payees in _parties(conn, key):
        mask = pc.fill_null(
            pc.or_(pc.is_in(payers, value_set=wanted), pc.is_in(payees, value_set=wanted)), False
        )
        if pc.any(mask).as_py():
            found += zip(
                pc.filter(numbers, mask).to_pylist(),
                pc.filter(payers, mask).to_pylist(),
                pc.filter(payees, mask).to_pylist(),
                strict=True,
            )
    return sorted(found)


def screen(business_date: str) -> dict[str, int]:
    """Hold the day's approved payments that hit the sanctions list or look like structuring.

    Idempotent: a payment with a case (open or decided) is never screened again, so a released
    payment is not held twice.

    A client whose profile (or its ``aml:`` overrides) cannot be used is not screened: its
    thresholds are unknown, and screening it by the platform's alone could miss a stricter
    override. PROFILE_INVALID names it; its payments stay APPROVED and unscreened, and settlement
    holds the same client while the profile is broken. After the fix, screening runs again
    before posting (clear ``screen_aml`` with its downstream tasks; settlement also screens a
    client's day itself when its last screening did not cover the payments it plans).
    """
    db.migrate()
    counts = {"SANCTIONS": 0, "STRUCTURING": 0}
    for client_id in _clients(business_date):
        t = _thresholds_or_hold(
            client_id,
            business_date,
            "its approved payments are not screened (sanctions, structuring) until it is fixed; "
            "screen them again before they are settled",
        )
        if t is None:
            continue
        for rule, n in screen_client(client_id, business_date, t).items():
            counts[rule] += n
    log.info("AML screening for %s: %s", business_date, counts)
    return counts


def screen_client(client_id: str, business_date: str, t: Thresholds) -> dict[str, int]:
    """Screen one client's approved payments of the day (see :func:`screen`) in one transaction,
    and record what the screening covered (:func:`_record_screening`). Returns the holds by rule."""
    key = {"client_id": client_id, "business_date": business_date}
    with db.begin() as conn:
        before = fingerprint(conn, key)
        dialect = conn.dialect.name
        cases: dict[str, dict[str, Any]] = {}
        hits = sanctions_list(t).match_many(_party_names(conn, key))
        if hits:
            for no, payer, payee in _parties_named(conn, key, set(hits)):
                for role, name in (("payer", payer), ("payee", payee)):
                    hit = hits.get(name or "")
                    if hit and no not in cases:
                        cases[no] = {
                            "rule": "SANCTIONS",
                            "detail": f"{role} {name!r} matches list entry {hit[0]} {hit[1]!r} (score {hit[2]})",
                        }
        from_date = (date.fromisoformat(business_date) - timedelta(days=t.window_days - 1)).isoformat()
        candidates = conn.execute(
            sql_text(db.sql(f"select_structuring_candidates_{dialect}")),
            {
                **key,
                "from_date": from_date,
                "natural_low": t.low(t.natural_min_cents),
                "natural_min": t.natural_min_cents,
                "entity_low": t.low(t.entity_min_cents),
                "entity_min": t.entity_min_cents,
            },
            execution_options={"stream_results": True, "yield_per": FETCH_ROWS},
        )
        # Streamed one payer at a time (the rows come ordered by payer); alerts are raised
        # once the stream is read, in the payers' code-point order.
        structuring: list[tuple[tuple[str, str], str, int]] = []
        for (id_type, id_no), group in itertools.groupby(
            candidates, key=lambda c: (c.payer_id_type, c.payer_id_no)
        ):
            rows = list(group)
            if len(rows) < t.min_payments:
                continue
            held = [r.business_no for r in rows if r.is_open and r.business_no not in cases]
            detail = (
                f"{len(rows)} payments of payer {id_type} {id_no} just below the large-value "
                f"threshold between {from_date} and {business_date}"
            )
            for no in held:
                cases[no] = {"rule": "STRUCTURING", "detail": detail}
            if held:
                structuring.append(((id_type, id_no), detail, len(held)))
        for (id_type, id_no), detail, held_count in sorted(structuring):
            events.alert(
                conn,
                "AML_HOLD",
                f"{client_id}: {detail}; {held_count} held on {business_date} (structuring)",
                dedup_key=f"aml-structuring:{client_id}:{business_date}:{id_type}:{id_no}",
                severity="warning",
                details={"rule": "STRUCTURING", "held": held_count},
                client_id=client_id,
                business_date=business_date,
            )
        if cases:
            _hold_cases(conn, key, cases)
        _record_screening(conn, key, t, before, _fingerprint_of(conn, sorted(cases)))
    return {
        rule: sum(1 for c in cases.values() if c["rule"] == rule) for rule in ("SANCTIONS", "STRUCTURING")
    }


# --------------------------------------------------------------------------- what a screening covered

# Terms of the amount sum are reduced modulo this prime (select_open_payments_fingerprint.sql).
_MODULUS = 2_147_483_647


@dataclass(frozen=True)
class Fingerprint:
    """A client's approved payments of a day as a set: their count and the sums of their amounts
    (each modulo 2^31 - 1), file ids and line numbers. Equal sets give equal fingerprints; a
    payment added or taken away changes it."""

    payments: int
    amount_sum: int
    file_sum: int
    line_sum: int

    @classmethod
    def of(cls, row: Any) -> Fingerprint:
        return cls(int(row.payments), int(row.amount_sum), int(row.file_sum), int(row.line_sum))

    def __add__(self, other: Fingerprint) -> Fingerprint:
        return Fingerprint(
            self.payments + other.payments,
            self.amount_sum + other.amount_sum,
            self.file_sum + other.file_sum,
            self.line_sum + other.line_sum,
        )

    def __sub__(self, other: Fingerprint) -> Fingerprint:
        return Fingerprint(
            self.payments - other.payments,
            self.amount_sum - other.amount_sum,
            self.file_sum - other.file_sum,
            self.line_sum - other.line_sum,
        )


def fingerprint(conn: Any, key: dict[str, str]) -> Fingerprint:
    """The fingerprint of the client's approved payments of the day, now."""
    return Fingerprint.of(db.run(conn, "select_open_payments_fingerprint", key).one())


def _fingerprint_of(conn: Any, business_nos: list[str]) -> Fingerprint:
    """The fingerprint of the payments with these business numbers (the ones a screening held)."""
    statement = sql_text(db.sql("select_records_fingerprint_terms")).bindparams(
        bindparam("business_nos", expanding=True)
    )
    total = Fingerprint(0, 0, 0, 0)
    for i in range(0, len(business_nos), 1000):
        for r in conn.execute(statement, {"business_nos": business_nos[i : i + 1000]}):
            total += Fingerprint(1, int(r.amount_cents) % _MODULUS, int(r.file_id), int(r.line_no))
    return total


def list_digest(t: Thresholds) -> str:
    """sha256 of the sanctions list file the thresholds name."""
    return hashlib.sha256(t.list_path.read_bytes()).hexdigest()


def _record_screening(
    conn: Any, key: dict[str, str], t: Thresholds, before: Fingerprint, held: Fingerprint
) -> None:
    """Record what this screening covered (aml_screenings): the payments it left approved, by
    fingerprint, and the sanctions list it used. ``before`` was read before the screening read
    anything, ``held`` is what it held: if the payments left approved are not exactly ``before``
    less ``held``, the day changed while it was screened (a payment approved or moved meanwhile),
    and nothing is recorded, so that settlement screens the day again before planning it."""
    after = fingerprint(conn, key)
    db.run(conn, "delete_aml_screening", key)
    recorded = after + held == before
    events.audit(
        conn,
        "aml",
        "screened",
        f"{key['client_id']}/{key['business_date']}",
        approved_before=before.payments,
        held=held.payments,
        approved_after=after.payments,
        list_sha256=list_digest(t),
        recorded=recorded,
    )
    if not recorded:
        log.warning(
            "%s %s: the approved payments changed while they were screened (%d before, %d held, %d "
            "after); the screening is not recorded, settlement screens the day again",
            key["client_id"],
            key["business_date"],
            before.payments,
            held.payments,
            after.payments,
        )
        return
    db.run(
        conn,
        "insert_aml_screening",
        {
            **key,
            "payments": after.payments,
            "amount_sum": after.amount_sum,
            "file_sum": after.file_sum,
            "line_sum": after.line_sum,
            "list_sha256": list_digest(t),
        },
    )


def unscreened(conn: Any, key: dict[str, str], seen: Fingerprint, t: Thresholds) -> str | None:
    """Why the client's approved payments of the day, whose fingerprint is ``seen`` (read in the
    caller's statement), are not known to be screened; None when the last screening of the day
    recorded exactly these payments with the sanctions list in use now."""
    row = db.run(conn, "select_aml_screening", key).first()
    if row is None:
        return "no screening of the day is recorded"
    if Fingerprint.of(row) != seen:
        return (
            f"the approved payments changed since the last screening ({int(row.payments)} then, "
            f"{seen.payments} now)"
        )
    if row.list_sha256 != list_digest(t):
        return "the sanctions list changed since the last screening"
    return None


def _hold_cases(conn: Any, key: dict[str, str], cases: dict[str, dict[str, Any]]) -> None:
    """Open the cases, hold their payments, alert for sanctions hits and audit each hold."""
    client_id, business_date = key["client_id"], key["business_date"]
    db.run(conn, "insert_aml_case", [{**key, "business_no": no, **c} for no, c in sorted(cases.items())])
    db.run(conn, "update_record_aml_hold", [{"business_no": no} for no in sorted(cases)])
    hits = sum(1 for c in cases.values() if c["rule"] == "SANCTIONS")
    if hits:
        events.alert(
            conn,
            "AML_HOLD",
            f"{hits} payments of {client_id} on {business_date} held: sanctions list hit; "
            "two people must release or block each (daybook aml list)",
            dedup_key=f"aml-sanctions:{client_id}:{business_date}",
            severity="warning",
            details={"rule": "SANCTIONS", "held": hits},
            client_id=client_id,
            business_date=business_date,
        )
    for no, c in sorted(cases.items()):
        events.audit(conn, "aml", "held", no, rule=c["rule"], detail=c["detail"])


# --------------------------------------------------------------------------- decisions (four-eyes)


def list_cases(
    business_date: str | None = None, client_id: str | None = None, status: str | None = "OPEN"
) -> list[dict[str, Any]]:
    """AML cases with the decisions recorded so far (for the review queue and the CLI)."""
    with db.begin() as conn:
        rows = (
            db.run(
                conn,
                "select_aml_cases",
                {"business_date": business_date, "client_id": client_id, "status": status},
            )
            .mappings()
            .all()
        )
        out = []
        for r in rows:
            decisions = [
                dict(d)
                for d in db.run(conn, "select_aml_decisions", {"business_no": r["business_no"]}).mappings()
            ]
            out.append({**dict(r), "decisions": decisions})
    return out


def decide(business_no: str, user: str, decision: str, note: str = "") -> str:
    """Record one person's RELEASE or BLOCK; two distinct people agreeing decide the case.

    Returns the case status afterwards (OPEN until two people agree). Raises :class:`AmlError`
    when the case is not open or the same person decides twice.
    """
    decision = decision.upper()
    if decision not in DECISIONS:
        raise AmlError(f"decision must be one of {DECISIONS}, not {decision!r}")
    if not user.strip():
        raise AmlError("a decision needs the deciding person's name")
    with db.begin() as conn:
        case = db.run(conn, "select_aml_case", {"business_no": business_no}).one_or_none()
        if case is None:
            raise AmlError(f"no AML case for {business_no}")
        if case.status != "OPEN":
            raise AmlError(f"AML case {business_no} is already {case.status}")
        earlier = db.run(conn, "select_aml_decisions", {"business_no": business_no}).all()
        if any(d.decided_by == user for d in earlier):
            raise AmlError(f"{user} already decided on {business_no}: four-eyes needs a second person")
        db.run(
            conn,
            "insert_aml_decision",
            {"business_no": business_no, "decision": decision, "decided_by": user, "note": note},
        )
        agreeing = {d.decided_by for d in earlier if d.decision == decision} | {user}
        status = "OPEN"
        if len(agreeing) >= 2:
            status = "RELEASED" if decision == "RELEASE" else "BLOCKED"
            db.run(conn, "update_aml_case_status", {"business_no": business_no, "status": status})
            db.run(
                conn,
                "update_record_aml_release" if decision == "RELEASE" else "update_record_aml_return",
                {"business_no": business_no},
            )
        events.audit(conn, user, f"aml_{decision.lower()}", business_no, note=note, status_after=status)
    return status


def release(business_no: str, user: str, note: str = "") -> str:
    return decide(business_no, user, "RELEASE", note)


def block(business_no: str, user: str, note: str = "") -> str:
    return decide(business_no, user, "BLOCK", note)


def expire_holds(business_date: str, now: datetime | None = None) -> int:
    """At each client's settlement cutoff, open cases expire: RETURNED with M_AML_HOLD.

    A client whose profile cannot be used is held (PROFILE_INVALID): its cutoff is unknown, so its
    open cases stay open (never expired at a default cutoff) and its payments stay AML_HOLD;
    its result and clearing files wait for them. A run after the fix expires them if its cutoff
    has passed."""
    db.migrate()
    now = now or datetime.now(BUSINESS_TZ)
    expired = 0
    with db.begin() as conn:
        clients = [
            r.client_id for r in db.run(conn, "select_open_aml_clients", {"business_date": business_date})
        ]
    for client_id in clients:
        due = profiles.cutoff_or_hold(
            client_id,
            "settlement",
            business_date,
            "its open AML cases are not expired at its settlement cutoff (they stay held, "
            "decided by people only) until it is fixed",
        )
        if due is None:
            continue
        if now < due:
            continue
        with db.begin() as conn:
            nos = [
                r.business_no
                for r in db.run(
                    conn,
                    "select_open_aml_cases_of_client",
                    {"business_date": business_date, "client_id": client_id},
                )
            ]
            for no in nos:
                db.run(conn, "update_aml_case_status", {"business_no": no, "status": "EXPIRED"})
                db.run(conn, "update_record_aml_return", {"business_no": no})
                events.audit(conn, "aml", "hold_expired", no, business_date=business_date)
        expired += len(nos)
    return expired


# --------------------------------------------------------------------------- large-value report


def _cents_text(cents: int) -> str:
    whole, frac = divmod(cents, 100)
    return f"{whole}.{frac:02d}"


def large_value_report(business_date: str) -> list[str]:
    """Write ``aml/<CLIENT>/<date>/<CLIENT>_LVR_<YYYYMMDD>.csv`` in the outputs zone per client.

    One row per settled payment of each reported payer, sorted; the file is rewritten
    identically on rerun (header only when nobody reaches a threshold). One statement reads the
    day (the payload parsed once per row): the rows come joined, ordered and with the payer's
    total from the database, a bounded number at a time, into the file; the reported payers are
    summed from the same rows on the way and recorded in the same transaction.

    A client whose profile cannot be used gets no report (PROFILE_INVALID): its thresholds are
    unknown; its day is not archived while the profile is broken, and a run after the fix
    writes the report.
    """
    db.migrate()
    out = open_store(settings().outputs)
    written = []
    for client_id in _clients(business_date):
        t = _thresholds_or_hold(
            client_id, business_date, "its large-value report for the date is not written until it is fixed"
        )
        if t is None:
            continue
        key = {"client_id": client_id, "business_date": business_date}
        name = f"aml/{client_id}/{business_date}/{client_id}_LVR_{business_date.replace('-', '')}.csv"
        with db.begin() as conn:
            dialect = conn.dialect.name
            if dialect == "postgresql":  # the day's sort in memory (this transaction only)
                db.run(conn, "set_settlement_work_mem_postgresql")
            limits = {**key, "natural_min": t.natural_min_cents, "entity_min": t.entity_min_cents}
            db.run(conn, "delete_large_value_of_day", key)
            ints = ("total_cents", "amount_cents")
            with (
                clearing.arrow_rows(conn, f"select_large_value_rows_{dialect}", limits, ints) as (_, batches),
                # The ADBC driver decodes on this thread without the interpreter while the worker
                # parses; a cursor's fetch (SQLite) builds Python rows and would gain nothing.
                clearing.ahead(batches, "lvr-read")
                if dialect == "postgresql"
                else nullcontext(batches) as read,
                clearing.ahead(_with_payload_fields(read), "lvr-parse") as parsed,
            ):
                report = _LargeValueRows(parsed)
                out.put_stream(name, report)
            payers = report.payers
            for i in range(0, len(payers), FETCH_ROWS):
                db.run(
                    conn,
                    "insert_large_value",
                    [
                        {**key, "payer_id_type": t, "payer_id_no": no, "payments": n, "total_cents": total}
                        for t, no, n, total in payers[i : i + FETCH_ROWS]
                    ],
                )
        written.append(name)
        if payers:
            log.info(
                "%s %s: %d payers reported for large-value transactions",
                client_id,
                business_date,
                len(payers),
            )
    return written


LVR_PAYLOAD_FIELDS = ["payer_name", "payee_name", "payee_account", "payee_bank_code"]


def _with_payload_fields(batches: Iterable[Any]) -> Iterator[Any]:
    """The report query's batches (payer id type and number, total, business number, client
    ref, value date, amount, currency, payload) with the payload replaced by the report's fields
    read from it (:func:`daybook.clearing.json_fields`): the columns in the report's order."""
    import pyarrow as pa

    for batch in batches:
        if not batch.num_rows:
            continue
        fields = clearing.json_fields(batch.column("payload"), LVR_PAYLOAD_FIELDS)
        yield pa.RecordBatch.from_arrays(
            [
                *(batch.column(c) for c in ("payer_id_type", "payer_id_no", "total_cents")),
                *(batch.column(c) for c in ("business_no", "client_ref", "value_date")),
                *(fields[f] for f in LVR_PAYLOAD_FIELDS),
                batch.column("amount_cents"),
                batch.column("currency"),
            ],
            names=["payer_id_type", "payer_id_no", "total_cents", "business_no", "client_ref", "value_date"]
            + LVR_PAYLOAD_FIELDS
            + ["amount_cents", "currency"],
        )


class _LargeValueRows:
    """The report's bytes from the rows' Arrow batches, one piece per batch, byte for byte what
    ``csv.writer`` with :func:`csvsafe.cell` on every cell writes (Arrow kernels on whole
    columns). The rows come ordered by payer: each payer's id, count of payments and total are
    taken on the way (``payers``, for aml_large_value once the rows are read)."""

    def __init__(self, batches: Iterator[Any]) -> None:
        self.batches = batches
        self.payers: list[list[Any]] = []

    def __iter__(self) -> Iterator[bytes]:
        import numpy as np
        import pyarrow.compute as pc

        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow(LVR_HEADER)
        yield buf.getvalue().encode("utf-8")
        for batch in self.batches:
            n = batch.num_rows
            if not n:
                continue
            id_type, id_no = batch.column(0), batch.column(1)
            totals = clearing.int_values(batch.column(2))
            same = pc.fill_null(
                pc.and_(
                    pc.equal(id_type.slice(1), id_type.slice(0, n - 1)),
                    pc.equal(id_no.slice(1), id_no.slice(0, n - 1)),
                ),
                False,
            )
            starts = np.concatenate(([0], np.flatnonzero(~same.to_numpy(zero_copy_only=False)) + 1))
            counts = np.diff(np.append(starts, n)).tolist()
            for t, no, count, total in zip(
                id_type.take(starts).to_pylist(),
                id_no.take(starts).to_pylist(),
                counts,
                totals[starts].tolist(),
                strict=True,
            ):
                if self.payers and self.payers[-1][0] == t and self.payers[-1][1] == no:
                    self.payers[-1][2] += count  # the payer's rows go on from the previous batch
                else:
                    self.payers.append([t, no, count, total])
            cells = list(batch.columns)
            cells[2] = clearing.cents_array(totals, _cents_text)
            cells[10] = clearing.cents_array(clearing.int_values(batch.column(10)), _cents_text)
            yield arrowcsv.lines([csvsafe.arrow_cells(c) for c in cells])
