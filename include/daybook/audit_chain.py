"""Tamper-evident audit trail: one sha256 hash chain per client.

Every audit event belongs to the chain of the client it is about (derived from its subject:
``BANKA``, ``BANKA/2026-11-27``, ``BANKA-PAY-20261127-001-000003``, ``BANKA_PAY_...csv``), or
to the ``_platform`` chain when its subject names no client (``file/12``, ``batch/...``). An
event's hash is sha256 over a canonical serialization of the event (chain, position, time,
actor, action, subject, detail) *and the previous event's hash*; the first event of a chain
links to a genesis value derived from the chain's name. The head of each chain (event count
and last hash) is kept in ``audit_chain_heads``.

So editing an event changes its hash; inserting or deleting one breaks the links and the
positions; deleting the last events leaves the head pointing past the end. What this cannot
stop is someone with write access to the whole database rewriting a chain *and* its head from
the first changed event on: that is why the head is also written outside the database, into
each archive package's manifest (an external anchor). See docs/security.md.

Appends serialize per chain: on PostgreSQL the head row is locked (``SELECT ... FOR UPDATE``)
for the rest of the transaction; SQLite has one writer at a time. A unique index on
(client_id, seq) refuses a fork even if the lock were bypassed.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from json.encoder import encode_basestring as _encode_str
from typing import Any

from sqlalchemy import Connection

from daybook import db

PLATFORM = "_platform"
_CLIENT_OF_SUBJECT = re.compile(r"([A-Z0-9]{3,16})(?=$|[/_\-])")


def chain_of(subject: str) -> str:
    """The chain an event about ``subject`` belongs to: its client id, else ``_platform``."""
    m = _CLIENT_OF_SUBJECT.match(subject or "")
    return m.group(1) if m else PLATFORM


def genesis(client_id: str) -> str:
    """The value the first event of a chain links to."""
    return hashlib.sha256(f"daybook-audit-genesis:{client_id}".encode()).hexdigest()


def _at_text(at: Any) -> str:
    """One text form of an event time, whatever the driver returned (datetime or ISO text)."""
    if isinstance(at, str):
        at = datetime.fromisoformat(at)
    if at.tzinfo is not None:
        at = at.astimezone(UTC).replace(tzinfo=None)
    return at.strftime("%Y-%m-%d %H:%M:%S.%f")


def event_hash(
    *,
    client_id: str,
    seq: int,
    at: Any,
    actor: str,
    action: str,
    subject: str,
    detail: str,
    prev_hash: str,
) -> str:
    """sha256 (hex) of the canonical serialization of one event, previous hash included.

    The serialization is ``json.dumps`` of the event's fields as one object, keys sorted, no
    spaces, non-ASCII characters kept (``{"action":...,"actor":...,"at":...,"client_id":...,
    "detail":...,"prev_hash":...,"seq":...,"subject":...,"v":1}``).
    """
    return _hash(client_id, int(seq), _at_text(at), actor, action, subject, detail, prev_hash)


def _json(value: Any) -> str:
    # The string encoder json.dumps(ensure_ascii=False) itself uses for str values.
    if type(value) is str:
        return _encode_str(value)
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _hash(
    client_id: str, seq: int, at_text: str, actor: str, action: str, subject: str, detail: str, prev_hash: str
) -> str:
    """:func:`event_hash` from the event time already as text. The object is written out key by
    key in sorted order, the same text ``json.dumps(..., sort_keys=True, ensure_ascii=False,
    separators=(",", ":"))`` gives (tests/unit/test_audit_hash.py), without building a dict and
    sorting its keys per event: a day's appends hash every decision and declined loan (65,000
    and more at 1M payments)."""
    canonical = (
        f'{{"action":{_json(action)},"actor":{_json(actor)},"at":{_json(at_text)},'
        f'"client_id":{_json(client_id)},"detail":{_json(detail)},"prev_hash":{_json(prev_hash)},'
        f'"seq":{seq},"subject":{_json(subject)},"v":1}}'
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _lock_head(conn: Connection, client_id: str) -> tuple[int, str]:
    """Create the chain's head if missing, lock it, and return (event count, head hash)."""
    db.run(conn, "insert_audit_chain_head", {"client_id": client_id, "genesis": genesis(client_id)})
    row = db.run(conn, f"select_audit_chain_head_{conn.dialect.name}", {"client_id": client_id}).one()
    return int(row.event_count), row.head_hash


def _now(conn: Connection) -> Any:
    now = datetime.now(UTC).replace(tzinfo=None)
    # SQLite keeps timestamps as text; PostgreSQL takes the datetime as a TIMESTAMP.
    return _at_text(now) if conn.dialect.name == "sqlite" else now


def append(conn: Connection, events: Iterable[Mapping[str, str]]) -> int:
    """Append events (actor, action, subject, detail as stored text) to their chains.

    Runs inside the caller's transaction: the events, and the new heads, commit or roll back
    with the business change they record. Returns the number of events written.
    """
    by_chain: dict[str, list[Mapping[str, str]]] = {}
    for e in events:
        by_chain.setdefault(chain_of(e["subject"]), []).append(e)
    written = 0
    # A fixed lock order (sorted chains) keeps two multi-chain writers from deadlocking.
    for client_id in sorted(by_chain):
        count, head = _lock_head(conn, client_id)
        at = _now(conn)
        at_text = _at_text(at)
        rows = []
        for e in by_chain[client_id]:
            count += 1
            row = {
                "client_id": client_id,
                "seq": count,
                "at": at,
                "actor": e["actor"],
                "action": e["action"],
                "subject": e["subject"],
                "detail": e["detail"],
                "prev_hash": head,
            }
            row["hash"] = head = _hash(
                client_id, count, at_text, e["actor"], e["action"], e["subject"], e["detail"], head
            )
            rows.append(row)
        db.run_many(conn, "insert_audit_event", rows)
        db.run(
            conn, "update_audit_chain_head", {"client_id": client_id, "event_count": count, "head_hash": head}
        )
        written += len(rows)
    return written


def chain_existing(conn: Connection) -> int:
    """Chain events written before the chain existed, in event_id order (schema V008's follow-up)."""
    rows = db.run(conn, "select_unchained_audit_events").mappings().all()
    heads: dict[str, tuple[int, str]] = {}
    updates = []
    for r in rows:
        client_id = chain_of(r["subject"])
        if client_id not in heads:
            heads[client_id] = _lock_head(conn, client_id)
        count, head = heads[client_id]
        count += 1
        h = event_hash(
            client_id=client_id,
            seq=count,
            at=r["at"],
            actor=r["actor"],
            action=r["action"],
            subject=r["subject"],
            detail=r["detail"],
            prev_hash=head,
        )
        updates.append(
            {"event_id": r["event_id"], "client_id": client_id, "seq": count, "prev_hash": head, "hash": h}
        )
        heads[client_id] = (count, h)
    if updates:
        db.run(conn, "update_audit_event_chain", updates)
    for client_id, (count, head) in heads.items():
        db.run(
            conn, "update_audit_chain_head", {"client_id": client_id, "event_count": count, "head_hash": head}
        )
    return len(updates)


def head(conn: Connection, client_id: str) -> dict[str, Any]:
    """The chain head of one client now: ``{"events": n, "head_sha256": hash}`` (genesis if empty)."""
    row = next(
        (r for r in db.run(conn, "select_audit_chain_heads").mappings() if r["client_id"] == client_id),
        None,
    )
    if row is None:
        return {"events": 0, "head_sha256": genesis(client_id)}
    return {"events": int(row["event_count"]), "head_sha256": row["head_hash"]}


ANCHOR_PREFIX = "_audit_anchors"


def write_anchor(client_id: str, business_date: str) -> str:
    """Write the client's chain head now into the archive store, outside the database.

    Once per client and business date (the first time the day's package verifies), never
    overwritten, so re-running a day leaves the archive store as it was:
    ``_audit_anchors/<CLIENT>/<date>-<count>.json``. Returns its key.
    """
    from daybook import archive

    store = archive.archive_store()
    folder = f"{ANCHOR_PREFIX}/{client_id}/"
    existing = [k for k in store.list(folder) if k[len(folder) :].startswith(f"{business_date}-")]
    if existing:
        return existing[0]
    with db.begin() as conn:
        now = head(conn, client_id)
    key = f"{ANCHOR_PREFIX}/{client_id}/{business_date}-{now['events']:09d}.json"
    body = json.dumps({"client_id": client_id, "business_date": business_date, **now}, sort_keys=True)
    archive.put_object(store, key, (body + "\n").encode())
    return key


def read_anchors(client_id: str | None = None) -> list[tuple[str, dict[str, Any]]]:
    """Every anchor in the archive store (of one client, or all): (key, content)."""
    from daybook import archive

    store = archive.archive_store()
    prefix = f"{ANCHOR_PREFIX}/{client_id}/" if client_id else f"{ANCHOR_PREFIX}/"
    found = []
    for key in sorted(store.list(prefix)):
        if key.endswith(".json"):
            found.append((key, json.loads(store.get(key))))
    return found


@dataclass
class ChainResult:
    client_id: str
    events: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _verify_chain(
    client_id: str, rows: list[Mapping[str, Any]], head_row: Mapping[str, Any] | None
) -> ChainResult:
    result = ChainResult(client_id, events=len(rows))
    prev = genesis(client_id)
    for expected_seq, r in enumerate(rows, start=1):
        where = f"event {r['event_id']} (chain {client_id}, seq {r['seq']}, {r['action']} {r['subject']})"
        if r["seq"] is None or r["hash"] is None:
            result.problems.append(f"{where}: not chained (no seq or hash): inserted outside the audit trail")
            return result
        if int(r["seq"]) != expected_seq:
            what = "deleted before it" if int(r["seq"]) > expected_seq else "inserted or duplicated"
            result.problems.append(
                f"{where}: expected seq {expected_seq}, found {r['seq']}: an event was {what}"
            )
            return result
        if r["prev_hash"] != prev:
            result.problems.append(
                f"{where}: prev_hash does not match the hash of the event before it: "
                "an event before it was deleted, inserted or edited"
            )
            return result
        recomputed = event_hash(
            client_id=client_id,
            seq=int(r["seq"]),
            at=r["at"],
            actor=r["actor"],
            action=r["action"],
            subject=r["subject"],
            detail=r["detail"],
            prev_hash=r["prev_hash"],
        )
        if recomputed != r["hash"]:
            result.problems.append(f"{where}: content does not match its hash: the event was edited")
            return result
        prev = r["hash"]
    if head_row is None:
        if rows:
            result.problems.append(f"chain {client_id}: events exist but the chain head is missing")
        return result
    if int(head_row["event_count"]) != len(rows) or head_row["head_hash"] != prev:
        last = f"event {rows[-1]['event_id']} (seq {rows[-1]['seq']})" if rows else "no event"
        result.problems.append(
            f"chain {client_id}: head records {head_row['event_count']} events ending in "
            f"{str(head_row['head_hash'])[:16]}..., the table ends at {last} after {len(rows)} events: "
            "events were deleted from the end (or the head was edited)"
        )
    return result


def _check_anchors(
    result: ChainResult, rows: list[Mapping[str, Any]], anchors: list[tuple[str, dict[str, Any]]]
) -> None:
    by_seq = {int(r["seq"]): r for r in rows if r["seq"] is not None}
    for key, anchor in anchors:
        n, h = int(anchor["events"]), anchor["head_sha256"]
        if n == 0:
            continue
        r = by_seq.get(n)
        if r is None:
            result.problems.append(f"anchor {key}: records {n} events, the chain has no event seq {n}")
        elif r["hash"] != h:
            result.problems.append(
                f"anchor {key}: event {r['event_id']} (seq {n}) has hash {str(r['hash'])[:16]}..., "
                f"the anchor recorded {h[:16]}...: the chain was rewritten up to there"
            )


def verify(
    conn: Connection,
    client_id: str | None = None,
    anchors: list[tuple[str, dict[str, Any]]] | None = None,
) -> list[ChainResult]:
    """Check every chain (or one client's): links, positions, hashes and the head, and, given
    ``anchors`` (from :func:`read_anchors`), that each anchored head is still in its chain.

    Each result names the first broken event of its chain, if any.
    """
    heads = {r["client_id"]: r for r in db.run(conn, "select_audit_chain_heads").mappings()}
    if client_id is None:
        rows = db.run(conn, "select_audit_chain").mappings().all()
    else:
        rows = db.run(conn, "select_audit_chain_of_client", {"client_id": client_id}).mappings().all()
    chains: dict[str, list[Mapping[str, Any]]] = {}
    unchained: list[Mapping[str, Any]] = []
    for r in rows:
        if r["client_id"] is None:
            unchained.append(r)
        else:
            chains.setdefault(r["client_id"], []).append(r)
    names = set(chains) | (set(heads) if client_id is None else ({client_id} & set(heads)))
    if client_id is not None:
        names.add(client_id)
    by_client: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for key, anchor in anchors or []:
        by_client.setdefault(anchor["client_id"], []).append((key, anchor))
    if client_id is None:
        names |= set(by_client)
    results = []
    for c in sorted(names):
        result = _verify_chain(c, chains.get(c, []), heads.get(c))
        _check_anchors(result, chains.get(c, []), by_client.get(c, []))
        results.append(result)
    if unchained:
        r = unchained[0]
        results.append(
            ChainResult(
                "(none)",
                events=len(unchained),
                problems=[
                    f"event {r['event_id']} ({r['action']} {r['subject']}) belongs to no chain: "
                    f"inserted outside the audit trail ({len(unchained)} such events)"
                ],
            )
        )
    return results
