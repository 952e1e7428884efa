"""Replay's comparison: any byte of a return file or any ledger posting that differs is reported;
ledger ids and posting times are not meaning and are ignored."""

from __future__ import annotations

from daybook.replay import ReplayReport, compare

RET = b"client_ref,business_no,status,reason_code,amount,final_date\nR1,N1,SETTLED,,10.00,2026-11-27\n"
LEDGER_A = (
    b"entry_id,business_no,leg,client_id,business_date,account,amount_cents,posted_at\n"
    b"7,N1,C,BANKA,2026-11-27,BANKA:PAYEE,1000,2026-11-27 10:00:00\n"
    b"6,N1,D,BANKA,2026-11-27,BANKA:PREFUND,1000,2026-11-27 10:00:00\n"
)
LEDGER_B = (  # same postings, other ids, other times, other order
    b"entry_id,business_no,leg,client_id,business_date,account,amount_cents,posted_at\n"
    b"1,N1,D,BANKA,2026-11-27,BANKA:PREFUND,1000,2031-01-01 08:00:00\n"
    b"2,N1,C,BANKA,2026-11-27,BANKA:PAYEE,1000,2031-01-01 08:00:00\n"
)


def _report() -> ReplayReport:
    return ReplayReport("BANKA", "2026-11-27")


def test_identical_returns_and_equivalent_ledger_match():
    r = compare(
        {"returns/a.ret.csv": RET, "ledger.csv": LEDGER_A},
        {"returns/a.ret.csv": RET, "ledger.csv": LEDGER_B},
        _report(),
    )
    assert r.ok and r.compared == 2


def test_one_changed_byte_in_a_return_file_is_a_difference():
    changed = RET.replace(b"10.00", b"10.01")
    r = compare(
        {"returns/a.ret.csv": RET, "ledger.csv": LEDGER_A},
        {"returns/a.ret.csv": changed, "ledger.csv": LEDGER_A},
        _report(),
    )
    assert not r.ok and r.differences[0].startswith("returns/a.ret.csv: bytes differ (line 2")


def test_a_missing_or_extra_return_file_is_a_difference():
    r = compare(
        {"returns/a.rej": b"F_TOTAL|x\n", "ledger.csv": LEDGER_A},
        {"returns/b.rej": b"F_TOTAL|x\n", "ledger.csv": LEDGER_A},
        _report(),
    )
    assert sorted(r.differences) == [
        "returns/a.rej: archived, not produced by the replay",
        "returns/b.rej: produced by the replay, not in the archive",
    ]


def test_a_different_ledger_amount_is_a_difference():
    r = compare(
        {"ledger.csv": LEDGER_A}, {"ledger.csv": LEDGER_A.replace(b",1000,", b",1001,", 1)}, _report()
    )
    assert r.differences == ["ledger.csv: postings differ"]
