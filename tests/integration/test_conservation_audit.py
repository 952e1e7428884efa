"""`daybook audit --date D`: every row of every file in exactly one final state, or a finding."""

from __future__ import annotations

import sqlalchemy
from click.testing import CliRunner

from daybook.cli import main

DAY = "2026-11-27"


def _file(conn, file_id, name, status, record_count, reason=None):
    conn.execute(
        sqlalchemy.text(
            "INSERT INTO files (file_id, folder, name, stem, client_id, file_type, business_date, seq, intake_date,"
            " sha256, size_bytes, raw_key, status, reason_code, record_count)"
            " VALUES (:id, 'BANKA', :name, :stem, 'BANKA', 'PAY', :d, :seq, :d, :sha, 10, 'k', :status, :reason, :n)"
        ),
        {
            "id": file_id,
            "name": name,
            "stem": name[:-4],
            "d": DAY,
            "seq": f"{file_id:03d}",
            "sha": f"{file_id:064x}",
            "status": status,
            "reason": reason,
            "n": record_count,
        },
    )


def _record(conn, file_id, line, state, ack="ACCEPTED"):
    conn.execute(
        sqlalchemy.text(
            "INSERT INTO records (business_no, file_id, client_id, file_type, business_date, line_no, client_ref,"
            " ack_status, state, payload) VALUES (:no, :f, 'BANKA', 'PAY', :d, :line, :ref, :ack, :state, '{}')"
        ),
        {
            "no": f"BANKA-PAY-20261127-{file_id:03d}-{line:06d}",
            "f": file_id,
            "d": DAY,
            "line": line,
            "ref": f"R{file_id}-{line}",
            "ack": ack,
            "state": state,
        },
    )


def test_audit_passes_a_conserved_day_and_names_each_break(business_db):
    eng = sqlalchemy.create_engine(business_db)
    with eng.begin() as conn:
        _file(conn, 1, "BANKA_PAY_20261127_001.csv", "COMPLETED", 3)
        _record(conn, 1, 1, "SETTLED")
        _record(conn, 1, 2, "RETURNED")
        _record(conn, 1, 3, "REJECTED", ack="REJECTED")
        _file(conn, 2, "BANKA_PAY_20261127_002.csv", "REJECTED", 5, reason="F_TOTAL")
    runner = CliRunner()
    ok = runner.invoke(main, ["audit", "--date", DAY])
    assert ok.exit_code == 0, ok.output
    assert "2 files, 0 with problems" in ok.output

    with eng.begin() as conn:
        # A row left in a non-final state, a row lost from a completed file, a refused file with a row.
        _file(conn, 3, "BANKA_PAY_20261127_003.csv", "COMPLETED", 2)
        _record(conn, 3, 1, "APPROVED")
        _file(conn, 4, "BANKA_PAY_20261127_004.csv", "COMPLETED", 2)
        _record(conn, 4, 1, "SETTLED")
        _file(conn, 5, "BANKA_PAY_20261127_005.csv", "REJECTED", 1, reason="F_ERROR_RATE")
        _record(conn, 5, 1, "REJECTED", ack="REJECTED")
    eng.dispose()
    bad = runner.invoke(main, ["audit", "--date", DAY])
    assert bad.exit_code == 1
    assert "5 files, 3 with problems" in bad.output
    assert "1 rows are not in a final state" in bad.output
    assert "control file declares 2 rows, 1 were published" in bad.output
    assert "refused file has 1 published rows" in bad.output
