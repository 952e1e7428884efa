"""Archive package: contents and manifest, encryption, determinism, verify-before-purge.

The day is seeded straight into the business database and the zones (two files of one client:
an accepted PAY file with three rows, a refused file), so every expected hash and count below
is computed here from bytes this test wrote, not read from the code under test. Runs on local
folders and on the moto S3 server, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json

import pytest
import sqlalchemy

from daybook import archive, crypto

pytest_plugins = ["s3_fixtures"]
pytestmark = pytest.mark.integration

CLIENT, DAY = "BANKA", "2026-11-27"
PAY_CSV = b"client_ref,amount\nR1,10.00\nR2,20.00\nR3,x\n"
PAY_CTL = b"BANKA_PAY_20261127_001.csv|3|30.00|abc\n"
BAD_CSV = b"garbage\n"
ACK = b"line_no,client_ref,business_no,status,reason_codes\n1,R1,N1,ACCEPTED,\n"
RET = b"client_ref,business_no,status,reason_code,amount,final_date\nR1,N1,SETTLED,,10.00,2026-11-27\n"
REJ = b"F_TOTAL|total differs\n"
DOCS = b"<html>data docs \xe6\x95\xb0\xe6\x8d\xae</html>"
PROFILE = "client_id: BANKA\n"
LVR = b"payer_id_type,payer_id_no,day_total\nRIC,11010519491231002X,10.00\n"
SANCTIONS = "payer 张伟 resembles a listed name"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _seed(zones) -> None:
    """Two files, three records (settled, returned, rejected), approvals and a ledger pair."""
    zones.raw.put("BANKA/2026-11-27/BANKA_PAY_20261127_001.csv", PAY_CSV)
    zones.raw.put("BANKA/2026-11-27/BANKA_PAY_20261127_001.ctl", PAY_CTL)
    zones.raw.put("BANKA/2026-11-27/BANKA_PAY_20261127_002.csv", BAD_CSV)
    zones.landing.put("BANKA/outbox/BANKA_PAY_20261127_001.ack.csv", ACK)
    zones.landing.put("BANKA/outbox/BANKA_PAY_20261127_001.ret.csv", RET)
    zones.landing.put("BANKA/outbox/BANKA_PAY_20261127_002.rej", REJ)
    from daybook.config import settings
    from daybook.storage import open_store

    open_store(settings().outputs).put(f"{DAY}/data_docs/BANKA_PAY_20261127_001/index.html", DOCS)
    from daybook import db

    with db.begin() as conn:
        conn.execute(
            sqlalchemy.text(
                "INSERT INTO profile_versions (client_id, version, content) VALUES ('BANKA', 'v1', :c)"
            ),
            {"c": PROFILE},
        )
        for seq, raw_key, ctl_key, status, code in [
            (
                "001",
                "BANKA/2026-11-27/BANKA_PAY_20261127_001.csv",
                "BANKA/2026-11-27/BANKA_PAY_20261127_001.ctl",
                "COMPLETED",
                None,
            ),
            ("002", "BANKA/2026-11-27/BANKA_PAY_20261127_002.csv", None, "REJECTED", "F_TOTAL"),
        ]:
            conn.execute(
                sqlalchemy.text(
                    "INSERT INTO files (folder, name, stem, client_id, file_type, business_date, seq, intake_date,"
                    " sha256, size_bytes, raw_key, control_raw_key, status, reason_code, profile_version)"
                    " VALUES ('BANKA', :name, :stem, 'BANKA', 'PAY', :day, :seq, :day, 'x', 1, :raw, :ctl,"
                    " :status, :code, 'v1')"
                ),
                {
                    "name": f"BANKA_PAY_20261127_{seq}.csv",
                    "stem": f"BANKA_PAY_20261127_{seq}",
                    "day": DAY,
                    "seq": seq,
                    "raw": raw_key,
                    "ctl": ctl_key,
                    "status": status,
                    "code": code,
                },
            )
        file_id = conn.execute(sqlalchemy.text("SELECT file_id FROM files WHERE seq = '001'")).scalar_one()
        for line, ref, cents, ack, state, final in [
            (1, "R1", 1000, "ACCEPTED", "SETTLED", None),
            (2, "R2", 2000, "ACCEPTED", "RETURNED", "A_DECLINED"),
            (3, "R3", None, "REJECTED", "REJECTED", None),
        ]:
            conn.execute(
                sqlalchemy.text(
                    "INSERT INTO records (business_no, file_id, client_id, file_type, business_date, line_no,"
                    " client_ref, amount_cents, currency, ack_status, reason_codes, state, final_code, final_date,"
                    " payload) VALUES (:no, :fid, 'BANKA', 'PAY', :day, :line, :ref, :cents, 'CNY', :ack, '',"
                    " :state, :final, :day, :payload)"
                ),
                {
                    "no": f"BANKA-PAY-20261127-001-{line:06d}",
                    "fid": file_id,
                    "day": DAY,
                    "line": line,
                    "ref": ref,
                    "cents": cents,
                    "ack": ack,
                    "state": state,
                    "final": final,
                    "payload": json.dumps({"payer_name": "张伟", "client_ref": ref}),
                },
            )
        conn.execute(
            sqlalchemy.text(
                "INSERT INTO approvals (business_no, level, decision, decided_by, opinion)"
                " VALUES ('BANKA-PAY-20261127-001-000002', 1, 'DECLINE', 'alice', 'no')"
            )
        )
        conn.execute(
            sqlalchemy.text(
                "INSERT INTO ledger_transfers (business_no, client_id, business_date, debit_account,"
                " credit_account, amount_cents) VALUES ('BANKA-PAY-20261127-001-000001', 'BANKA', :day,"
                " 'BANKA:PREFUND', 'BANKA:PAYEE', 1000)"
            ),
            {"day": DAY},
        )
        _seed_aml(conn)
    open_store(settings().outputs).put(f"aml/BANKA/{DAY}/BANKA_LVR_20261127.csv", LVR)


def _seed_aml(conn) -> None:
    """R1 was held on a sanctions match and released by two people; its payer was reported for
    large value. Large-value rows of another date and another client must stay out of the day."""
    conn.execute(
        sqlalchemy.text(
            "INSERT INTO aml_cases (business_no, client_id, business_date, rule, detail, status, opened_at,"
            " closed_at) VALUES ('BANKA-PAY-20261127-001-000001', 'BANKA', :day, 'SANCTIONS', :detail,"
            " 'RELEASED', '2026-11-27 08:00:00', '2026-11-27 09:30:00')"
        ),
        {"day": DAY, "detail": SANCTIONS},
    )
    for who, at in (("bob", "2026-11-27 09:00:00"), ("carol", "2026-11-27 09:30:00")):
        conn.execute(
            sqlalchemy.text(
                "INSERT INTO aml_decisions (business_no, decision, decided_by, note, decided_at)"
                " VALUES ('BANKA-PAY-20261127-001-000001', 'RELEASE', :who, 'false positive', :at)"
            ),
            {"who": who, "at": at},
        )
    for client, day, cents in (("BANKA", DAY, 1000), ("BANKA", "2026-11-26", 7000), ("TRUSTB", DAY, 9000)):
        conn.execute(
            sqlalchemy.text(
                "INSERT INTO aml_large_value (client_id, business_date, payer_id_type, payer_id_no, payments,"
                " total_cents) VALUES (:client, :day, 'RIC', '11010519491231002X', 1, :cents)"
            ),
            {"client": client, "day": day, "cents": cents},
        )


@pytest.fixture
def backend() -> str:
    """SQLite for most cases here; the package test below also runs on PostgreSQL."""
    return "sqlite"


@pytest.fixture
def archive_key(monkeypatch) -> crypto.ArchiveKey:
    """A key generated for this test only, given to Airflow's connection variable."""
    text = crypto.generate_key()
    monkeypatch.setenv(crypto.ENV_VAR, crypto.connection_env_value(text))
    return crypto.parse_key(text)


@pytest.fixture
def seeded(business_db, intake_zones):
    _seed(intake_zones)
    return intake_zones


def _payloads(url: str) -> list[str]:
    eng = sqlalchemy.create_engine(url)
    with eng.connect() as conn:
        out = [
            r[0] for r in conn.execute(sqlalchemy.text("SELECT payload FROM records ORDER BY business_no"))
        ]
    eng.dispose()
    return out


def _alerts(url: str) -> list[str]:
    eng = sqlalchemy.create_engine(url)
    with eng.connect() as conn:
        out = [r[0] for r in conn.execute(sqlalchemy.text("SELECT kind FROM alert_events"))]
    eng.dispose()
    return out


EXPECTED_PLAINTEXT = {
    "originals/BANKA_PAY_20261127_001.csv": PAY_CSV,
    "originals/BANKA_PAY_20261127_001.ctl": PAY_CTL,
    "originals/BANKA_PAY_20261127_002.csv": BAD_CSV,
    "returns/BANKA_PAY_20261127_001.ack.csv": ACK,
    "returns/BANKA_PAY_20261127_001.ret.csv": RET,
    "returns/BANKA_PAY_20261127_002.rej": REJ,
    "data_docs/BANKA_PAY_20261127_001/index.html": DOCS,
    "profiles/v1.yaml": PROFILE.encode(),
    "aml/BANKA_LVR_20261127.csv": LVR,
}
AML_TABLES = {"aml/cases.csv", "aml/decisions.csv", "aml/large_value.csv"}


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_package_holds_every_member_sealed_with_a_manifest_of_plaintext_hashes(
    seeded, archive_key, business_db
):
    out = archive.build_package(CLIENT, DAY)
    assert out["verified"] is True and out["encrypted"] is True
    store = archive.archive_store()
    manifest = json.loads(store.get("BANKA/2026-11-27/manifest.json"))
    listed = {m["path"]: m for m in manifest["members"]}
    assert (
        set(listed)
        == set(EXPECTED_PLAINTEXT) | {"records.parquet", "approvals.csv", "ledger.csv"} | AML_TABLES
    )
    for path, data in EXPECTED_PLAINTEXT.items():
        assert listed[path]["sha256"] == sha(data) and listed[path]["size"] == len(data), path
        stored = store.get(f"BANKA/2026-11-27/{path}.enc")
        assert data not in stored, f"{path} is stored in the clear"
        assert archive_key.open(stored, path) == data
    assert manifest["profile_versions"] == ["v1"]
    assert manifest["retain_until"] == "2036-11-27"  # 10 years after the business date
    assert manifest["encryption"]["key_id"] == archive_key.key_id
    sums = store.get("BANKA/2026-11-27/SHA256SUMS").decode()
    assert f"{sha(PAY_CSV)}  originals/BANKA_PAY_20261127_001.csv\n" in sums

    import pyarrow.parquet as pq

    table = pq.read_table(io.BytesIO(archive.read_member(manifest, "records.parquet")))
    rows = sorted(zip(table["client_ref"].to_pylist(), table["state"].to_pylist(), strict=True))
    assert rows == [("R1", "SETTLED"), ("R2", "RETURNED"), ("R3", "REJECTED")]
    approvals = list(csv.DictReader(io.StringIO(archive.read_member(manifest, "approvals.csv").decode())))
    assert [(a["business_no"], a["decision"], a["decided_by"]) for a in approvals] == [
        ("BANKA-PAY-20261127-001-000002", "DECLINE", "alice")
    ]
    ledger = list(csv.DictReader(io.StringIO(archive.read_member(manifest, "ledger.csv").decode())))
    assert sorted((e["leg"], e["account"], e["amount_cents"]) for e in ledger) == [
        ("C", "BANKA:PAYEE", "1000"),
        ("D", "BANKA:PREFUND", "1000"),
    ]
    # The day's AML record: the case, both people's decisions, the day's large-value row only.
    cases = list(csv.DictReader(io.StringIO(archive.read_member(manifest, "aml/cases.csv").decode())))
    assert [(c["business_no"], c["rule"], c["detail"], c["status"]) for c in cases] == [
        ("BANKA-PAY-20261127-001-000001", "SANCTIONS", SANCTIONS, "RELEASED")
    ]
    decisions = list(csv.DictReader(io.StringIO(archive.read_member(manifest, "aml/decisions.csv").decode())))
    assert [(d["decision"], d["decided_by"], d["decided_at"][:19]) for d in decisions] == [
        ("RELEASE", "bob", "2026-11-27 09:00:00"),
        ("RELEASE", "carol", "2026-11-27 09:30:00"),
    ]
    large = list(csv.DictReader(io.StringIO(archive.read_member(manifest, "aml/large_value.csv").decode())))
    assert [(v["client_id"], v["business_date"], v["total_cents"]) for v in large] == [("BANKA", DAY, "1000")]
    if seeded.kind == "s3":
        head = archive.object_metadata(store, "BANKA/2026-11-27/originals/BANKA_PAY_20261127_001.csv.enc")
        assert head["ServerSideEncryption"] == "AES256"
        assert head["Metadata"]["retain-until"] == "2036-11-27"


def test_archiving_the_day_twice_gives_the_same_manifest_and_plaintext(seeded, archive_key):
    archive.build_package(CLIENT, DAY)
    store = archive.archive_store()
    first = store.get("BANKA/2026-11-27/manifest.json")
    archive.build_package(CLIENT, DAY)
    assert store.get("BANKA/2026-11-27/manifest.json") == first


@pytest.mark.parametrize("damage", ["flip_byte", "delete_member", "extra_object"])
def test_a_damaged_package_fails_verification_raises_an_alert_and_purges_nothing(
    seeded, archive_key, business_db, monkeypatch, damage
):
    archive.build_package(CLIENT, DAY)
    before = _payloads(business_db)
    store = archive.archive_store()
    key = "BANKA/2026-11-27/originals/BANKA_PAY_20261127_001.csv.enc"
    if damage == "flip_byte":
        data = bytearray(store.get(key))
        data[-20] ^= 0x01
        store.put(key, bytes(data))
    elif damage == "delete_member":
        store.delete(key)
    else:
        store.put("BANKA/2026-11-27/originals/smuggled.csv", b"x")
    result = archive.verify_package(CLIENT, DAY)
    assert not result.ok and result.problems
    monkeypatch.setenv("DAYBOOK_PURGE_AFTER_DAYS", "0")
    assert archive.purge_staging(CLIENT, DAY) == []
    assert _payloads(business_db) == before
    assert "ARCHIVE_VERIFY_FAILED" in _alerts(business_db)


def test_a_verified_package_lets_staging_payloads_older_than_the_window_be_purged(
    seeded, archive_key, business_db, monkeypatch
):
    archive.build_package(CLIENT, DAY)  # default window 90 days: today's rows stay
    assert all(p != "{}" for p in _payloads(business_db))
    monkeypatch.setenv("DAYBOOK_PURGE_AFTER_DAYS", "30")
    assert archive.purge_staging(CLIENT, "2026-12-26") == []  # 29 days later: inside the window
    assert archive.purge_staging(CLIENT, "2026-12-27") == [DAY]
    assert _payloads(business_db) == ["{}", "{}", "{}"]
    assert archive.verify_package(CLIENT, DAY).ok, "row counts still match after the purge"


def test_without_a_key_the_package_is_plaintext_and_an_alert_says_so(seeded, business_db, monkeypatch):
    monkeypatch.delenv(crypto.ENV_VAR, raising=False)
    archive.build_package(CLIENT, DAY)
    store = archive.archive_store()
    assert store.get("BANKA/2026-11-27/originals/BANKA_PAY_20261127_001.csv") == PAY_CSV
    assert "ARCHIVE_UNENCRYPTED" in _alerts(business_db)
    monkeypatch.setenv("DAYBOOK_ARCHIVE_REQUIRE_KEY", "1")
    with pytest.raises(crypto.ArchiveKeyError):
        archive.build_package(CLIENT, DAY)


def test_an_exported_package_passes_sha256sum_check_and_fails_it_after_tampering(
    seeded, archive_key, tmp_path
):
    import subprocess

    archive.build_package(CLIENT, DAY)
    target = tmp_path / "export"
    archive.export_package(CLIENT, DAY, target)
    assert (target / "originals/BANKA_PAY_20261127_001.csv").read_bytes() == PAY_CSV
    ok = subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=target, capture_output=True)
    assert ok.returncode == 0, ok.stdout
    (target / "ledger.csv").write_bytes(b"forged\n")
    bad = subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=target, capture_output=True)
    assert bad.returncode != 0 and b"ledger.csv: FAILED" in bad.stdout


SEGMENT = 1 << 20  # sealed members are cut in 1 MiB segments (docs/archive.md)
BIG_KEY = "BANKA/2026-11-27/originals/BANKA_PAY_20261127_001.csv.enc"


def _big_original(zones) -> bytes:
    """The accepted file's raw bytes replaced by 2.5 MiB: its sealed copy spans three segments."""
    import os

    data = PAY_CSV + os.urandom(5 * SEGMENT // 2)
    zones.raw.put("BANKA/2026-11-27/BANKA_PAY_20261127_001.csv", data)
    return data


def test_a_member_larger_than_one_segment_round_trips_and_exports(seeded, archive_key, tmp_path):
    data = _big_original(seeded)
    out = archive.build_package(CLIENT, DAY)
    assert out["verified"] is True
    store = archive.archive_store()
    stored = store.get(BIG_KEY)
    assert len(stored) == 26 + len(data) + 3 * 16  # header + plaintext + one tag per segment
    manifest = json.loads(store.get("BANKA/2026-11-27/manifest.json"))
    entry = next(m for m in manifest["members"] if m["path"] == "originals/BANKA_PAY_20261127_001.csv")
    assert (entry["sha256"], entry["size"]) == (sha(data), len(data))
    assert archive.read_member(manifest, entry["path"]) == data
    archive.export_package(CLIENT, DAY, tmp_path / "export")
    assert (tmp_path / "export/originals/BANKA_PAY_20261127_001.csv").read_bytes() == data


@pytest.mark.parametrize("damage", ["last_segment_dropped", "segments_swapped", "byte_in_middle_segment"])
def test_a_cut_or_reordered_segment_fails_verification(seeded, archive_key, damage):
    _big_original(seeded)
    archive.build_package(CLIENT, DAY)
    store = archive.archive_store()
    sealed = store.get(BIG_KEY)
    header, body = sealed[:26], sealed[26:]
    segs = [body[i : i + SEGMENT + 16] for i in range(0, len(body), SEGMENT + 16)]
    assert len(segs) == 3
    if damage == "last_segment_dropped":
        forged = header + segs[0] + segs[1]
    elif damage == "segments_swapped":
        forged = header + segs[1] + segs[0] + segs[2]
    else:
        middle = bytearray(segs[1])
        middle[SEGMENT // 2] ^= 0x80
        forged = header + segs[0] + bytes(middle) + segs[2]
    store.put(BIG_KEY, forged)
    result = archive.verify_package(CLIENT, DAY)
    assert not result.ok
    assert any(p.startswith("originals/BANKA_PAY_20261127_001.csv: segment") for p in result.problems), (
        result.problems
    )


@pytest.mark.parametrize("store_kind", ["s3"])
def test_a_member_over_the_part_size_is_uploaded_to_s3_in_parts_with_encryption_and_retention(
    seeded, archive_key
):
    """Members are uploaded from a file, multipart above 16 MiB (an S3 multipart object's ETag
    ends in -<parts>), with the same server-side encryption and retention metadata."""
    import os

    data = PAY_CSV + os.urandom(20 << 20)
    seeded.raw.put("BANKA/2026-11-27/BANKA_PAY_20261127_001.csv", data)
    assert archive.build_package(CLIENT, DAY)["verified"] is True
    store = archive.archive_store()
    head = store.s3.head_object(Bucket=store.bucket, Key=f"{store.prefix}/{BIG_KEY}")
    assert head["ETag"].strip('"').endswith("-2"), head["ETag"]  # 20 MiB + segment tags: two parts
    assert head["ServerSideEncryption"] == "AES256"
    assert head["Metadata"]["retain-until"] == "2036-11-27"
    manifest = archive.read_manifest(CLIENT, DAY)
    assert archive.read_member(manifest, "originals/BANKA_PAY_20261127_001.csv") == data


def test_rearchiving_reseals_a_member_left_in_the_earlier_one_shot_format(seeded, archive_key):
    """A package is in the one sealed format its manifest names: a member still sealed the
    earlier way (one AES-GCM call over the whole member) is sealed again, in segments."""
    import os

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    archive.build_package(CLIENT, DAY)
    store = archive.archive_store()
    nonce = os.urandom(12)
    path = "originals/BANKA_PAY_20261127_001.csv"
    old = b"DAYBOOK-AESGCM1" + nonce + AESGCM(archive_key.raw).encrypt(nonce, PAY_CSV, path.encode())
    store.put(BIG_KEY, old)
    assert archive.verify_package(CLIENT, DAY).ok  # the earlier format still opens
    archive.build_package(CLIENT, DAY)
    stored = store.get(BIG_KEY)
    assert stored[:15] == b"DAYBOOK-AESGCM2" and archive_key.open(stored, path) == PAY_CSV
    manifest = json.loads(store.get("BANKA/2026-11-27/manifest.json"))
    assert manifest["encryption"]["format"] == "DAYBOOK-AESGCM2"
