"""The approval REST API enforces roles and four-eyes for every caller (SQLite and PostgreSQL).

The caller's identity is stubbed per request here (header ``X-Test-User``) so each refusal can
be shown for a named person; ``test_identity_is_the_airflow_jwt_user`` runs the real Airflow
API server app with its real login to show where the identity comes from in production.
"""

from __future__ import annotations

import pytest
from fastapi import Request
from fastapi.testclient import TestClient

from approval_seed import DAY, loan, pay, query, seed_file, write_profiles
from daybook import approval, approval_api

pytestmark = pytest.mark.integration

ROLES = """\
users:
  op.zhang: [operator]
  op.both: [operator, approver]
  li.wei: [approver]
  wang.fang: [approver]
  audit.chen: [auditor]
  boss: [admin]
"""


@pytest.fixture
def api(business_db, tmp_path, monkeypatch):
    write_profiles(tmp_path / "profiles", monkeypatch, "BANKX")
    roles = tmp_path / "roles.yaml"
    roles.write_text(ROLES, encoding="utf-8")
    monkeypatch.setenv("DAYBOOK_ROLES", str(roles))
    # 60000.00 -> L1; 1500000.00 -> L2; 70000.00 -> L1 (auto limit 50000, two reviewers from 1000000)
    file_id, numbers = seed_file(
        business_db, "BANKX", "PAY", [pay(6_000_000), pay(150_000_000), pay(7_000_000)]
    )
    approval.assess(DAY)
    app = approval_api.create_app()

    def stub_user(request: Request) -> str:
        return request.headers["X-Test-User"]

    app.dependency_overrides[approval_api.current_username] = stub_user
    client = TestClient(app)

    def call(method: str, path: str, user: str, **kw):
        return client.request(method, path, headers={"X-Test-User": user}, **kw)

    return call, file_id, numbers, business_db


def _approvals(url):
    return query(url, "SELECT business_no, level, decision, decided_by FROM approvals ORDER BY approval_id")


def test_list_and_filter_pending_then_open_one_with_its_facts(api):
    call, file_id, (l1, l2, l1b), _ = api
    everything = call("GET", "/api/pending", "audit.chen")
    assert everything.status_code == 200
    assert [i["business_no"] for i in everything.json()] == [l1, l2, l1b]
    assert [i["business_no"] for i in call("GET", "/api/pending?tier=L2", "li.wei").json()] == [l2]
    by_amount = call("GET", "/api/pending?min_amount=60000.00&max_amount=65000", "li.wei").json()
    assert [i["business_no"] for i in by_amount] == [l1]
    assert call("GET", f"/api/pending?client_id=OTHER&business_date={DAY}", "li.wei").json() == []
    assert call("GET", "/api/pending?min_amount=1.234", "li.wei").status_code == 422
    one = call("GET", f"/api/records/{l2}", "audit.chen").json()
    assert one["tier"] == "L2" and one["levels_needed"] == 2
    assert one["validation"]["ack_status"] == "ACCEPTED" and one["validation"]["file_id"] == file_id
    assert one["risk"]["two_reviewers_from_cents"] == 100_000_000
    assert call("GET", "/api/records/NOPE-1", "li.wei").status_code == 404


def test_wrong_role_is_403_and_changes_nothing(api):
    call, file_id, (l1, _, _), url = api
    assert call("POST", f"/api/records/{l1}/approve", "audit.chen", json={"opinion": ""}).status_code == 403
    assert call("POST", f"/api/records/{l1}/decline", "op.zhang", json={"opinion": "no"}).status_code == 403
    assert call("POST", f"/api/records/{l1}/approve", "stranger", json={}).status_code == 403
    assert call("GET", "/api/pending", "stranger").status_code == 403
    assert call("POST", f"/api/files/{file_id}/submit", "li.wei").status_code == 403
    assert call("POST", f"/api/files/{file_id}/submit", "audit.chen").status_code == 403
    assert _approvals(url) == []
    assert query(url, "SELECT COUNT(*) FROM approval_submissions") == [(0,)]


def test_self_approval_is_refused(api):
    """A person with both roles submits a file and then tries to approve a record of it."""
    call, file_id, (l1, _, _), url = api
    assert call("POST", f"/api/files/{file_id}/submit", "op.both").status_code == 200
    refused = call("POST", f"/api/records/{l1}/approve", "op.both", json={"opinion": "fine"})
    assert refused.status_code == 403
    assert "maker" in refused.json()["detail"]
    assert _approvals(url) == []


def test_maker_is_never_the_checker_even_at_the_second_level(api):
    call, file_id, (_, l2, _), url = api
    assert call("POST", f"/api/files/{file_id}/submit", "boss").status_code == 200
    assert call("POST", f"/api/records/{l2}/approve", "li.wei", json={"opinion": "ok"}).json()["state"] == (
        "PENDING_APPROVAL"
    )
    assert call("POST", f"/api/records/{l2}/approve", "boss", json={"opinion": "ok"}).status_code == 403
    assert _approvals(url) == [(l2, 1, "APPROVE", "li.wei")]
    # A decider cannot become the maker afterwards either.
    assert call("POST", f"/api/files/{file_id}/submit", "li.wei").status_code == 403


def test_nobody_decides_twice_and_the_second_level_is_another_person(api):
    call, _, (l1, l2, _), url = api
    assert call("POST", f"/api/records/{l2}/approve", "li.wei", json={"opinion": "ok"}).status_code == 200
    again = call("POST", f"/api/records/{l2}/approve", "li.wei", json={"opinion": "really ok"})
    assert again.status_code == 403
    decline_too = call("POST", f"/api/records/{l2}/decline", "li.wei", json={"opinion": "changed my mind"})
    assert decline_too.status_code == 403
    second = call("POST", f"/api/records/{l2}/approve", "wang.fang", json={"opinion": "ok"})
    assert second.status_code == 200 and second.json()["state"] == "APPROVED"
    # Decided: a third person gets 409, not a third level.
    assert call("POST", f"/api/records/{l2}/approve", "boss", json={"opinion": ""}).status_code == 409
    # A single-level record is final after one decision.
    assert call("POST", f"/api/records/{l1}/approve", "li.wei", json={}).json()["state"] == "APPROVED"
    assert call("POST", f"/api/records/{l1}/approve", "wang.fang", json={}).status_code == 409
    assert _approvals(url) == [
        (l2, 1, "APPROVE", "li.wei"),
        (l2, 2, "APPROVE", "wang.fang"),
        (l1, 1, "APPROVE", "li.wei"),
    ]


def test_decline_needs_an_opinion_and_is_final_with_a_declined(api):
    call, _, (_, _, l1b), url = api
    assert call("POST", f"/api/records/{l1b}/decline", "li.wei", json={"opinion": "  "}).status_code == 422
    ok = call("POST", f"/api/records/{l1b}/decline", "li.wei", json={"opinion": "payee name mismatch"})
    assert ok.status_code == 200 and ok.json()["state"] == "RETURNED"
    assert query(url, "SELECT state, final_code, final_date FROM records WHERE business_no = :n", n=l1b) == [
        ("RETURNED", "A_DECLINED", DAY)
    ]
    trail = call("GET", f"/api/records/{l1b}/audit", "audit.chen").json()
    assert [(e["actor"], e["action"], e["detail"]["opinion"]) for e in trail] == [
        ("li.wei", "approval_decline", "payee name mismatch")
    ]


def test_review_page_is_served(api):
    call, *_ = api
    page = call("GET", "/", "audit.chen")
    assert page.status_code == 200 and "Approval queue" in page.text
    assert call("GET", "/api/me", "op.zhang").json() == {
        "user": "op.zhang",
        "roles": ["operator"],
        "may": ["read", "submit"],
    }


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("client_id: HELDC\napproval: {auto_max_amount: [50000\n", "not valid YAML"),
        (
            'client_id: HELDC\napproval: {auto_max_amount: "fifty thousand"}\n',
            "approval rules cannot be read",
        ),
    ],
    ids=["not-yaml", "rules-not-amounts"],
)
def test_a_record_whose_client_profile_cannot_be_used_is_shown_with_why_it_has_no_risk_facts(
    api, tmp_path, content, problem
):
    """A record not routed yet needs the client's current rules for its risk facts; while the
    profile cannot be used the record is answered (not a 500) with what is known and why."""
    call, _, _, url = api
    (tmp_path / "profiles" / "HELDC.yaml").write_text(content, encoding="utf-8")
    _, (pay_no,) = seed_file(url, "HELDC", "PAY", [pay(6_000_000)], seq="005")
    _, (loan_no,) = seed_file(url, "HELDC", "LOAN", [loan("120000.00", 60, "120000.00", 750)], seq="006")
    approval.assess(DAY)  # holds HELDC (PROFILE_INVALID): its records stay VALIDATED, not routed

    for no, amount in ((pay_no, 6_000_000), (loan_no, 12_000_000)):
        for user in ("audit.chen", "li.wei"):
            answer = call("GET", f"/api/records/{no}", user)
            assert answer.status_code == 200, answer.text
            detail = answer.json()
            assert (detail["business_no"], detail["client_id"], detail["amount_cents"]) == (
                no,
                "HELDC",
                amount,
            )
            assert (detail["state"], detail["tier"], detail["levels_needed"], detail["risk"]) == (
                "VALIDATED",
                None,
                0,
                {},
            )
            assert detail["validation"]["ack_status"] == "ACCEPTED" and detail["decisions"] == []
            assert "profile HELDC.yaml cannot be used" in detail["profile_problem"]
            assert problem in detail["profile_problem"]
            assert "risk facts cannot be shown" in detail["profile_problem"]
    # A record of a client whose profile is fine says nothing of the kind.
    l1 = call("GET", "/api/pending?client_id=BANKX", "li.wei").json()[0]["business_no"]
    assert call("GET", f"/api/records/{l1}", "li.wei").json()["profile_problem"] is None
    # The review page shows the notice in the record's detail.
    page = call("GET", "/", "li.wei").text
    assert '<p id="d-profile" class="error" role="alert" hidden></p>' in page
    assert "notice.textContent=r.profile_problem" in page


def test_identity_is_the_airflow_jwt_user(business_db, airflow_db, tmp_path, monkeypatch):
    """Through Airflow's own API server app: the plugin sees the logged-in Airflow user."""
    import json

    from airflow.api_fastapi.app import create_app

    write_profiles(tmp_path / "profiles", monkeypatch, "BANKX")
    roles = tmp_path / "roles.yaml"
    roles.write_text(ROLES, encoding="utf-8")
    monkeypatch.setenv("DAYBOOK_ROLES", str(roles))
    passwords = tmp_path / "passwords.json"
    passwords.write_text(json.dumps({"li.wei": "pw-li", "audit.chen": "pw-audit"}))
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "li.wei:viewer,audit.chen:admin")
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", str(passwords))
    _, (l1,) = seed_file(business_db, "BANKX", "PAY", [pay(6_000_000)])
    approval.assess(DAY)
    client = TestClient(create_app(apps="all"))

    def token(user: str, password: str) -> dict[str, str]:
        r = client.post("/auth/token", json={"username": user, "password": password})
        assert r.status_code == 201, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    assert client.get("/daybook-approvals/api/pending").status_code == 401
    auditor = token("audit.chen", "pw-audit")  # an Airflow admin, but only a daybook auditor
    assert (
        client.post(f"/daybook-approvals/api/records/{l1}/approve", headers=auditor, json={}).status_code
        == 403
    )
    reviewer = token("li.wei", "pw-li")  # an Airflow viewer, a daybook approver
    assert client.get("/daybook-approvals/api/me", headers=reviewer).json()["user"] == "li.wei"
    ok = client.post(f"/daybook-approvals/api/records/{l1}/approve", headers=reviewer, json={"opinion": "ok"})
    assert ok.status_code == 200 and ok.json()["state"] == "APPROVED"
    assert query(business_db, "SELECT decided_by FROM approvals") == [("li.wei",)]


def test_a_batch_decision_checks_the_role_and_each_record(api):
    call, file_id, (l1, l2, l1b), url = api
    body = {"business_nos": [l1, l2], "decision": "APPROVE", "opinion": "checked together"}
    assert call("POST", "/api/decisions", "audit.chen", json=body).status_code == 403
    assert call("POST", "/api/decisions", "op.zhang", json=body).status_code == 403
    assert _approvals(url) == []
    assert call("POST", f"/api/files/{file_id}/submit", "op.both").status_code == 200
    # op.both submitted the file: the maker is refused on every record, nothing recorded.
    made = call("POST", "/api/decisions", "op.both", json=body).json()
    assert made["decided"] == {} and set(made["refused"]) == {l1, l2}
    ok = call("POST", "/api/decisions", "li.wei", json={**body, "business_nos": [l1, l2, "NOPE-1"]})
    assert ok.status_code == 200
    assert ok.json()["decided"] == {l1: "APPROVED", l2: "PENDING_APPROVAL"}
    assert "no record" in ok.json()["refused"]["NOPE-1"]
    no_opinion = {"business_nos": [l1b], "decision": "DECLINE", "opinion": " "}
    assert call("POST", "/api/decisions", "wang.fang", json=no_opinion).status_code == 422
    assert call("POST", "/api/decisions", "wang.fang", json={**body, "business_nos": []}).status_code == 422
    assert _approvals(url) == [(l1, 1, "APPROVE", "li.wei"), (l2, 1, "APPROVE", "li.wei")]


ACCOUNT, ID_NO, PHONE, NAME = "6222021234567890123", "11010519491231002X", "13812345678", "张三丰"


def test_personal_numbers_are_shown_in_full_only_to_those_who_decide(api):
    call, _, _, url = api
    row = {
        "amount_cents": 6_500_000,
        "currency": "CNY",
        "payload": {
            "amount": "65000.00",
            "payer_account": ACCOUNT,
            "payer_id_no": ID_NO,
            "phone": PHONE,
            "payee_name": NAME,
            "purpose": f"salary for {ACCOUNT}",
        },
    }
    _, (no,) = seed_file(url, "BANKX", "PAY", [row], seq="009")
    approval.assess(DAY)
    approval.decide(no, "li.wei", "DECLINE", f"account {ACCOUNT} is on our watch list")

    def seen(user: str) -> str:
        record = call("GET", f"/api/records/{no}", user)
        trail = call("GET", f"/api/records/{no}/audit", user)
        assert record.status_code == trail.status_code == 200
        return record.text + trail.text

    for decider in ("wang.fang", "boss"):
        text = seen(decider)
        assert all(v in text for v in (ACCOUNT, ID_NO, PHONE, NAME)), decider
    for reader in ("audit.chen", "op.zhang"):
        text = seen(reader)
        assert not [v for v in (ACCOUNT, ID_NO, PHONE, NAME) if v in text], (reader, text)
        assert ACCOUNT[-4:] in text and PHONE[-4:] in text and "张" in text  # masked, not dropped
        assert "65000.00" in text and no in text  # what is not personal stays readable
