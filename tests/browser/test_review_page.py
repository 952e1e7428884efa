"""The review page in the real Airflow UI, driven by a real Chromium.

A local Airflow API server (its own AIRFLOW_HOME, this repo's plugins, the simple auth
manager with a reviewer user) serves a business database with four records waiting for one
reviewer. Chromium logs in through Airflow's login page, opens Browse > Approval queue,
approves one record, declines another with an opinion, then ticks the last two and approves
them together; the database must show exactly that.
"""

from __future__ import annotations

import pytest

from approval_seed import DAY, pay, query, seed_file, write_profiles

pytestmark = [pytest.mark.browser, pytest.mark.integration]
ROLES = "users:\n  li.wei: [approver]\n"


@pytest.fixture
def airflow_ui(airflow_api_server, tmp_path, monkeypatch):
    """A business DB with waiting records and an Airflow API server showing them; (url, db, nos)."""
    from daybook import approval, db

    url = f"sqlite:///{tmp_path / 'business.db'}"
    monkeypatch.setenv("DAYBOOK_DB_URL", url)
    profiles = write_profiles(tmp_path / "profiles", monkeypatch, "BANKX")
    db.migrate()
    # 60000.00 .. 90000.00: above the 50000.00 automatic limit, one reviewer each (L1).
    _, numbers = seed_file(
        url, "BANKX", "PAY", [pay(6_000_000), pay(7_000_000), pay(8_000_000), pay(9_000_000)]
    )
    approval.assess(DAY)
    roles = tmp_path / "roles.yaml"
    roles.write_text(ROLES)
    base = airflow_api_server(
        users={"li.wei": ("viewer", "review-pw")},
        env={"DAYBOOK_DB_URL": url, "DAYBOOK_PROFILES": str(profiles), "DAYBOOK_ROLES": str(roles)},
    )
    return base, url, numbers


def test_reviewer_approves_and_declines_in_the_airflow_ui(airflow_ui, chromium, log_in):
    from playwright.sync_api import expect

    base, url, (first, second, third, fourth) = airflow_ui
    page = chromium.new_page()
    page.set_default_timeout(30_000)
    log_in(page, base, "li.wei", "review-pw")

    page.get_by_role("button", name="Browse").click()
    page.get_by_role("menuitem", name="Approval queue").click()
    page.wait_for_url("**/plugin/daybook_approvals")
    review = page.frame_locator("iframe")
    expect(review.locator("#who")).to_contain_text("li.wei")
    expect(review.locator("#queue tbody tr.item")).to_have_count(4)

    review.locator(f"tr[data-business-no='{first}']").click()
    expect(review.locator("#d-title")).to_contain_text(first)
    review.locator("#opinion").fill("payee and amount checked")
    review.locator("#approve").click()
    expect(review.locator("#message")).to_contain_text(f"APPROVE {first} by li.wei: now APPROVED")

    review.locator(f"tr[data-business-no='{second}']").click()
    expect(review.locator("#d-title")).to_contain_text(second)
    review.locator("#decline").click()  # no opinion yet: the page refuses
    expect(review.locator("#message")).to_contain_text("needs an opinion")
    review.locator("#opinion").fill("payee name does not match the account")
    review.locator("#decline").click()
    expect(review.locator("#message")).to_contain_text(f"DECLINE {second} by li.wei: now RETURNED")
    expect(review.locator("#queue tbody tr.item")).to_have_count(2)

    # Approve selected: tick both remaining rows (ticking does not open the record).
    review.locator(f"tr[data-business-no='{third}'] input.pick").check()
    review.locator(f"tr[data-business-no='{fourth}'] input.pick").check()
    expect(review.locator("#d-title")).to_contain_text(second)
    review.locator("#batch-opinion").fill("routine amounts, payees known")
    review.locator("#approve-selected").click()
    expect(review.locator("#message")).to_contain_text("APPROVE by li.wei: 2 decided")
    expect(review.locator("#queue tbody")).to_contain_text("nothing waiting")

    assert query(
        url, "SELECT business_no, level, decision, decided_by, opinion FROM approvals ORDER BY approval_id"
    ) == [
        (first, 1, "APPROVE", "li.wei", "payee and amount checked"),
        (second, 1, "DECLINE", "li.wei", "payee name does not match the account"),
        (third, 1, "APPROVE", "li.wei", "routine amounts, payees known"),
        (fourth, 1, "APPROVE", "li.wei", "routine amounts, payees known"),
    ]
    assert query(url, "SELECT business_no, state, final_code FROM records ORDER BY business_no") == [
        (first, "APPROVED", None),
        (second, "RETURNED", "A_DECLINED"),
        (third, "APPROVED", None),
        (fourth, "APPROVED", None),
    ]
