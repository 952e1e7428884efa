"""Offboarding: handover package, human sign-off, purge of live data, certificate.

The client's day is seeded by hand (test_archive_package._seed: two files, three rows, one
approval, one ledger pair, profile v1) and archived with a key, so every expected byte and hash
below is computed here from what this test wrote. The functions run on local folders and on
the moto S3 server; the whole DAG runs under dag.test() with a thread that answers the sign-off
through Airflow's real REST API in-process, as a person would.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import subprocess
import threading
import time

import pytest
import sqlalchemy
from test_archive_package import ACK, BAD_CSV, PAY_CSV, PAY_CTL, PROFILE, REJ, RET, _seed

from daybook import archive, crypto, offboarding

pytest_plugins = ["s3_fixtures"]
pytestmark = pytest.mark.integration

CLIENT, DAY, AS_OF = "BANKA", "2026-11-27", "2026-12-31"
HANDOVER = f"_handover/{CLIENT}/{AS_OF}"
OTHER = b"client_ref,amount\nT1,5.00\n"  # another client's file, which must survive


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def backend() -> str:
    return "sqlite"


@pytest.fixture
def archived(business_db, intake_zones, monkeypatch):
    monkeypatch.setenv(crypto.ENV_VAR, crypto.connection_env_value(crypto.generate_key()))
    _seed(intake_zones)
    intake_zones.landing.put("TRUSTB/inbox/TRUSTB_PAY_20261127_001.csv", OTHER)
    intake_zones.landing.put("BANKA/processed/BANKA_PAY_20261127_001.csv", PAY_CSV)
    archive.build_package(CLIENT, DAY)
    return intake_zones


def _db(url: str, sql: str) -> list[tuple]:
    eng = sqlalchemy.create_engine(url)
    with eng.connect() as conn:
        rows = [tuple(r) for r in conn.execute(sqlalchemy.text(sql))]
    eng.dispose()
    return rows


def test_handover_package_holds_everything_in_open_formats_with_a_manifest(archived, store_kind, tmp_path):
    out = offboarding.build_handover(CLIENT, AS_OF)
    store = archive.archive_store()
    manifest = json.loads(store.get(f"{HANDOVER}/manifest.json"))
    listed = {m["path"]: m for m in manifest["members"]}
    expected = {
        "originals/2026-11-27/BANKA_PAY_20261127_001.csv": PAY_CSV,
        "originals/2026-11-27/BANKA_PAY_20261127_001.ctl": PAY_CTL,
        "originals/2026-11-27/BANKA_PAY_20261127_002.csv": BAD_CSV,
        "returns/2026-11-27/BANKA_PAY_20261127_001.ack.csv": ACK,
        "returns/2026-11-27/BANKA_PAY_20261127_001.ret.csv": RET,
        "returns/2026-11-27/BANKA_PAY_20261127_002.rej": REJ,
        "profiles/v1.yaml": PROFILE.encode(),
    }
    for path, data in expected.items():
        assert listed[path]["sha256"] == sha(data), path
        assert store.get(f"{HANDOVER}/{path}") == data, f"{path} is not the plaintext bytes"
    assert set(listed) == set(expected) | {
        "records.parquet",
        "approvals.csv",
        "ledger.csv",
        "audit.csv",
        "archives.csv",
        "profile_versions.csv",
    }
    assert out["members"] == 13 and out["originals_missing"] == []
    assert out["manifest_sha256"] == sha(store.get(f"{HANDOVER}/manifest.json"))

    import pyarrow.parquet as pq

    table = pq.read_table(io.BytesIO(store.get(f"{HANDOVER}/records.parquet")))
    assert sorted(zip(table["client_ref"].to_pylist(), table["state"].to_pylist(), strict=True)) == [
        ("R1", "SETTLED"),
        ("R2", "RETURNED"),
        ("R3", "REJECTED"),
    ]
    approvals = list(csv.DictReader(io.StringIO(store.get(f"{HANDOVER}/approvals.csv").decode())))
    assert [(a["business_no"], a["decision"], a["decided_by"]) for a in approvals] == [
        ("BANKA-PAY-20261127-001-000002", "DECLINE", "alice")
    ]
    history = list(csv.DictReader(io.StringIO(store.get(f"{HANDOVER}/profile_versions.csv").decode())))
    assert [(h["version"], h["sha256"]) for h in history] == [("v1", sha(PROFILE.encode()))]
    kept = list(csv.DictReader(io.StringIO(store.get(f"{HANDOVER}/archives.csv").decode())))
    assert [(k["business_date"], k["retain_until"]) for k in kept] == [(DAY, "2036-11-27")]
    audit = list(csv.DictReader(io.StringIO(store.get(f"{HANDOVER}/audit.csv").decode())))
    assert ("package_written", "BANKA/2026-11-27") in {(a["action"], a["subject"]) for a in audit}

    if store_kind == "local":  # an auditor's check by hand, on the folder itself
        folder = f"{archive.archive_store().root}/{HANDOVER}"
        ok = subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=folder, capture_output=True)
        assert ok.returncode == 0, ok.stdout


def test_purge_refuses_and_deletes_nothing_when_an_archive_package_is_damaged(archived, business_db):
    offboarding.build_handover(CLIENT, AS_OF)
    store = archive.archive_store()
    store.delete(f"{CLIENT}/{DAY}/ledger.csv.enc")
    with pytest.raises(offboarding.OffboardingRefused, match="fail verification"):
        offboarding.purge_live_data(CLIENT, AS_OF, approved_by="carol")
    assert archived.landing.get("BANKA/outbox/BANKA_PAY_20261127_001.ret.csv") == RET
    assert archived.raw.get("BANKA/2026-11-27/BANKA_PAY_20261127_001.csv") == PAY_CSV
    assert all(p != "{}" for (p,) in _db(business_db, "SELECT payload FROM records"))
    assert _db(business_db, "SELECT COUNT(*) FROM deletion_certificates") == [(0,)]


def test_purge_refuses_when_a_day_of_the_client_is_not_archived(archived, business_db):
    offboarding.build_handover(CLIENT, AS_OF)
    eng = sqlalchemy.create_engine(business_db)
    with eng.begin() as conn:
        conn.execute(sqlalchemy.text("DELETE FROM archives"))
    eng.dispose()
    with pytest.raises(offboarding.OffboardingRefused, match="days not archived: 2026-11-27"):
        offboarding.purge_live_data(CLIENT, AS_OF, approved_by="carol")
    assert archived.raw.exists("BANKA/2026-11-27/BANKA_PAY_20261127_001.csv")


@pytest.mark.parametrize("store_kind", ["local"])
def test_offboard_cli_builds_the_handover_and_verify_catches_a_changed_member(archived):
    from click.testing import CliRunner

    from daybook.cli import main

    built = CliRunner().invoke(main, ["offboard", "handover", "--client", CLIENT, "--as-of", AS_OF])
    assert built.exit_code == 0, built.output
    assert built.output.startswith("13 members at ")
    ok = CliRunner().invoke(main, ["offboard", "verify", "--client", CLIENT, "--as-of", AS_OF])
    assert (ok.exit_code, ok.output) == (0, "OK\n")
    archive.archive_store().put(f"{HANDOVER}/ledger.csv", b"forged\n")
    bad = CliRunner().invoke(main, ["offboard", "verify", "--client", CLIENT, "--as-of", AS_OF])
    assert bad.exit_code == 1
    assert bad.output == "FAIL ledger.csv: sha256 differs from the manifest\nFAILED\n"


# --------------------------------------------------------------------------- the DAG, end to end


def _answer_sign_off(choice: str, outcome: dict, stop: threading.Event) -> None:
    """A person answering the pending sign-off through Airflow's REST API (in-process)."""
    from airflow.api_fastapi.app import create_app
    from fastapi.testclient import TestClient

    client = TestClient(create_app(apps="core"))
    token = client.get("/auth/token").json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    while not stop.is_set():
        pending = client.get(
            "/api/v2/dags/~/dagRuns/~/hitlDetails", params={"response_received": "false"}, headers=headers
        )
        items = pending.json().get("hitl_details", []) if pending.status_code == 200 else []
        for item in items:
            ti = item["task_instance"]
            if ti["dag_id"] != "offboarding_adhoc":
                continue
            outcome["subject"] = item["subject"]
            outcome["body"] = item["body"]
            r = client.patch(
                f"/api/v2/dags/{ti['dag_id']}/dagRuns/{ti['dag_run_id']}/taskInstances/{ti['task_id']}"
                f"/{ti['map_index']}/hitlDetails",
                json={"chosen_options": [choice], "params_input": {}},
                headers=headers,
            )
            outcome["status"] = r.status_code
            outcome["responded_by"] = r.json()["responded_by"] if r.status_code == 200 else r.text
            return
        time.sleep(0.5)


def _run_dag(choice: str, monkeypatch) -> tuple[str, dict]:
    from airflow.dag_processing.dagbag import DagBag

    from daybook.config import PROJECT_ROOT

    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "True")
    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags" / "offboarding_adhoc.py"))
    assert bag.import_errors == {}
    outcome: dict = {}
    stop = threading.Event()
    answerer = threading.Thread(target=_answer_sign_off, args=(choice, outcome, stop), daemon=True)
    answerer.start()
    try:
        run = bag.dags["offboarding_adhoc"].test(run_conf={"client_id": CLIENT, "as_of": AS_OF})
    finally:
        stop.set()
        answerer.join(timeout=10)
    return str(getattr(run.state, "value", run.state)), outcome


@pytest.mark.parametrize("store_kind", ["local"])
def test_offboarding_dag_hands_over_waits_for_sign_off_purges_and_certifies(
    archived, business_db, airflow_db, monkeypatch
):
    state, answer = _run_dag("Approve", monkeypatch)
    assert state == "success"
    assert answer["status"] == 200, answer
    assert answer["subject"] == "Offboard BANKA: delete its live data after the handover"
    store = archive.archive_store()
    handover_sha = sha(store.get(f"{HANDOVER}/manifest.json"))
    assert handover_sha in answer["body"], "the person signs off on the package they can check"

    # Live data gone: BANKA's landing and raw objects, its Data Docs, every row's payload.
    assert archived.landing.list("BANKA/") == [] and archived.raw.list("BANKA/") == []
    from daybook.config import settings
    from daybook.storage import open_store

    assert open_store(settings().outputs).list(f"{DAY}/data_docs/") == []
    assert _db(business_db, "SELECT DISTINCT payload FROM records") == [("{}",)]
    # Another client's data and BANKA's archive package stay; the archive still verifies.
    assert archived.landing.get("TRUSTB/inbox/TRUSTB_PAY_20261127_001.csv") == OTHER
    assert archive.verify_package(CLIENT, DAY).ok

    # The certificate: registered, its hash matches its bytes, it names what, when, who.
    [(location, cert_sha, approved_by, issued_on)] = _db(
        business_db,
        "SELECT location, certificate_sha256, approved_by, issued_on FROM deletion_certificates"
        " WHERE kind = 'OFFBOARDING'",
    )
    cert_bytes = store.get(f"_certificates/offboarding/{CLIENT}/{AS_OF}.json")
    assert sha(cert_bytes) == cert_sha and location.endswith(
        f"_certificates/offboarding/{CLIENT}/{AS_OF}.json"
    )
    cert = json.loads(cert_bytes)
    responder = answer["responded_by"]
    # The API's all-admins login is the simple auth manager's "Anonymous" user: that name, as
    # the API reported the responder, is who approved.
    assert responder["name"] == "Anonymous"
    assert approved_by == cert["approved_by"] == "Anonymous"
    assert issued_on == AS_OF and cert["approved_at"]
    assert cert["handover"]["manifest_sha256"] == handover_sha
    deleted = {(o["zone"], o["key"]): o["sha256"] for o in cert["deleted"]["objects"]}
    assert deleted[("raw", "BANKA/2026-11-27/BANKA_PAY_20261127_001.csv")] == sha(PAY_CSV)
    assert deleted[("landing", "BANKA/outbox/BANKA_PAY_20261127_002.rej")] == sha(REJ)
    assert deleted[("landing", "BANKA/processed/BANKA_PAY_20261127_001.csv")] == sha(PAY_CSV)
    assert cert["deleted"]["record_payloads_cleared"] == 3
    assert [(k["business_date"], k["retain_until"]) for k in cert["kept_until_retention_ends"]] == [
        (DAY, "2036-11-27")
    ]
    # A retry after success leaves the proof as it was.
    again = offboarding.purge_live_data(CLIENT, AS_OF, approved_by="someone.else")
    assert again["already_done"] is True
    assert store.get(f"_certificates/offboarding/{CLIENT}/{AS_OF}.json") == cert_bytes


@pytest.mark.parametrize("store_kind", ["local"])
def test_a_rejected_sign_off_deletes_nothing(archived, business_db, airflow_db, monkeypatch):
    state, answer = _run_dag("Reject", monkeypatch)
    assert answer["status"] == 200, answer
    assert state == "success"  # the run ends; the purge was skipped
    assert archived.raw.get("BANKA/2026-11-27/BANKA_PAY_20261127_001.csv") == PAY_CSV
    assert archived.landing.get("BANKA/outbox/BANKA_PAY_20261127_001.ret.csv") == RET
    assert all(p != "{}" for (p,) in _db(business_db, "SELECT payload FROM records"))
    assert _db(business_db, "SELECT COUNT(*) FROM deletion_certificates") == [(0,)]
