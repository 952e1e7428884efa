"""Intake scans a plain data file while its raw copy is written (the block scan of fileformat), and the
answer is the one the contract gives when the raw copy is scanned: same figures for an accepted file,
the parser's code for a refused one, and no scan of other bytes than those registered.

Fixtures are built from the contract by hand (s3_fixtures); the expected figures are worked out here.
"""

from __future__ import annotations

import pytest
import sqlalchemy

from daybook import db, fileformat, intake
from daybook.storage import open_store
from s3_fixtures import CLIENT, DAY, DAY8, PAY_HEADER, csv_text, drop, gz, pay_csv, pay_row, sha

pytest_plugins = ["s3_fixtures"]
pytestmark = pytest.mark.integration

NAME = f"{CLIENT}_PAY_{DAY8}_001.csv"


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


def run_intake() -> list[dict]:
    return [intake.process_drop(d, DAY) for d in intake.list_drops(DAY)]


def the_file() -> dict:
    with db.begin() as conn:
        (row,) = conn.execute(sqlalchemy.text("SELECT * FROM files")).mappings().all()
    return dict(row)


def spy_scan_table(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """Record intake's calls of scan_table (the raw copy read again) and let them run."""
    calls: list[dict] = []
    real = fileformat.scan_table

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(intake, "scan_table", spy)
    return calls


def test_an_accepted_plain_file_is_judged_on_the_scan_made_while_copying(
    business_db, intake_zones, monkeypatch
):
    calls = spy_scan_table(monkeypatch)
    amounts = ["100.00", "23.45", "0.005", "0.005"]  # 123.46 after rounding half-up once
    rows = [pay_row(f"R{i}", a, purpose="rent, March") for i, a in enumerate(amounts)]
    data = csv_text([*PAY_HEADER, "purpose"], rows).encode()  # quoted cells with commas
    drop(intake_zones.landing, NAME, data, count=4, total="123.46")
    (result,) = run_intake()
    assert result["status"] == "INTAKE_OK", result
    row = the_file()
    assert (row["record_count"], row["amount_total_cents"], row["encoding"]) == (4, 12346, "utf-8")
    assert intake_zones.raw.get(row["raw_key"]) == data
    assert calls == [], "the raw copy was not scanned a second time"


def test_a_total_that_differs_is_f_total_with_the_scanned_sum(business_db, intake_zones, monkeypatch):
    data = pay_csv(["100.00", "23.45"]).encode()
    drop(intake_zones.landing, NAME, data, count=2, total="123.40")
    (result,) = run_intake()
    assert result["code"] == "F_TOTAL"
    message = intake_zones.landing.get(f"{CLIENT}/outbox/{NAME.removesuffix('.csv')}.rej").decode()
    assert "amount total is 123.40" in message and "sum to 123.45" in message


def test_a_malformed_plain_file_is_judged_by_the_parser_once(business_db, intake_zones, monkeypatch):
    calls = spy_scan_table(monkeypatch)
    text = pay_csv(["1.00", "2.00"])
    data = (text + "\n" + text.split("\n", 1)[1]).encode()  # an empty line before more records
    drop(intake_zones.landing, NAME, data, count=4, total="6.00")
    (result,) = run_intake()
    assert result["code"] == "F_MALFORMED"
    assert calls == [{"limit": intake.settings().max_file_bytes, "block_scan": False}]
    rej = intake_zones.landing.get(f"{CLIENT}/outbox/{NAME.removesuffix('.csv')}.rej").decode()
    assert "line 4 is empty" in rej


def test_a_gzip_file_is_scanned_from_the_raw_copy(business_db, intake_zones, monkeypatch):
    calls = spy_scan_table(monkeypatch)
    data = gz(pay_csv(["100.00", "23.45"]).encode())
    drop(intake_zones.landing, NAME + ".gz", data, count=2, total="123.45")
    (result,) = run_intake()
    assert result["status"] == "INTAKE_OK", result
    assert (the_file()["record_count"], the_file()["amount_total_cents"]) == (2, 12345)
    assert calls == [{"limit": intake.settings().max_file_bytes, "block_scan": True}]


def test_a_checksum_refusal_speaks_before_the_scan(business_db, intake_zones):
    data = pay_csv(["1.00"]).encode()
    drop(intake_zones.landing, NAME, data, count=1, total="1.00", control=None)
    intake_zones.landing.put(
        f"{CLIENT}/inbox/{NAME.removesuffix('.csv')}.ctl", f"{NAME}|1|1.00|{'0' * 64}\n".encode()
    )
    (result,) = run_intake()
    assert result["code"] == "F_CHECKSUM"
    assert the_file()["record_count"] is None, "no scan facts recorded for a file refused before the scan"


def test_a_scan_of_other_bytes_than_those_hashed_is_not_kept(tmp_path):
    """The inbox file changed between the hash and the scan: the scan is dropped (the raw copy,
    keyed by the registered sha256, is scanned instead)."""
    landing = open_store(str(tmp_path))
    data = pay_csv(["1.00"]).encode()
    landing.put("BENCH/inbox/x.csv", data)
    kept = intake._prescan(landing, "BENCH/inbox/x.csv", sha(data), fileformat.BlockScanner("amount"))
    assert kept is not None and kept.table is not None and kept.table.record_count == 1
    changed = intake._prescan(landing, "BENCH/inbox/x.csv", sha(b"other"), fileformat.BlockScanner("amount"))
    assert changed is None
