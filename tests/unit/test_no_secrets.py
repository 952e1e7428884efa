"""No credential in code or repo: the tracked tree is scanned for key-like strings.

Allowed: placeholders in .env.example, and the dummy credentials that local test endpoints
(the moto S3 server) accept, which are listed here by value.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PATTERNS = {
    "AWS access key id": re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "Slack token": re.compile(r"\bxox[abposr]-[0-9A-Za-z-]{10,}"),
    "Slack webhook": re.compile(r"hooks\.slack\.com/services/T[0-9A-Z]+/B[0-9A-Z]+/[0-9A-Za-z]+"),
    "GitHub token": re.compile(r"\bgh[pousr]_[0-9A-Za-z]{36}\b"),
    "assigned secret": re.compile(
        r"""(?i)\b(password|passwd|secret|api_key|apikey|token|routing_key)\b["']?\s*[:=]\s*["']([^"'\s{}$]{12,})["']"""
    ),
    "URL with a password": re.compile(r"[a-z+]+://[^/\s:@]+:([^@\s/]{6,})@"),
}
ALLOWED_FILES = {".env.example", "test_no_secrets.py"}  # this file plants examples on purpose
# Dummy values that only loopback test receivers accept.
ALLOWED_VALUES = {"ops-routing-key"}


def _tracked_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [ROOT / line for line in out.splitlines() if line]


def test_no_credentials_in_the_tracked_tree():
    hits = []
    for path in _tracked_files():
        if path.name in ALLOWED_FILES or path.name == "requirements.lock" or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for label, pattern in PATTERNS.items():
            for m in pattern.finditer(text):
                if "${" in m.group(0) or "$${" in m.group(0):
                    continue  # a reference to the environment, not a value
                if any(v in m.group(0) for v in ALLOWED_VALUES):
                    continue
                hits.append(f"{path.relative_to(ROOT)}: {label}: {m.group(0)[:60]}")
    assert hits == []


def test_the_scanner_finds_what_it_looks_for():
    """The patterns are not vacuous: each catches a planted example."""
    planted = {
        "AWS access key id": "key = AKIA" + "ABCDEFGHIJKLMNOP",
        "private key": "-----BEGIN RSA " + "PRIVATE KEY-----",
        "Slack token": "xoxb-" + "1234567890-abcdefghij",
        "assigned secret": 'password = "' + "correct-horse-battery" + '"',
        "URL with a password": "postgresql://user:" + "s3cretpass@db/x",
    }
    for label, text in planted.items():
        assert PATTERNS[label].search(text), label
