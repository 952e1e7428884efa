"""`make up` users: every person in roles.yaml gets an Airflow login with the right role."""

from __future__ import annotations

import json

from daybook.local_users import ensure_passwords, users


def test_roles_map_onto_simple_auth_manager_roles(tmp_path):
    roles = tmp_path / "roles.yaml"
    roles.write_text(
        "users:\n  a: [auditor]\n  b: [approver]\n  c: [operator, approver]\n  d: [admin]\n  e: [nobody]\n"
    )
    assert users(roles) == {"a": "viewer", "b": "user", "c": "op", "d": "admin"}


def test_passwords_are_random_kept_and_private(tmp_path):
    path = tmp_path / "pw.json"
    first = ensure_passwords(path, ["a", "b"])
    assert len(set(first.values())) == 2 and all(len(p) >= 12 for p in first.values())
    again = ensure_passwords(path, ["a", "b", "c"])
    assert again["a"] == first["a"] and again["b"] == first["b"] and "c" in again
    assert json.loads(path.read_text()) == again
    assert path.stat().st_mode & 0o077 == 0
