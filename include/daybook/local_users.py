"""Local Airflow users for ``make up``: one per person in ``config/roles.yaml``.

Maps each daybook role onto the simple auth manager's roles (admin -> admin, operator -> op,
approver -> user, auditor -> viewer; the highest wins), gives each user a random password kept
in the passwords file (never in the repository), and prints the users setting.

    python -m daybook.local_users PASSWORDS_FILE        # prints name:role,name:role,...
"""

from __future__ import annotations

import json
import secrets
import sys
from pathlib import Path

import yaml

from daybook.config import PROJECT_ROOT

AIRFLOW_ROLE = {"admin": "admin", "operator": "op", "approver": "user", "auditor": "viewer"}
RANK = ["viewer", "user", "op", "admin"]


def users(roles_file: Path = PROJECT_ROOT / "config" / "roles.yaml") -> dict[str, str]:
    data = yaml.safe_load(roles_file.read_text(encoding="utf-8")) or {}
    out = {}
    for name, roles in (data.get("users") or {}).items():
        mapped = [AIRFLOW_ROLE[r] for r in roles if r in AIRFLOW_ROLE]
        if mapped:
            out[name] = max(mapped, key=RANK.index)
    return out


def ensure_passwords(path: Path, names: list[str]) -> dict[str, str]:
    current = json.loads(path.read_text()) if path.exists() else {}
    for name in names:
        current.setdefault(name, secrets.token_urlsafe(12))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(current, indent=2, sort_keys=True))
    path.chmod(0o600)
    return current


def main(argv: list[str]) -> None:
    path = Path(argv[1])
    mapping = users()
    passwords = ensure_passwords(path, sorted(mapping))
    for name in sorted(mapping):
        print(f"  {name:12s} ({mapping[name]:6s}) password {passwords[name]}", file=sys.stderr)
    print(",".join(f"{name}:{role}" for name, role in sorted(mapping.items())))


if __name__ == "__main__":
    main(sys.argv)
