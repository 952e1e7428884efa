"""`daybook approvals` applies the same roles and four-eyes rules as the API."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from approval_seed import DAY, pay, query, seed_file, write_profiles
from daybook import approval
from daybook.cli import main

pytestmark = pytest.mark.integration


def test_cli_refuses_wrong_role_and_second_decision_and_lists_with_filters(
    business_db, tmp_path, monkeypatch
):
    write_profiles(tmp_path / "profiles", monkeypatch, "BANKX")
    roles = tmp_path / "roles.yaml"
    roles.write_text("users:\n  li.wei: [approver]\n  audit.chen: [auditor]\n")
    monkeypatch.setenv("DAYBOOK_ROLES", str(roles))
    _, (small, big) = seed_file(business_db, "BANKX", "PAY", [pay(6_000_000), pay(150_000_000)])
    approval.assess(DAY)  # 60000.00 -> L1, 1500000.00 -> L2
    run = CliRunner().invoke
    listed = run(main, ["approvals", "list", "--date", DAY, "--tier", "L2"])
    assert listed.exit_code == 0 and big in listed.output and small not in listed.output
    assert run(main, ["approvals", "approve", small, "--user", "audit.chen"]).exit_code == 1
    assert run(main, ["approvals", "approve", big, "--user", "li.wei", "--opinion", "ok"]).output.strip() == (
        "PENDING_APPROVAL"
    )
    again = run(main, ["approvals", "approve", big, "--user", "li.wei"])
    assert again.exit_code == 1 and "already decided" in again.output
    assert query(business_db, "SELECT business_no, decided_by FROM approvals") == [(big, "li.wei")]
