"""Offboarding: handover package, human sign-off, purge of live data, certificate.

The client's day is seeded by hand (test_archive_package._seed: two files, three rows, one
approval, one ledger pair, profile v1, a released AML case with two decisions, large-value rows
and report) and archived with a key; another client's AML rows must survive. Every expected byte
and hash below is computed here from what this test wrote. Everything, the whole DAG included,
runs on local folders and on the moto S3 server; the DAG runs under dag.test() with a thread
that answers the sign-off through Airflow's real REST API in-process, as a person would.
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
from test_archive_package import ACK, BAD_CSV, LVR, PAY_CSV, PAY_CTL, PROFILE, REJ, RET, SANCTIONS, _seed

from daybook import archive, crypto, db, offboarding

pytest_plugins = ["s3_fixtures"]
pytestmark = pytest.mark.integration

CLIENT, DAY, AS_OF = "BANKA", "2026-11-27", "2026-12-31"
HANDOVER = f"_handover/{CLIENT}/{AS_OF}"
OTHER = b"client_ref,amount\nT1,5.00\n"  # another client's file, which must survive
OTHER_LVR = b"payer_id_type,payer_id_no,day_total\nORG,91310000MA1FL8XQ30,600000.00\n"
OTHER_NO = "TRUSTB-PAY-20261127-001-000001"
OTHER_PAYLOAD = '{"payer_name": "王芳"}'
# BANKA's AML rows as _seed wrote them (one case, two decisions, large-value rows of two dates);
# TRUSTB's, written below, must survive BANKA's offboarding.
AML_COUNTS = "SELECT client_id, COUNT(*) FROM {table} GROUP BY client_id ORDER BY client_id"
AML_DECISIONS = (
    "SELECT r.client_id, COUNT(*) FROM aml_decisions AS d"
    " JOIN records AS r ON d.business_no = r.business_no GROUP BY r.client_id ORDER BY r.client_id"
)


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
    _seed_other_client_aml()
    archive.build_package(CLIENT, DAY)
    return intake_zones


def _seed_other_client_aml() -> None:
    """TRUSTB: one row held on a sanctions match with one decision, and its large-value report."""
    from daybook.config import settings
    from daybook.storage import open_store

    with db.begin() as conn:
        conn.execute(
            sqlalchemy.text(
                "INSERT INTO files (folder, name, stem, client_id, file_type, business_date, seq, intake_date,"
                " sha256, size_bytes, raw_key, status, profile_version) VALUES ('TRUSTB',"
                " 'TRUSTB_PAY_20261127_001.csv', 'TRUSTB_PAY_20261127_001', 'TRUSTB', 'PAY', :day, '001', :day,"
                " 'y', 1, 'TRUSTB/2026-11-27/TRUSTB_PAY_20261127_001.csv', 'COMPLETED', 'v1')"
            ),
            {"day": DAY},
        )
        conn.execute(
            sqlalchemy.text(
                "INSERT INTO records (business_no, file_id, client_id, file_type, business_date, line_no,"
                " client_ref, amount_cents, currency, ack_status, state, payload) SELECT :no, file_id, 'TRUSTB',"
                " 'PAY', :day, 1, 'T1', 500, 'CNY', 'ACCEPTED', 'AML_HOLD', :payload FROM files"
                " WHERE folder = 'TRUSTB'"
            ),
            {"no": OTHER_NO, "day": DAY, "payload": OTHER_PAYLOAD},
        )
        conn.execute(
            sqlalchemy.text(
                "INSERT INTO aml_cases (business_no, client_id, business_date, rule, detail, status)"
                " VALUES (:no, 'TRUSTB', :day, 'SANCTIONS', 'other', 'OPEN')"
            ),
            {"no": OTHER_NO, "day": DAY},
        )
        conn.execute(
            sqlalchemy.text(
                "INSERT INTO aml_decisions (business_no, decision, decided_by) VALUES (:no, 'BLOCK', 'dave')"
            ),
            {"no": OTHER_NO},
        )
    open_store(settings().outputs).put(f"aml/TRUSTB/{DAY}/TRUSTB_LVR_20261127.csv", OTHER_LVR)


def _aml_rows(url: str) -> dict[str, list[tuple]]:
    return {
        "aml_cases": _db(url, AML_COUNTS.format(table="aml_cases")),
        "aml_decisions": _db(url, AML_DECISIONS),
        "aml_large_value": _db(url, AML_COUNTS.format(table="aml_large_value")),
    }


def _db(url: str, sql: str) -> list[tuple]:
    eng = sqlalchemy.create_engine(url)
    with eng.connect() as conn:
        rows = [tuple(r) for r in conn.execute(sqlalchemy.text(sql))]
    eng.dispose()
    return rows


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
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
        "aml/2026-11-27/BANKA_LVR_20261127.csv": LVR,
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
        "aml/cases.csv",
        "aml/decisions.csv",
        "aml/large_value.csv",
    }
    assert out["members"] == 17 and out["originals_missing"] == []
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
    # The client's AML record, every day of it, and nothing of another client's.
    cases = list(csv.DictReader(io.StringIO(store.get(f"{HANDOVER}/aml/cases.csv").decode())))
    assert [(c["business_no"], c["rule"], c["detail"], c["status"]) for c in cases] == [
        ("BANKA-PAY-20261127-001-000001", "SANCTIONS", SANCTIONS, "RELEASED")
    ]
    decisions = list(csv.DictReader(io.StringIO(store.get(f"{HANDOVER}/aml/decisions.csv").decode())))
    assert [(d["business_no"], d["decision"], d["decided_by"]) for d in decisions] == [
        ("BANKA-PAY-20261127-001-000001", "RELEASE", "bob"),
        ("BANKA-PAY-20261127-001-000001", "RELEASE", "carol"),
    ]
    large = list(csv.DictReader(io.StringIO(store.get(f"{HANDOVER}/aml/large_value.csv").decode())))
    assert [(v["client_id"], v["business_date"], v["total_cents"]) for v in large] == [
        ("BANKA", "2026-11-26", "7000"),
        ("BANKA", DAY, "1000"),
    ]
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


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_purge_refuses_while_a_day_with_aml_rows_has_a_package_without_them(
    archived, business_db, monkeypatch
):
    """A package written before AML tables were packaged: deleting the live AML rows would leave
    the day's AML record nowhere but in the handover, so the purge refuses until it is re-archived."""
    sources = archive.member_sources

    def without_aml(client_id, business_date):
        members, files = sources(client_id, business_date)
        return {p: d for p, d in members.items() if not p.startswith("aml/")}, files

    monkeypatch.setattr(archive, "member_sources", without_aml)
    archive.build_package(CLIENT, DAY)
    assert archive.verify_package(CLIENT, DAY).ok
    offboarding.build_handover(CLIENT, AS_OF)
    with pytest.raises(offboarding.OffboardingRefused, match=f"do not hold them \\({DAY};"):
        offboarding.purge_live_data(CLIENT, AS_OF, approved_by="carol")
    assert _aml_rows(business_db)["aml_cases"] == [("BANKA", 1), ("TRUSTB", 1)]
    assert archived.raw.exists("BANKA/2026-11-27/BANKA_PAY_20261127_001.csv")
    monkeypatch.setattr(archive, "member_sources", sources)  # archived again, with them: the purge goes on
    archive.build_package(CLIENT, DAY)
    assert offboarding.purge_live_data(CLIENT, AS_OF, approved_by="carol")["objects_deleted"] > 0
    assert _aml_rows(business_db)["aml_cases"] == [("TRUSTB", 1)]


@pytest.mark.parametrize("store_kind", ["local"])
def test_offboard_cli_builds_the_handover_and_verify_catches_a_changed_member(archived):
    from click.testing import CliRunner

    from daybook.cli import main

    built = CliRunner().invoke(main, ["offboard", "handover", "--client", CLIENT, "--as-of", AS_OF])
    assert built.exit_code == 0, built.output
    assert built.output.startswith("17 members at ")
    ok = CliRunner().invoke(main, ["offboard", "verify", "--client", CLIENT, "--as-of", AS_OF])
    assert (ok.exit_code, ok.output) == (0, "OK\n")
    archive.archive_store().put(f"{HANDOVER}/ledger.csv", b"forged\n")
    bad = CliRunner().invoke(main, ["offboard", "verify", "--client", CLIENT, "--as-of", AS_OF])
    assert bad.exit_code == 1
    assert bad.output == "FAIL ledger.csv: sha256 differs from the manifest\nFAILED\n"


# --------------------------------------------------------------------------- the DAG, end to end


def _answer_sign_off(client, choice: str, outcome: dict, stop: threading.Event) -> None:
    """A person answering the pending sign-off through Airflow's REST API (in-process)."""
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
    from airflow.api_fastapi.app import create_app
    from fastapi.testclient import TestClient

    # The API app is built here, not in the answering thread: importing Airflow's models from two
    # threads at once (the app's routes and dag.test()) can deadlock on the import lock.
    client = TestClient(create_app(apps="core"))
    outcome: dict = {}
    stop = threading.Event()
    answerer = threading.Thread(target=_answer_sign_off, args=(client, choice, outcome, stop), daemon=True)
    answerer.start()
    try:
        run = bag.dags["offboarding_adhoc"].test(run_conf={"client_id": CLIENT, "as_of": AS_OF})
    finally:
        stop.set()
        answerer.join(timeout=10)
    return str(getattr(run.state, "value", run.state)), outcome


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_offboarding_dag_hands_over_waits_for_sign_off_purges_and_certifies(
    archived, business_db, airflow_db, monkeypatch
):
    assert _aml_rows(business_db) == {
        "aml_cases": [("BANKA", 1), ("TRUSTB", 1)],
        "aml_decisions": [("BANKA", 2), ("TRUSTB", 1)],
        "aml_large_value": [("BANKA", 2), ("TRUSTB", 1)],
    }
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
    assert _db(business_db, "SELECT DISTINCT payload FROM records WHERE client_id = 'BANKA'") == [("{}",)]
    assert _db(business_db, "SELECT payload FROM records WHERE client_id = 'TRUSTB'") == [(OTHER_PAYLOAD,)]
    # BANKA's AML rows and large-value report are gone (they are in the handover and the
    # archive); TRUSTB's stay.
    assert _aml_rows(business_db) == {
        "aml_cases": [("TRUSTB", 1)],
        "aml_decisions": [("TRUSTB", 1)],
        "aml_large_value": [("TRUSTB", 1)],
    }
    outputs = open_store(settings().outputs)
    assert outputs.list("aml/BANKA/") == []
    assert outputs.get(f"aml/TRUSTB/{DAY}/TRUSTB_LVR_20261127.csv") == OTHER_LVR
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
    assert deleted[("outputs", f"aml/BANKA/{DAY}/BANKA_LVR_20261127.csv")] == sha(LVR)
    assert cert["deleted"]["record_payloads_cleared"] == 3
    assert cert["deleted"]["aml_rows_deleted"] == {"aml_cases": 1, "aml_decisions": 2, "aml_large_value": 2}
    assert [(k["business_date"], k["retain_until"]) for k in cert["kept_until_retention_ends"]] == [
        (DAY, "2036-11-27")
    ]
    # A retry after success leaves the proof as it was.
    again = offboarding.purge_live_data(CLIENT, AS_OF, approved_by="someone.else")
    assert again["already_done"] is True
    assert store.get(f"_certificates/offboarding/{CLIENT}/{AS_OF}.json") == cert_bytes


def test_a_rejected_sign_off_deletes_nothing(archived, business_db, airflow_db, monkeypatch):
    state, answer = _run_dag("Reject", monkeypatch)
    assert answer["status"] == 200, answer
    assert state == "success"  # the run ends; the purge was skipped
    assert archived.raw.get("BANKA/2026-11-27/BANKA_PAY_20261127_001.csv") == PAY_CSV
    assert archived.landing.get("BANKA/outbox/BANKA_PAY_20261127_001.ret.csv") == RET
    assert all(p != "{}" for (p,) in _db(business_db, "SELECT payload FROM records"))
    assert _db(business_db, "SELECT COUNT(*) FROM deletion_certificates") == [(0,)]
    assert _aml_rows(business_db)["aml_cases"] == [("BANKA", 1), ("TRUSTB", 1)]
