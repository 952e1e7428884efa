"""The audit chain's event hash is sha256 over one documented serialization (docs/security.md):
``json.dumps`` of the event's fields, keys sorted, no spaces, non-ASCII kept. The chain writes
that text key by key rather than through ``json.dumps``; here every awkward value gives the same
hash as the documented serialization computed independently."""

from __future__ import annotations

import hashlib
import json
import random
from datetime import UTC, datetime, timedelta, timezone

import pytest

from daybook import audit_chain

AWKWARD = [
    "",
    "plain",
    'quote " and backslash \\',
    "line\nbreak\rcarriage\ttab",
    "control \x00\x01\x1f and delete \x7f",
    "中文 审核 终审",
    "emoji \U0001f600 and \u2028 \u2029 separators",
    '{"level": 1, "opinion": "ok, \\"fine\\""}',
    "/ slash </script>",
]


def _documented(event: dict) -> str:
    at = event["at"]
    if at.tzinfo is not None:
        at = at.astimezone(UTC).replace(tzinfo=None)
    canonical = json.dumps(
        {**event, "v": 1, "at": at.strftime("%Y-%m-%d %H:%M:%S.%f")},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _events():
    rng = random.Random(11)
    base = datetime(2026, 11, 27, 9, 30, 0, 123456)
    for i in range(400):
        yield {
            "client_id": rng.choice(["BANKA", "TRUSTB", "_platform"]),
            "seq": rng.randint(1, 10**9),
            "at": base + timedelta(microseconds=rng.randint(0, 10**9)),
            "actor": rng.choice(AWKWARD),
            "action": rng.choice(["approval_approve", "policy_declined", *AWKWARD]),
            "subject": rng.choice(["BANKA-PAY-20261127-001-000001", *AWKWARD]),
            "detail": rng.choice(AWKWARD) + rng.choice(AWKWARD),
            "prev_hash": hashlib.sha256(str(i).encode()).hexdigest(),
        }


def test_every_awkward_event_hashes_as_the_documented_serialization():
    checked = 0
    for event in _events():
        assert audit_chain.event_hash(**event) == _documented(event), event
        checked += 1
    assert checked == 400


def test_a_detail_without_text_and_an_aware_time_hash_as_documented():
    event = {
        "client_id": "BANKA",
        "seq": 7,
        "at": datetime(2026, 11, 27, 17, 0, 0, 1, tzinfo=timezone(timedelta(hours=8))),
        "actor": "li.wei",
        "action": "approval_approve",
        "subject": "BANKA-PAY-20261127-001-000001",
        "detail": None,
        "prev_hash": audit_chain.genesis("BANKA"),
    }
    assert audit_chain.event_hash(**event) == _documented(event)
    # A value that is not text (a caller's dict) is serialized as inside the documented object:
    # keys sorted, no spaces.
    structured = {**event, "detail": {"z": [1, "二"], "a": {"b": None, "a": 1.5}}}
    assert audit_chain.event_hash(**structured) == _documented(structured)


@pytest.mark.parametrize("field", ["actor", "action", "subject", "detail", "prev_hash", "client_id"])
def test_each_field_is_in_the_hash(field):
    event = next(_events())
    changed = {**event, field: str(event[field]) + "x"}
    assert audit_chain.event_hash(**changed) != audit_chain.event_hash(**event)
