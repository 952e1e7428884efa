"""Hostile input: each case is answered per the client file contract (a reason code in the
client's outbox, never a stack trace) and nothing is written outside the landing, raw, outputs
and archive roots.

Expected codes come from the contract (file-contract.md sections 2, 4 and 7): a name that does
not follow section 2 is F_NAME; a file that is not parseable as RFC 4180 CSV is F_MALFORMED; a
text longer than its limit is R_FORMAT.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import pytest
import sqlalchemy

from daybook import db, intake, sample, validation
from daybook.storage import LocalStore, open_store
from s3_fixtures import CLIENT, DAY, DAY8, PAY_HEADER, csv_text, ctl, drop, pay_row, s3_env

pytest_plugins = ["s3_fixtures"]
pytestmark = pytest.mark.integration

NAME = f"{CLIENT}_PAY_{DAY8}_001.csv"
STEM = f"{CLIENT}_PAY_{DAY8}_001"
ROOTS = ("landing", "raw", "outputs", "archive")


# File and key handling does not depend on the database: SQLite. The SQL metacharacter case
# runs on both engines (parametrized below).
@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


def run_intake() -> list[dict]:
    return [intake.process_drop(d, DAY) for d in intake.list_drops(DAY)]


def rej(landing, stem: str, folder: str = CLIENT) -> str:
    return landing.get(f"{folder}/outbox/{stem}.rej").decode("utf-8").split("|", 1)[0]


def outside_roots(tmp_path: Path) -> list[str]:
    """Files under the test's folder that are neither in a zone root nor the business database."""
    return sorted(
        p.relative_to(tmp_path).as_posix()
        for p in tmp_path.rglob("*")
        if (p.is_file() or p.is_symlink())
        and p.relative_to(tmp_path).parts[0] not in (*ROOTS, "outside", "profiles")
        and not p.name.startswith("business.db")
    )


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder next to the zones with a secret file: never read, never written."""
    path = tmp_path / "outside"
    path.mkdir()
    (path / "secret.csv").write_bytes(b"not for the platform\n")
    return path


def _keys_with_bad_parts(store) -> list[str]:
    return [k for k in store.list() if any(p in ("", ".", "..") for p in k.split("/")) or "\x00" in k]


# ------------------------------------------------------------------------------ S3 keys and names


@pytest.fixture
def s3_landing(business_db, zones, s3_endpoint, monkeypatch):
    """Landing on S3 (keys may hold anything), raw, outputs and archive on local folders: the case
    where a hostile key could become a local path."""
    import uuid

    import boto3

    for key, value in s3_env(s3_endpoint).items():
        monkeypatch.setenv(key, value)
    bucket = f"daybook-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    monkeypatch.setenv("DAYBOOK_LANDING", f"s3://{bucket}/landing")
    return open_store(f"s3://{bucket}/landing"), bucket


@pytest.mark.parametrize(
    "key",
    [
        f"{CLIENT}/inbox/../../../escape/{NAME}",
        f"{CLIENT}/inbox/../outbox/{STEM}.rej",
        f"{CLIENT}/inbox/sub/{NAME}",
        f"{CLIENT}/inbox//abs/{NAME}",
        f"{CLIENT}/inbox/..",
        f"{CLIENT}/inbox/{'A' * 900}.csv",
        f"{CLIENT}/inbox/..\\..\\{NAME}",
    ],
    ids=["traversal", "traversal-into-outbox", "subfolder", "absolute", "dotdot", "very-long", "backslashes"],
)
def test_hostile_s3_key_in_the_inbox_is_answered_f_name(s3_landing, zones, outside, tmp_path, key):
    import boto3

    landing, bucket = s3_landing
    landing.put(key, b"client_ref\nR1\n")
    results = run_intake()
    assert [r["status"] for r in results] == ["REJECTED"]
    assert [r["code"] for r in results] == ["F_NAME"]
    answers = [k for k in landing.list(f"{CLIENT}/outbox/") if k.endswith(".rej")]
    assert len(answers) == 1 and rej(landing, answers[0].split("/")[-1][: -len(".rej")]) == "F_NAME"
    assert not landing.exists(key), "the inbox copy was moved to rejected/"
    assert _keys_with_bad_parts(landing) == []
    everything = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert everything and all(k.startswith("landing/") for k in everything), everything
    assert outside_roots(tmp_path) == []
    raw = LocalStore(str(zones["raw"]))
    assert [p for p in zones["raw"].rglob("*") if p.is_file()], "the bytes are kept in the raw zone"
    assert all(raw.get(k) == b"client_ref\nR1\n" for k in raw.list())


def test_a_key_outside_any_inbox_is_not_touched(s3_landing, zones, tmp_path):
    landing, _ = s3_landing
    landing.put(f"/{CLIENT}/inbox/{NAME}", b"x")
    landing.put(f"../{CLIENT}/inbox/{NAME}", b"x")
    assert run_intake() == []
    assert landing.exists(f"/{CLIENT}/inbox/{NAME}") and landing.exists(f"../{CLIENT}/inbox/{NAME}")
    assert outside_roots(tmp_path) == []


def test_nul_in_an_s3_key_is_answered_f_name(s3_landing, zones, tmp_path):
    landing, _ = s3_landing
    try:
        landing.put(f"{CLIENT}/inbox/{STEM}\x00.csv", b"x")
    except Exception as exc:  # noqa: BLE001 - an endpoint may refuse such a key itself
        pytest.skip(f"the S3 endpoint refuses NUL in keys: {exc}")
    results = run_intake()
    assert [(r["status"], r["code"]) for r in results] == [("REJECTED", "F_NAME")]
    assert _keys_with_bad_parts(landing) == []
    assert outside_roots(tmp_path) == []


# ------------------------------------------------------------------------------ local names


def test_backslash_and_control_characters_in_a_local_name_are_answered_f_name(business_db, zones, tmp_path):
    landing = LocalStore(str(zones["landing"]))
    name = "..\\..\\evil\nname\t.csv"
    landing.put(f"{CLIENT}/inbox/{name}", b"x")
    (result,) = run_intake()
    assert (result["status"], result["code"]) == ("REJECTED", "F_NAME")
    rejs = [k for k in landing.list(f"{CLIENT}/outbox/") if k.endswith(".rej")]
    assert len(rejs) == 1 and "\n" not in rejs[0] and "\\" not in rejs[0]
    assert outside_roots(tmp_path) == []


# ------------------------------------------------------------------------------ symlinks


@pytest.mark.parametrize("target", ["outside", "other-client", "directory"])
def test_a_symlink_in_the_inbox_is_never_followed(business_db, zones, outside, tmp_path, target):
    """Decision: a symbolic link is not a file the client sent. It is refused with F_NAME (the
    contract's code for anything in inbox/ that is not a file named per section 2), moved to
    rejected/ as a link, and never read: its target's bytes reach neither the raw zone nor a log."""
    landing = LocalStore(str(zones["landing"]))
    inbox = zones["landing"] / CLIENT / "inbox"
    inbox.mkdir(parents=True)
    secret = outside / "secret.csv"
    if target == "other-client":
        other = zones["landing"] / "TRUSTB" / "processed"
        other.mkdir(parents=True)
        secret = other / "TRUSTB_PAY_20261127_001.csv"
        secret.write_bytes(b"another client's data\n")
    before = secret.read_bytes()
    if target == "directory":
        (inbox / "linked").symlink_to(outside, target_is_directory=True)
        link_name = "linked"
    else:
        link_name = NAME
        (inbox / NAME).symlink_to(secret)
        (inbox / f"{STEM}.ctl").write_bytes(ctl(NAME, 1, "0.00", before))
    results = run_intake()
    assert [(r["status"], r["code"]) for r in results] == [("REJECTED", "F_NAME")]
    assert rej(landing, STEM if link_name == NAME else link_name) == "F_NAME"
    assert not (inbox / link_name).exists() and not (inbox / link_name).is_symlink()
    assert (zones["landing"] / CLIENT / "rejected" / link_name).is_symlink()
    assert secret.read_bytes() == before and outside.joinpath("secret.csv").is_file()
    for p in zones["raw"].rglob("*"):
        assert not p.is_file() or p.read_bytes() != before
    assert outside_roots(tmp_path) == []


# ------------------------------------------------------------------------------ content


def test_nul_in_content_is_f_malformed(business_db, zones, tmp_path):
    landing = LocalStore(str(zones["landing"]))
    data = csv_text(PAY_HEADER, [pay_row("R1", "1.00", payer_name="Zhang\x00Wei")]).encode()
    drop(landing, NAME, data, count=1, total="1.00")
    (result,) = run_intake()
    assert (result["status"], result["code"]) == ("REJECTED", "F_MALFORMED")
    assert outside_roots(tmp_path) == []


def test_nul_in_a_control_file_is_f_control(business_db, zones, tmp_path):
    landing = LocalStore(str(zones["landing"]))
    data = csv_text(PAY_HEADER, [pay_row("R1", "1.00")]).encode()
    drop(
        landing,
        NAME,
        data,
        control=f"{NAME}\x00|1|1.00|".encode() + ctl(NAME, 1, "1.00", data).split(b"|")[-1],
    )
    (result,) = run_intake()
    assert (result["status"], result["code"]) == ("REJECTED", "F_CONTROL")


def test_a_very_long_line_without_a_newline_is_answered(business_db, zones, tmp_path):
    landing = LocalStore(str(zones["landing"]))
    data = ("client_ref," + "x" * (8 << 20)).encode()  # 8 MiB header line, no row, no newline
    drop(landing, NAME, data, count=0, total="0.00")
    (result,) = run_intake()
    assert result["status"] == "REJECTED" and result["code"] in ("F_HEADER", "F_MALFORMED", "F_TOO_LARGE")
    assert outside_roots(tmp_path) == []


# ------------------------------------------------------------------------------ through validation


@pytest.fixture
def val_env(business_db, zones, tmp_path, monkeypatch):
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "HOSTILE.yaml").write_text('client_id: HOSTILE\nerror_rate_threshold: "0.99"\n')
    monkeypatch.setenv("DAYBOOK_PROFILES", str(folder))
    return {"url": business_db, **zones}


def _drop_and_validate(rows: list[list[str]], header=None) -> bytes:
    header = header or [*PAY_HEADER, "purpose"]
    name = f"HOSTILE_PAY_{DAY8}_001.csv"
    data = sample.csv_bytes(header, rows)
    landing = LocalStore(os.environ["DAYBOOK_LANDING"])
    landing.put(f"HOSTILE/inbox/{name}", data)
    landing.put(
        f"HOSTILE/inbox/{name[:-4]}.ctl", sample.control_line(name, data, rows, header.index("amount"))
    )
    for d in intake.list_drops(DAY):
        intake.process_drop(d, DAY)
    validation.validate_client("HOSTILE", DAY)
    return landing.get(f"HOSTILE/outbox/{name[:-4]}.ack.csv")


def _ack(data: bytes) -> dict[str, list[str]]:
    return {r["line_no"]: r for r in csv.DictReader(io.StringIO(data.decode("utf-8")))}


def test_very_long_cells_get_r_format(val_env, tmp_path):
    rows = [
        pay_row("R1", "1.00", purpose="p" * 1_000_000),  # purpose: at most 140 characters
        pay_row("R2", "1.00", payer_name="n" * 100_000),  # names: 1-100 characters
        pay_row("R3", "1.00"),
    ]
    ack = _ack(_drop_and_validate([r if len(r) == 13 else [*r, ""] for r in rows]))
    assert (ack["1"]["status"], ack["1"]["reason_codes"]) == ("REJECTED", "R_FORMAT")
    assert (ack["2"]["status"], ack["2"]["reason_codes"]) == ("REJECTED", "R_FORMAT")
    assert ack["3"]["status"] == "ACCEPTED"
    assert outside_roots(tmp_path) == []


SQL_METACHARACTERS = [
    "'; DROP TABLE records; --",
    'O\'Brien "quoted"',
    "100% _under_ \\back\\slash",
    "x' OR '1'='1",
    "Robert'); DELETE FROM files; --",
]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)
def test_sql_metacharacters_in_text_fields_are_stored_as_sent(val_env, tmp_path):
    rows = [
        [
            *pay_row(f"R{i}", "1.00", payer_name=text[:100], purpose=text),
        ]
        for i, text in enumerate(SQL_METACHARACTERS, start=1)
    ]
    rows.append([*pay_row("=SUM(A1:A9)", "1.00"), ""])  # formula-like, outside the client_ref alphabet
    rows.append([*pay_row("'; DROP TABLE files; --", "1.00"), ""])  # client_ref outside its alphabet
    ack = _ack(_drop_and_validate(rows))
    for i in range(1, len(SQL_METACHARACTERS) + 1):
        assert ack[str(i)]["status"] == "ACCEPTED", ack[str(i)]
    formula = ack[str(len(rows) - 1)]
    # The ack is the client's own file in the contract's exact format: its value comes back as sent.
    assert (formula["client_ref"], formula["status"], formula["reason_codes"]) == (
        "=SUM(A1:A9)",
        "REJECTED",
        "R_FORMAT",
    )
    last = ack[str(len(rows))]
    assert (last["status"], last["reason_codes"]) == ("REJECTED", "R_FORMAT")
    assert last["client_ref"] == "'; DROP TABLE files; --"  # the client's own value, echoed as sent
    import json

    with db.begin() as conn:
        payloads = [
            json.loads(r.payload)
            for r in conn.execute(
                sqlalchemy.text("SELECT payload FROM records WHERE client_id = 'HOSTILE' ORDER BY line_no")
            )
        ]
        assert conn.execute(sqlalchemy.text("SELECT COUNT(*) FROM files")).scalar_one() == 1
    assert [p["purpose"] for p in payloads[: len(SQL_METACHARACTERS)]] == SQL_METACHARACTERS
    assert outside_roots(tmp_path) == []


# ------------------------------------------------------------------------------ CSV for people


@pytest.mark.parametrize(
    ("sent", "shown"),
    [
        ('=HYPERLINK("http://evil","x")', '\'=HYPERLINK("http://evil","x")'),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("\t=1", "'\t=1"),
        ("-12.50", "-12.50"),  # a plain number is not a formula
        ("Zhang Wei", "Zhang Wei"),
    ],
)
def test_archive_and_handover_listings_neutralize_formula_cells(sent, shown):
    from daybook import archive

    data = archive.rows_to_csv([{"opinion": sent, "n": None}], ["opinion", "n"])
    (row,) = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    assert (row["opinion"], row["n"]) == (shown, "")


# Modules whose CSV is defined by a contract and must carry values exactly as sent or posted:
# the client's .ack.csv (validation) and .ret.csv (settlement), the outbound clearing file, the
# sample client input, and replay's internal canonical comparison.
CONTRACT_CSV_WRITERS = {"validation.py", "settlement.py", "clearing.py", "sample.py", "replay.py"}
# The Arrow CSV writer itself (like csv.writer): the modules that call it are scanned instead.
CSV_WRITER_ITSELF = {"arrowcsv.py"}


def test_every_other_csv_writer_neutralizes_formula_cells():
    package = Path(__file__).resolve().parents[2] / "include" / "daybook"
    writers = {
        p.name
        for p in package.glob("*.py")
        if p.name not in CSV_WRITER_ITSELF
        and any(w in p.read_text(encoding="utf-8") for w in ("csv.writer(", ".to_csv(", "arrowcsv.lines("))
    }
    assert writers - CONTRACT_CSV_WRITERS, "no CSV for people found: the scan is broken"
    for name in sorted(writers - CONTRACT_CSV_WRITERS):
        text = (package / name).read_text(encoding="utf-8")
        # csvsafe.row per row, or csvsafe.arrow_cells on whole Arrow columns (the same rule:
        # tests/unit/test_csvsafe.py holds the two to the same cells)
        assert "csvsafe.row(" in text or "csvsafe.arrow_cells(" in text, name


@pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)
@pytest.mark.parametrize("asked", ["%", "BANK_", "BANKA' OR '1'='1", "BANKA%"])
def test_a_client_id_with_sql_wildcards_or_quotes_selects_no_other_clients_audit(business_db, asked):
    """The handover's audit selection takes the client id as a bound value, not a pattern."""
    from daybook import events

    with db.begin() as conn:
        events.audit(conn, "x", "a", "BANKA/2026-11-27")
        events.audit(conn, "x", "b", "BANKB-PAY-20261127-001-000001")
        events.audit(conn, "x", "c", "BANKA_PAY_20261127_001.csv")
        assert db.run(conn, "select_audit_events_of_client", {"client_id": asked}).all() == []
        got = db.run(conn, "select_audit_events_of_client", {"client_id": "BANKA"}).all()
    assert [r.action for r in got] == ["a", "c"]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)
def test_sql_metacharacters_in_an_approval_opinion_are_stored_as_sent_and_chained(
    business_db, tmp_path, monkeypatch
):
    """A reviewer's free text reaches approvals and the audit trail by bound parameters only."""
    from click.testing import CliRunner

    from approval_seed import DAY as SEED_DAY
    from approval_seed import pay, query, seed_file, write_profiles
    from daybook import approval
    from daybook.cli import main

    write_profiles(tmp_path / "profiles", monkeypatch, "BANKX")
    _, (no,) = seed_file(business_db, "BANKX", "PAY", [pay(6_000_000)])
    approval.assess(SEED_DAY)
    opinion = '=1+1 \'; DROP TABLE approvals; -- 100% _x_ \\ "q"'
    assert approval.decide(no, "li.wei", "DECLINE", opinion) == "RETURNED"
    assert query(business_db, "SELECT opinion FROM approvals WHERE business_no = :n", n=no) == [(opinion,)]
    assert query(business_db, "SELECT COUNT(*) FROM records") == [(1,)]
    result = CliRunner().invoke(main, ["audit", "verify", "--no-anchors", "--client", "BANKX"])
    assert result.exit_code == 0, result.output
