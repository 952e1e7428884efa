"""How a run finds its business dates: param, triggering asset events, or the schedule."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from daybook.dag_support import INTAKE_DONE, resolve_business_date, resolve_business_dates


def _event(**extra):
    return SimpleNamespace(extra=extra)


def test_explicit_param_wins_over_events():
    ctx = {
        "params": {"business_date": "2026-11-26"},
        "triggering_asset_events": {INTAKE_DONE: [_event(business_dates=["2026-11-27"])]},
    }
    assert resolve_business_dates(ctx) == ["2026-11-26"]


def test_every_date_of_folded_asset_events_is_kept():
    """Two upstream runs folded into one downstream run: neither date may be dropped."""
    ctx = {
        "params": {},
        "triggering_asset_events": {
            INTAKE_DONE: [
                _event(business_dates=["2026-11-27"]),
                _event(business_dates=["2026-11-26"]),
                _event(business_date="2026-11-25"),
                _event(business_dates=["2026-11-27"]),
            ]
        },
    }
    assert resolve_business_dates(ctx) == ["2026-11-25", "2026-11-26", "2026-11-27"]


def test_scheduled_run_takes_the_latest_business_day_in_shanghai():
    # 2026-11-28 17:00 UTC is Sunday 01:00 in Shanghai; the latest business day is Friday the 27th.
    ctx = {
        "params": {},
        "triggering_asset_events": {},
        "logical_date": datetime(2026, 11, 28, 17, 0, tzinfo=UTC),
    }
    assert resolve_business_dates(ctx) == ["2026-11-27"]
    # National Day holiday 2026-10-01..07; make-up working day Saturday 2026-10-10.
    ctx["logical_date"] = datetime(2026, 10, 10, 2, 0, tzinfo=UTC)
    assert resolve_business_dates(ctx) == ["2026-10-10"]
    ctx["logical_date"] = datetime(2026, 10, 5, 2, 0, tzinfo=UTC)
    assert resolve_business_dates(ctx) == ["2026-09-30"]


def test_single_date_runs_refuse_several_dates():
    ctx = {
        "params": {},
        "triggering_asset_events": {INTAKE_DONE: [_event(business_dates=["2026-11-26", "2026-11-27"])]},
    }
    with pytest.raises(ValueError):
        resolve_business_date(ctx)
