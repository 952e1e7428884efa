"""A whole sample business day leaves no unmasked identity, card, account or phone number in
what people read: task logs, alert texts, reports and KPI pages.

Task logs: ``dag.test()`` runs the tasks in this process, so their log records are captured
here (root logger at INFO, and stdout/stderr); task log files under AIRFLOW_HOME/logs are
scanned too where they exist. The numbers looked for are the ones that occur in the day's input rows, read back from the raw
zone (exact bytes as dropped), so the scan looks for real data and not for a pattern the masking
code also uses. The scanner is first shown to find a planted number (it can fail).

Not scanned, because they legitimately carry full numbers: the client's own return files
(landing outbox: .ack.csv, .ret.csv, .rej), the raw zone and the archive (the client's data,
encrypted at rest), the large-value transaction report under outputs/aml/ (a regulatory
filing that must name accounts and identity numbers in full) and the outbound clearing file
under outputs/clearing/ (an instruction file for the clearing system, which needs the full
account numbers to move the money); see docs/security.md.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy

from daybook import sample
from daybook.runner import run_day
from daybook.storage import LocalStore
from pii_scan import numbers_in_csv, scan

pytestmark = pytest.mark.integration
DAY = date(2026, 11, 27)
# Machine files that carry full numbers by design (module docstring): the regulatory
# large-value report and the outbound clearing file for the clearing system.
EXEMPT_OUTPUTS = ("aml/", "clearing/")


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("gb18030")


def input_numbers(raw_root: Path) -> set[str]:
    """Every value of a PII column in every data file of the raw zone (8 characters or more)."""
    found: set[str] = set()
    for path in raw_root.rglob("*.csv"):
        found |= numbers_in_csv(_decode(path.read_bytes()))
    return found


def files_under(root: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and not rel.startswith(skip):
            out[f"{root.name}/{rel}"] = path.read_bytes().decode("utf-8", errors="replace")
    return out


def test_scanner_finds_a_planted_number():
    planted = "6222020200112233445"
    texts = {"a.log": f"paying to card {planted} now", "b.log": "paying to card 622202*********3445"}
    assert scan(texts, {planted, "110101199003071234"}) == [("a.log", planted)]


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_demo_day_leaves_no_unmasked_number_in_logs_alerts_or_reports_and_its_audit_verifies(
    backend, business_db, zones, airflow_db, monkeypatch, caplog, capfd
):
    from click.testing import CliRunner

    from daybook import crypto, kpi
    from daybook.cli import main

    monkeypatch.setenv("DAYBOOK_DEMO_APPROVER", "test.reviewer.a,test.reviewer.b")
    monkeypatch.setenv("AIRFLOW_CONN_DAYBOOK_ARCHIVE_KEY", crypto.connection_env_value(crypto.generate_key()))
    sample.generate_day(LocalStore(str(zones["landing"])), DAY)
    # Everything the tasks log at INFO and above (dag.test runs them in this process), plus what
    # they print: the same records a worker writes to its task log files.
    monkeypatch.setenv("AIRFLOW__LOGGING__LOGGING_LEVEL", "INFO")
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.INFO, logger="daybook")
    states = run_day(DAY.isoformat())
    assert set(states.values()) == {"success"}, states
    printed = capfd.readouterr()
    logged = "\n".join(caplog.text.splitlines() + [printed.out, printed.err])
    kpi.write_daily_report(DAY.isoformat())
    kpi.write_monthly_report(DAY.isoformat()[:7])
    kpi_page = kpi.render_daily_html(DAY.isoformat())

    numbers = input_numbers(zones["raw"])
    assert len(numbers) > 50  # the sample day has real PII to leak

    # The capture holds the tasks' own records (intake logs each file it answers).
    assert "BANKA_PAY_20261127_001" in logged and "approval routing" in logged
    texts = {"task logs (captured)": logged}
    texts |= files_under(Path(os.environ["AIRFLOW_HOME"]) / "logs")  # task log files, where written
    texts |= files_under(zones["outputs"], skip=EXEMPT_OUTPUTS)
    exempt = [
        p.name for prefix in EXEMPT_OUTPUTS for p in (zones["outputs"] / prefix).rglob("*") if p.is_file()
    ]
    assert all("_LVR_" in n or "_CLR_" in n for n in exempt), exempt  # the exemption hides nothing else
    texts["kpi page"] = kpi_page
    eng = sqlalchemy.create_engine(business_db)
    with eng.connect() as conn:
        for r in conn.execute(sqlalchemy.text("SELECT dedup_key, kind, message, details FROM alert_events")):
            texts[f"alert {r.dedup_key}"] = f"{r.kind} {r.message} {r.details}"
    eng.dispose()
    assert any(k.startswith("alert ") for k in texts)

    # The scan can fail on this very material: a planted unmasked number in a log is found.
    planted = sorted(numbers)[0]
    assert ("planted.log", planted) in scan({**texts, "planted.log": f"x {planted} y"}, numbers)

    hits = scan(texts, numbers)
    where = sorted({w for w, _ in hits})
    assert hits == [], f"{len(hits)} unmasked numbers in {len(where)} places:\n" + "\n".join(where)

    # The same normal day's audit trail verifies clean, archive anchors included.
    result = CliRunner().invoke(main, ["audit", "verify"])
    assert result.exit_code == 0, result.output
    anchors = sorted((zones["archive"] / "_audit_anchors").rglob("*.json"))
    assert {p.parent.name for p in anchors} == {"BANKA", "TRUSTB"}
    assert all(json.loads(p.read_text())["events"] > 0 for p in anchors)
    assert f"{len(anchors)} anchors checked, 0 broken" in result.output
