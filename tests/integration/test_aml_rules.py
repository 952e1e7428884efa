"""AML rules end to end on the business database: large-value report (both thresholds, same-day
cumulative), sanctions holds (Latin and Chinese), four-eyes release and block, expiry at the
settlement cutoff, structuring. Expected values are worked out by hand in the comments."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime

import pytest
from tests.settlement_seed import (
    DAY,
    RIC,
    USCC,
    assert_balanced,
    execute,
    pay,
    query,
    seed_file,
    write_profile,
)

from daybook import aml, csvsafe, settlement

pytestmark = pytest.mark.integration
RIC2 = "110105194912310037"
USCC2 = "91110000100000000X"


def _state(url, no):
    return query(url, "SELECT state, final_code FROM records WHERE business_no = :n", n=no)[0]


def test_large_value_report_thresholds_and_same_day_cumulative(business_db, zones, tmp_path, monkeypatch):
    write_profile(tmp_path / "p", monkeypatch, "LVRC", "100000000.00")
    nos = seed_file(
        business_db,
        "LVRC",
        [
            pay(50_000_000, payer_id=RIC),  # RIC 500,000.00 single: reported (at the threshold)
            pay(49_999_999, payer_id=RIC2),  # RIC 499,999.99: not reported
            pay(200_000_000, payer_type="USCC", payer_id=USCC, payer="甲公司"),  # USCC 2,000,000.00
            pay(199_999_999, payer_type="USCC", payer_id=USCC2, payer="乙公司"),  # USCC just below
            pay(30_000_000, payer_id="RICCUM1"),  # 300,000.00 +
            pay(20_000_000, payer_id="RICCUM1"),  # 200,000.00 = 500,000.00 same day: reported
            pay(30_000_000, payer_id="RICCUM2"),  # 300,000.00 +
            pay(19_999_999, payer_id="RICCUM2"),  # 199,999.99 = 499,999.99: not reported
        ],
    )
    settlement.post_ledger(DAY)
    [key] = aml.large_value_report(DAY)
    rows = list(csv.reader(io.StringIO((zones["outputs"] / key).read_text(encoding="utf-8"))))
    assert rows[0][:4] == ["payer_id_type", "payer_id_no", "payer_total", "business_no"]
    got = [(r[0], r[1], r[2], r[3], r[10]) for r in rows[1:]]
    assert got == [
        ("RIC", RIC, "500000.00", nos[0], "500000.00"),
        ("RIC", "RICCUM1", "500000.00", nos[4], "300000.00"),
        ("RIC", "RICCUM1", "500000.00", nos[5], "200000.00"),
        ("USCC", USCC, "2000000.00", nos[2], "2000000.00"),
    ]
    assert sorted(query(business_db, "SELECT payer_id_no, payments, total_cents FROM aml_large_value")) == [
        (RIC, 1, 50_000_000),
        (USCC, 1, 200_000_000),
        ("RICCUM1", 2, 50_000_000),
    ]
    # A report does not stop the payment.
    assert {_state(business_db, n)[0] for n in nos} == {"SETTLED"}
    first = (zones["outputs"] / key).read_bytes()
    aml.large_value_report(DAY)
    assert (zones["outputs"] / key).read_bytes() == first


def test_sanctions_hits_are_held_and_not_settled(business_db, tmp_path, monkeypatch):
    write_profile(tmp_path / "p", monkeypatch, "SANC", "100000000.00")
    nos = seed_file(
        business_db,
        "SANC",
        [
            pay(10_000, payee="TESTENKO, Boris Quentin"),  # Latin, order and case differ
            pay(10_000, payer="欧阳 测试"),  # Chinese with a space
            pay(10_000, payee="Boris Johnson"),
            pay(10_000, payer="王芳", payee="张伟"),
        ],
    )
    assert aml.screen(DAY) == {"SANCTIONS": 2, "STRUCTURING": 0}
    assert [_state(business_db, n)[0] for n in nos] == ["AML_HOLD", "AML_HOLD", "APPROVED", "APPROVED"]
    cases = aml.list_cases(DAY)
    assert [(c["business_no"], c["rule"], c["status"]) for c in cases] == [
        (nos[0], "SANCTIONS", "OPEN"),
        (nos[1], "SANCTIONS", "OPEN"),
    ]
    assert "S-0001" in cases[0]["detail"] and "S-0005" in cases[1]["detail"]
    assert query(business_db, "SELECT kind, severity FROM alert_events") == [("AML_HOLD", "warning")]
    settlement.post_ledger(DAY)
    assert [_state(business_db, n)[0] for n in nos] == ["AML_HOLD", "AML_HOLD", "SETTLED", "SETTLED"]
    assert query(business_db, "SELECT COUNT(*) FROM ledger_entries") == [(4,)]
    assert aml.screen(DAY) == {"SANCTIONS": 0, "STRUCTURING": 0}  # idempotent


def test_release_needs_two_distinct_people_then_settles(business_db, tmp_path, monkeypatch):
    write_profile(tmp_path / "p", monkeypatch, "RELC", "100000000.00")
    [no] = seed_file(business_db, "RELC", [pay(12_345, payee="Jean-Luc Exemplaire")])
    aml.screen(DAY)
    assert aml.release(no, "alice", "name match only, DOB differs") == "OPEN"
    with pytest.raises(aml.AmlError):
        aml.release(no, "alice")  # the same person twice is not four eyes
    assert _state(business_db, no) == ("AML_HOLD", None)
    assert aml.release(no, "bob") == "RELEASED"
    assert _state(business_db, no) == ("APPROVED", None)
    with pytest.raises(aml.AmlError):
        aml.block(no, "carol")  # decided cases stay decided
    aml.screen(DAY)  # a released payment is not held again
    settlement.post_ledger(DAY)
    assert _state(business_db, no) == ("SETTLED", None)
    assert query(business_db, "SELECT SUM(amount_cents) FROM ledger_entries WHERE leg = 'D'") == [(12_345,)]
    assert_balanced(business_db)


def test_block_needs_two_agreeing_people(business_db, tmp_path, monkeypatch):
    write_profile(tmp_path / "p", monkeypatch, "BLKC", "100000000.00")
    [no] = seed_file(business_db, "BLKC", [pay(50_000, payer="虚构远洋贸易有限公司", payer_type="USCC")])
    aml.screen(DAY)
    assert aml.block(no, "alice") == "OPEN"
    assert aml.release(no, "bob") == "OPEN"  # disagreement: still open
    assert aml.block(no, "carol") == "BLOCKED"
    assert _state(business_db, no) == ("RETURNED", "M_AML_HOLD")
    settlement.post_ledger(DAY)
    assert query(business_db, "SELECT COUNT(*) FROM ledger_entries") == [(0,)]
    assert [d["decided_by"] for d in aml.list_cases(DAY, status=None)[0]["decisions"]] == [
        "alice",
        "bob",
        "carol",
    ]


def test_open_hold_expires_at_the_settlement_cutoff(business_db, tmp_path, monkeypatch):
    write_profile(tmp_path / "p", monkeypatch, "EXPC", "100000000.00")  # settlement cutoff 19:00
    [no] = seed_file(business_db, "EXPC", [pay(10_000, payee="Amara O'Fictio-Nwosu")])
    aml.screen(DAY)
    assert aml.expire_holds(DAY, now=datetime(2026, 11, 27, 18, 59, tzinfo=aml.BUSINESS_TZ)) == 0
    assert _state(business_db, no) == ("AML_HOLD", None)
    assert aml.expire_holds(DAY, now=datetime(2026, 11, 27, 19, 0, tzinfo=aml.BUSINESS_TZ)) == 1
    assert query(
        business_db, "SELECT state, final_code, final_date FROM records WHERE business_no = :n", n=no
    ) == [("RETURNED", "M_AML_HOLD", DAY)]
    with pytest.raises(aml.AmlError):
        aml.release(no, "alice")


def test_structuring_just_below_the_threshold_within_the_window(business_db, tmp_path, monkeypatch):
    write_profile(tmp_path / "p", monkeypatch, "STRC", "100000000.00")
    # Window 5 days back from 27 Nov: 23..27 Nov. Band 10% below RMB 500,000: [450,000, 500,000).
    seed_file(
        business_db,
        "STRC",
        [pay(48_000_000, payer_id="RICSTR")],
        seq="001",
        day="2026-11-25",
        state="SETTLED",
    )
    seed_file(
        business_db,
        "STRC",
        [pay(45_000_000, payer_id="RICSTR")],
        seq="001",
        day="2026-11-26",
        state="SETTLED",
    )
    # Outside the window (22 Nov) and below the band do not count for RICOTHER.
    seed_file(
        business_db,
        "STRC",
        [pay(49_000_000, payer_id="RICOTHER")],
        seq="001",
        day="2026-11-22",
        state="SETTLED",
    )
    today = seed_file(
        business_db,
        "STRC",
        [
            pay(49_999_999, payer_id="RICSTR"),  # third within 5 days: held
            pay(10_000, payer_id="RICSTR"),  # not near the threshold: not held
            pay(49_000_000, payer_id="RICOTHER"),  # with 26 Nov below the band: only 2 in window
            pay(44_999_999, payer_id="RICOTHER"),  # 449,999.99: below the band
            pay(49_000_000, payer_id="RICOTHER"),
        ],
    )
    assert aml.screen(DAY) == {"SANCTIONS": 0, "STRUCTURING": 1}
    assert [_state(business_db, n)[0] for n in today] == [
        "AML_HOLD",
        "APPROVED",
        "APPROVED",
        "APPROVED",
        "APPROVED",
    ]
    alerts = query(business_db, "SELECT kind, severity, message FROM alert_events")
    assert len(alerts) == 1 and alerts[0][:2] == ("AML_HOLD", "warning")
    assert "3 payments of payer RIC RICSTR" in alerts[0][2]


def test_cli_lists_and_decides_with_four_eyes(business_db, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from daybook.cli import main

    write_profile(tmp_path / "p", monkeypatch, "CLIC", "100000000.00")
    [no] = seed_file(business_db, "CLIC", [pay(10_000, payee="Northwind Shadow Trading LLC")])
    aml.screen(DAY)
    runner = CliRunner()
    listed = runner.invoke(main, ["aml", "list", "--date", DAY])
    assert listed.exit_code == 0 and no in listed.output and "SANCTIONS" in listed.output
    assert runner.invoke(main, ["aml", "release", no, "--user", "alice"]).exit_code == 0
    again = runner.invoke(main, ["aml", "release", no, "--user", "alice"])
    assert again.exit_code != 0 and "four-eyes" in again.output
    done = runner.invoke(main, ["aml", "release", no, "--user", "bob"])
    assert done.exit_code == 0 and "RELEASED" in done.output
    assert _state(business_db, no) == ("APPROVED", None)


@pytest.mark.parametrize("written", ["before V016", "since V016"])
def test_large_value_report_is_the_row_by_row_reading_of_the_day(
    business_db, zones, tmp_path, monkeypatch, written
):
    """The report equals what a row-by-row reading of the settled payments gives (payload parsed
    in Python, payers summed, sorted by code point, every cell through csvsafe.cell), with names
    that need quoting or neutralizing and payer ids whose code-point order differs from a
    locale's (lower case after upper case, a hyphen). The rows are read in batches of a few rows
    (cursor on SQLite, COPY blocks on PostgreSQL), so a payer's rows span batches; the payers
    recorded in aml_large_value are the same sums.

    A payment's payer id type and number and its value date are the record's columns when
    validation wrote them (since V016 and V013), else the payload's. "since V016": the first
    file's records have the columns and their payloads lack those fields (so only the columns can
    give them), the second file's are as written before."""
    from daybook import archive, clearing

    monkeypatch.setattr(clearing, "FETCH_ROWS", 7)
    monkeypatch.setattr(archive, "FETCH_ROWS", 1)
    monkeypatch.setattr(archive, "CHUNK_BYTES", 2048)
    write_profile(tmp_path / "p", monkeypatch, "LVRO", "100000000000.00")
    hostile = [
        '=HYPERLINK("x")',
        "+1 555",
        "-12.50",
        "@SUM(A1)",
        'a "quoted", name',
        "两行\n名字",
        "\tTAB",
        "CR\rinside",
        "back\\slash\\n",
        "",
        "\rCR first",
    ]
    rows = []
    for i in range(60):
        payer_id = ["b-1", "B2", "a1", "Ä9", RIC, "zz", "-3"][i % 7]
        rows.append(
            pay(
                10_000_000 + 1_234 * i,
                payer=hostile[i % len(hostile)],
                payee=hostile[(i + 3) % len(hostile)],
                payer_type="RIC" if i % 3 else "USCC",
                payer_id=payer_id,
            )
        )
    first = seed_file(business_db, "LVRO", rows[:30])
    seed_file(business_db, "LVRO", rows[30:], seq="002")
    if written == "since V016":
        for no, payload in query(business_db, "SELECT business_no, payload FROM records"):
            if no in first:
                p = json.loads(payload)
                moved = {k: p.pop(k) for k in ("payer_id_type", "payer_id_no", "value_date")}
                execute(
                    business_db,
                    "UPDATE records SET payer_id_type = :t, payer_id_no = :n, value_date = :v,"
                    " payload = :p WHERE business_no = :b",
                    t=moved["payer_id_type"],
                    n=moved["payer_id_no"],
                    v=moved["value_date"],
                    p=json.dumps(p, ensure_ascii=False),
                    b=no,
                )
    settlement.post_ledger(DAY)
    [key] = aml.large_value_report(DAY)

    settled = query(
        business_db,
        "SELECT business_no, client_ref, amount_cents, currency, payload, payer_id_type, payer_id_no,"
        " value_date FROM records WHERE client_id = 'LVRO' AND state = 'SETTLED' AND file_type = 'PAY'",
    )
    assert len(settled) == 60

    def read(payload, id_type, id_no, value_date):
        """The payload's fields, with the record's columns where it has them."""
        p = json.loads(payload)
        for k, v in (("payer_id_type", id_type), ("payer_id_no", id_no), ("value_date", value_date)):
            if v is not None:
                p[k] = v
        return p

    settled = [(no, ref, cents, cur, read(*rest)) for no, ref, cents, cur, *rest in settled]
    totals: dict[tuple[str, str], int] = {}
    for _no, _ref, cents, _cur, p in settled:
        who = (p["payer_id_type"], p["payer_id_no"])
        totals[who] = totals.get(who, 0) + cents
    # Thresholds of the default rules: 500,000.00 for RIC, 2,000,000.00 for other id types.
    reported = {w: c for w, c in totals.items() if c >= (50_000_000 if w[0] == "RIC" else 200_000_000)}
    assert reported and len(reported) < len(totals)

    def money(cents: int) -> str:
        return f"{cents // 100}.{cents % 100:02d}"

    expected_rows = []
    for no, ref, cents, cur, p in settled:
        who = (p["payer_id_type"], p["payer_id_no"])
        if who in reported:
            expected_rows.append(
                [*who, money(reported[who]), no, ref, p["value_date"], p["payer_name"], p["payee_name"]]
                + [p["payee_account"], p["payee_bank_code"], money(cents), cur]
            )
    expected_rows.sort(key=lambda r: (r[0], r[1], r[3]))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(aml.LVR_HEADER)
    writer.writerows([csvsafe.cell(v) for v in r] for r in expected_rows)
    assert (zones["outputs"] / key).read_bytes() == buf.getvalue().encode("utf-8")
    counts: dict[tuple[str, str], int] = {}
    for r in expected_rows:
        counts[(r[0], r[1])] = counts.get((r[0], r[1]), 0) + 1
    assert sorted(
        query(business_db, "SELECT payer_id_type, payer_id_no, payments, total_cents FROM aml_large_value")
    ) == sorted((*who, counts[who], cents) for who, cents in reported.items())
