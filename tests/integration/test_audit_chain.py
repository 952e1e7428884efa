"""`daybook audit verify`: the per-client hash chain of audit events catches every kind of tampering.

Each tampering is done the way an insider with SQL access would do it, directly in the table;
the expected verdicts come from what was done, not from the chain code. The hash an honest
forger would compute is recomputed here from the documented serialization (sha256 over sorted
JSON of the event and the previous hash), independently of daybook.audit_chain.
"""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import datetime

import pytest
import sqlalchemy
from click.testing import CliRunner
from tests.schema_upgrade import older_database

from daybook import db, events
from daybook.cli import main

pytestmark = pytest.mark.integration


def _write_events(n_bank: int = 4) -> None:
    with db.begin() as conn:
        for i in range(1, n_bank + 1):
            events.audit(conn, "li.wei", "approval_approve", f"BANKA-PAY-20261127-001-{i:06d}", level=1)
        events.audit(conn, "intake", "file_judged", "TRUSTB/TRUSTB_PAY_20261127_001.csv", status="OK")
        events.audit(conn, "operator", "approval_submitted", "file/7")


def _verify(*args: str):
    return CliRunner().invoke(main, ["audit", "verify", "--no-anchors", *args])


def _sql(url: str, statement: str, params: dict | None = None):
    eng = sqlalchemy.create_engine(url)
    with eng.begin() as conn:
        result = conn.execute(sqlalchemy.text(statement), params or {})
        rows = result.mappings().all() if result.returns_rows else None
    eng.dispose()
    return rows


def _chain(url: str, client: str):
    return _sql(
        url,
        "SELECT event_id, at, actor, action, subject, detail, seq, prev_hash, hash FROM audit_events"
        " WHERE client_id = :c ORDER BY seq",
        {"c": client},
    )


def _forge_hash(client: str, seq: int, at, actor, action, subject, detail, prev_hash) -> str:
    if isinstance(at, str):
        at = datetime.fromisoformat(at)
    body = {
        "v": 1,
        "client_id": client,
        "seq": seq,
        "at": at.strftime("%Y-%m-%d %H:%M:%S.%f"),
        "actor": actor,
        "action": action,
        "subject": subject,
        "detail": detail,
        "prev_hash": prev_hash,
    }
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def test_untouched_chains_verify_and_each_event_links_to_the_one_before(business_db):
    _write_events()
    result = _verify()
    assert result.exit_code == 0, result.output
    assert "0 broken" in result.output
    bank = _chain(business_db, "BANKA")
    assert [r["seq"] for r in bank] == [1, 2, 3, 4]
    for before, after in zip(bank, bank[1:], strict=False):
        assert after["prev_hash"] == before["hash"]
    # The hash is sha256 of the documented canonical form: a forger can recompute it (so the
    # protection comes from the links and the head, see the rewrite test below).
    first = bank[0]
    assert first["hash"] == _forge_hash(
        "BANKA",
        1,
        first["at"],
        first["actor"],
        first["action"],
        first["subject"],
        first["detail"],
        first["prev_hash"],
    )
    assert {r["client_id"] for r in _sql(business_db, "SELECT client_id FROM audit_chain_heads")} == {
        "BANKA",
        "TRUSTB",
        "_platform",
    }
    assert _verify("--client", "TRUSTB").exit_code == 0


def test_an_edited_event_is_named(business_db):
    _write_events()
    target = _chain(business_db, "BANKA")[1]
    _sql(
        business_db,
        "UPDATE audit_events SET actor = 'someone.else' WHERE event_id = :e",
        {"e": target["event_id"]},
    )
    result = _verify()
    assert result.exit_code == 1
    assert f"event {target['event_id']} (chain BANKA, seq 2" in result.output
    assert "edited" in result.output
    # Other clients' chains are unaffected and say so.
    assert "ok  chain TRUSTB" in result.output


def test_an_edited_time_is_caught(business_db):
    _write_events()
    target = _chain(business_db, "BANKA")[0]
    _sql(
        business_db,
        "UPDATE audit_events SET at = :at WHERE event_id = :e",
        {"e": target["event_id"], "at": datetime(2020, 1, 1, 12, 0, 0)},
    )
    result = _verify("--client", "BANKA")
    assert result.exit_code == 1
    assert f"event {target['event_id']} (chain BANKA, seq 1" in result.output


def test_an_event_inserted_without_chain_fields_is_caught(business_db):
    _write_events()
    _sql(
        business_db,
        "INSERT INTO audit_events (actor, action, subject, detail) VALUES ('x', 'approval_approve',"
        " 'BANKA-PAY-20261127-001-000009', '{}')",
    )
    result = _verify()
    assert result.exit_code == 1
    assert "belongs to no chain" in result.output


def test_a_forged_event_inserted_in_the_middle_is_caught(business_db):
    """The forger computes a correct hash for the inserted event, renumbers the later events
    and moves the head; the event after it still links to the old predecessor."""
    _write_events()
    bank = _chain(business_db, "BANKA")
    before = bank[1]  # insert after seq 2
    at = datetime(2026, 11, 27, 10, 0, 0)
    detail = '{"level": 2}'
    forged = _forge_hash(
        "BANKA", 3, at, "mallory", "approval_approve", "BANKA-PAY-20261127-001-000099", detail, before["hash"]
    )
    _sql(business_db, "UPDATE audit_events SET seq = seq + 100 WHERE client_id = 'BANKA' AND seq >= 3")
    _sql(business_db, "UPDATE audit_events SET seq = seq - 99 WHERE client_id = 'BANKA' AND seq >= 100")
    _sql(
        business_db,
        "INSERT INTO audit_events (at, actor, action, subject, detail, client_id, seq, prev_hash, hash)"
        " VALUES (:at, 'mallory', 'approval_approve', 'BANKA-PAY-20261127-001-000099', :d, 'BANKA', 3, :p, :h)",
        {
            "at": at if "postgresql" in business_db else at.isoformat(" "),
            "d": detail,
            "p": before["hash"],
            "h": forged,
        },
    )
    _sql(business_db, "UPDATE audit_chain_heads SET event_count = 5 WHERE client_id = 'BANKA'")
    result = _verify("--client", "BANKA")
    assert result.exit_code == 1
    # The first broken event is the original third event, now at seq 4.
    assert f"event {bank[2]['event_id']} (chain BANKA, seq 4" in result.output
    assert "prev_hash does not match" in result.output


@pytest.mark.parametrize("position", ["middle", "last"])
def test_a_deleted_event_is_caught(business_db, position):
    _write_events()
    bank = _chain(business_db, "BANKA")
    victim = bank[1] if position == "middle" else bank[-1]
    _sql(business_db, "DELETE FROM audit_events WHERE event_id = :e", {"e": victim["event_id"]})
    result = _verify()
    assert result.exit_code == 1
    if position == "middle":
        assert f"event {bank[2]['event_id']} (chain BANKA, seq 3" in result.output
        assert "deleted" in result.output
    else:
        assert "chain BANKA: head records 4 events" in result.output
        assert "deleted from the end" in result.output


def test_deleting_a_whole_chain_is_caught_by_its_head(business_db):
    _write_events()
    _sql(business_db, "DELETE FROM audit_events WHERE client_id = 'TRUSTB'")
    result = _verify()
    assert result.exit_code == 1
    assert "chain TRUSTB: head records 1 events" in result.output


def test_a_rewritten_tail_passes_the_database_but_not_the_archive_anchor(business_db, zones):
    """Full write access: drop the last event and rewind the head. Only the anchor written to
    the archive store outside the database still knows the chain was longer."""
    from daybook import audit_chain

    _write_events()
    key = audit_chain.write_anchor("BANKA", "2026-11-27")
    assert key.startswith("_audit_anchors/BANKA/2026-11-27-")
    assert (zones["archive"] / key).is_file()
    bank = _chain(business_db, "BANKA")
    _sql(business_db, "DELETE FROM audit_events WHERE event_id = :e", {"e": bank[-1]["event_id"]})
    _sql(
        business_db,
        "UPDATE audit_chain_heads SET event_count = 3, head_hash = :h WHERE client_id = 'BANKA'",
        {"h": bank[-2]["hash"]},
    )
    assert _verify().exit_code == 0  # the database alone cannot tell
    result = CliRunner().invoke(main, ["audit", "verify"])
    assert result.exit_code == 1
    assert f"anchor {key}: records 4 events, the chain has no event seq 4" in result.output


def test_an_honest_anchor_verifies(business_db, zones):
    from daybook import audit_chain

    _write_events()
    first = audit_chain.write_anchor("BANKA", "2026-11-27")
    _write_events(n_bank=2)  # the chain grows past the anchor: still fine
    # A rerun of the same day keeps its first anchor (re-running a day changes nothing).
    assert audit_chain.write_anchor("BANKA", "2026-11-27") == first
    assert [p.name for p in (zones["archive"] / "_audit_anchors" / "BANKA").iterdir()] == [
        first.split("/")[-1]
    ]
    result = CliRunner().invoke(main, ["audit", "verify", "--client", "BANKA"])
    assert result.exit_code == 0, result.output
    assert "1 anchors checked" in result.output


def test_concurrent_writers_of_one_client_never_fork_the_chain(business_db):
    threads_n, per_thread = 4, 15
    errors: list[BaseException] = []

    def writer(t: int) -> None:
        try:
            for i in range(per_thread):
                with db.begin() as conn:
                    events.audit(conn, f"w{t}", "approval_approve", f"BANKA-PAY-20261127-{t:03d}-{i:06d}")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(threads_n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    bank = _chain(business_db, "BANKA")
    assert [r["seq"] for r in bank] == list(range(1, threads_n * per_thread + 1))
    result = _verify()
    assert result.exit_code == 0, result.output


def test_events_written_before_the_chain_existed_are_chained_by_the_migration(
    backend, tmp_path, monkeypatch, business_db
):
    """Migrate a fresh database to V007, write events the old way, then apply V008."""
    with older_database(8, backend, business_db, tmp_path, monkeypatch) as (url, upgrade):
        _sql(
            url,
            "INSERT INTO audit_events (actor, action, subject, detail) VALUES"
            " ('a', 'x', 'BANKA/2026-11-26', '{}'), ('b', 'y', 'TRUSTB', '{}'), ('c', 'z', 'BANKA', '{}')",
        )
        assert "V008__audit_chain" in upgrade()
        assert [r["seq"] for r in _chain(url, "BANKA")] == [1, 2]
        with db.begin() as conn:
            events.audit(conn, "d", "w", "BANKA/2026-11-27")
        assert [r["actor"] for r in _chain(url, "BANKA")] == ["a", "c", "d"]
        result = _verify()
        assert result.exit_code == 0, result.output
