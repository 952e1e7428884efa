"""Client profiles (contract section 8): one YAML file per client, defaults for everything else.

A profile's version is the sha256 of its file content; every processed file records the
version that judged it, and every version seen is kept in ``profile_versions``.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from daybook.config import BUSINESS_TZ, settings

log = logging.getLogger(__name__)
CLIENT_ID_RE = re.compile(r"[A-Z0-9]{3,16}")
# A cutoff: the hour 0-23 in one or two ASCII digits ("7:05" and "07:05" alike, as cutoffs were
# always read), a colon, two digits of minute 00-59 (no sign, space, "_" or other script's digits,
# which int() would take).
_HHMM = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])")

DEFAULTS: dict[str, Any] = {
    "name": "",
    "accepted_currencies": ["CNY"],
    "error_rate_threshold": "0.20",
    "products": ["PERSONAL", "MORTGAGE", "SME"],
    "cutoffs": {"intake": "17:00", "approval": "18:30", "settlement": "19:30"},
    "approval": {
        # PAY at or below this amount is approved by rule; above it one reviewer decides;
        # at or above two_reviewers_from two distinct reviewers decide.
        "auto_max_amount": "50000.00",
        "two_reviewers_from": "1000000.00",
        # LOAN at or below this amount is approved by rule, above it a reviewer decides.
        "loan_auto_max_amount": "200000.00",
    },
    "prefund_limit": "100000000.00",
    "alerts": {"email": [], "slack_channel": "", "pagerduty_routing_key": ""},
    "relaxations": {"luhn_off_card_prefixes": []},
    "expected_files": [],
}


class UnknownClient(LookupError):
    """No profile exists for this client id."""


class InvalidProfile(ValueError):
    """The client's profile file exists but cannot be used (not YAML, not a mapping, another
    client_id than its file name, ...). ``path`` and ``version`` (as :func:`file_version`) name
    the content that was refused; ``problem`` says why."""

    def __init__(self, path: Path, version: str, problem: str) -> None:
        super().__init__(f"profile {path}: {problem}")
        self.path, self.version, self.problem = path, version, problem


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def cents(value: Any) -> int:
    """Integer cents of a decimal amount written as text in a profile (exact; no float)."""
    return int((Decimal(str(value)) * 100).to_integral_exact())


@dataclass(frozen=True)
class Profile:
    client_id: str
    version: str
    content: str
    data: dict[str, Any]

    @property
    def accepted_currencies(self) -> list[str]:
        return list(self.data["accepted_currencies"])

    @property
    def error_rate_threshold(self) -> Decimal:
        return Decimal(str(self.data["error_rate_threshold"]))

    @property
    def products(self) -> list[str]:
        return list(self.data["products"])

    @property
    def prefund_limit_cents(self) -> int:
        return cents(self.data["prefund_limit"])

    def approval_cents(self, key: str) -> int:
        return cents(self.data["approval"][key])

    @property
    def luhn_off_prefixes(self) -> list[str]:
        return [str(p) for p in self.data["relaxations"].get("luhn_off_card_prefixes", [])]


def profile_path(client_id: str) -> Path:
    return settings().profiles / f"{client_id}.yaml"


def _version(content: str) -> str:
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def file_version(client_id: str) -> str | None:
    """The version of the client's profile file as it is now, parsed or not (sha256 of its text,
    of its bytes if it is not UTF-8); None if there is no such file."""
    path = profile_path(client_id)
    if not CLIENT_ID_RE.fullmatch(client_id) or not path.is_file():
        return None
    try:
        return _version(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        return hashlib.sha256(path.read_bytes()).hexdigest()


def load(client_id: str) -> Profile:
    """The client's profile; :class:`UnknownClient` if it has none (the client is not processed),
    :class:`InvalidProfile` if its file cannot be used."""
    if not CLIENT_ID_RE.fullmatch(client_id):
        raise UnknownClient(client_id)
    path = profile_path(client_id)
    if not path.is_file():
        raise UnknownClient(client_id)
    try:
        content = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        version = hashlib.sha256(path.read_bytes()).hexdigest()
        raise InvalidProfile(path, version, f"not UTF-8 ({exc.reason} at byte {exc.start})") from exc
    version = _version(content)
    try:
        raw = yaml.safe_load(content) or {}
    except yaml.YAMLError as exc:
        problem = " ".join(str(exc).split())
        raise InvalidProfile(path, version, f"not valid YAML: {problem}") from exc
    if not isinstance(raw, dict):
        raise InvalidProfile(path, version, f"must hold a mapping with client_id: {client_id}")
    if raw.get("client_id") != client_id:
        raise InvalidProfile(
            path,
            version,
            f"holds client_id {raw.get('client_id')!r}, its file name says {client_id!r}; "
            f"a profile must hold client_id: {client_id}",
        )
    data = _merge(DEFAULTS, raw)
    return Profile(client_id=client_id, version=version, content=content, data=data)


def cutoff(profile: Profile, stage: str, business_date: str) -> datetime:
    """The client's ``cutoffs.<stage>`` on the business date, an aware datetime (Asia/Shanghai);
    :class:`InvalidProfile` when it is not a text ``"H:MM"`` or ``"HH:MM"`` of ASCII digits, hours
    0-23 and minutes 00-59 (unquoted, YAML reads 19:00 as the number 1140; "7:0", " 07:00" or
    "07:00:00" are refused, not guessed at) or ``cutoffs`` is not a mapping. Every stage reads its cutoff
    here (intake, approval, AML hold expiry, the hourly settlement cutoff check), so a broken one
    is described in the same words whichever stage meets it first."""
    day = date.fromisoformat(business_date)
    cutoffs = profile.data.get("cutoffs")
    found = cutoffs.get(stage) if isinstance(cutoffs, dict) else cutoffs
    hhmm = _HHMM.fullmatch(found) if isinstance(cutoffs, dict) and isinstance(found, str) else None
    if hhmm is None:
        raise InvalidProfile(
            profile_path(profile.client_id),
            profile.version,
            f'cutoffs.{stage} must be a time in quotes, "HH:MM", found {found!r}',
        )
    return datetime.combine(day, time(int(hhmm[1]), int(hhmm[2])), tzinfo=BUSINESS_TZ)


def cutoff_or_hold(client_id: str, stage: str, business_date: str, consequence: str) -> datetime | None:
    """The client's ``cutoffs.<stage>`` on the business date (:func:`cutoff`); None after
    :func:`hold` (PROFILE_INVALID, held by ``stage``, ``consequence`` saying what waits) when its
    profile or that cutoff cannot be used: the caller leaves that client and goes on."""
    try:
        return cutoff(load(client_id), stage, business_date)
    except InvalidProfile as broken:
        hold(client_id, broken, business_date, consequence, stage=stage)
        return None


def _alert_invalid(
    conn: Any,
    client: str,
    broken: InvalidProfile,
    business_date: str,
    consequence: str,
    stage: str | None = None,
) -> None:
    """Record a PROFILE_INVALID alert for ``client`` (once per client, profile content and date):
    which file, what is wrong with it and ``consequence`` (what is held until it is fixed). No
    client_id on the alert, as for UNKNOWN_CLIENT: the client's own contacts and settings are in
    the profile that cannot be read, so it goes to operations. ``stage`` names the stage that met
    it (the catalogue's, intake, when not given); the first stage of the date to meet a content
    raises the alert, the later ones find it raised."""
    from daybook import events

    events.alert(
        conn,
        "PROFILE_INVALID",
        f"client profile {broken.path.name} of {client} cannot be used: {broken.problem}; {consequence}",
        dedup_key=f"profile-invalid:{client}:{broken.version[:16]}:{business_date}",
        severity="critical",
        business_date=business_date,
        stage=stage,
        details={"client": client, "profile": broken.path.name, "version": broken.version},
    )


def hold(
    client: str,
    broken: InvalidProfile,
    business_date: str,
    consequence: str,
    *,
    stage: str | None,
    conn: Any = None,
) -> None:
    """A stage holds ``client`` because its profile cannot be used: the PROFILE_INVALID alert of
    :func:`_alert_invalid` (in a transaction of its own, or on ``conn`` when given) and one error
    in the log naming the client, the date, the problem and ``consequence`` (what is held);
    ``stage`` as for :func:`_alert_invalid`. The caller then leaves that client's files and records
    as they are and goes on with the others."""
    if conn is None:
        from daybook import db

        with db.begin() as own:
            _alert_invalid(own, client, broken, business_date, consequence, stage=stage)
    else:
        _alert_invalid(conn, client, broken, business_date, consequence, stage=stage)
    log.error(
        "%s %s: %s; held%s: %s", client, business_date, broken, f" by {stage}" if stage else "", consequence
    )


def known_clients() -> list[str]:
    folder = settings().profiles
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.yaml") if CLIENT_ID_RE.fullmatch(p.stem))


def record_version(conn: Any, profile: Profile) -> None:
    """Keep every profile version that judged a file (idempotent)."""
    from daybook import db

    db.run(
        conn,
        "insert_profile_version",
        {"client_id": profile.client_id, "version": profile.version, "content": profile.content},
    )
