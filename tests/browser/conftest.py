"""Real-browser tests: Debian's Chromium driven by Playwright (no browser download).

They start an Airflow API server (tens of seconds), so they run only when asked for with
``-m browser``: ``make browser-test``, which ``.ci/run`` calls after ``make test``.
"""

from __future__ import annotations


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives a real Chromium against a locally started Airflow")


def pytest_collection_modifyitems(config, items):
    if "browser" in (config.getoption("markexpr") or ""):
        return
    skipped = [i for i in items if i.get_closest_marker("browser")]
    if skipped:
        config.hook.pytest_deselected(items=skipped)
        items[:] = [i for i in items if not i.get_closest_marker("browser")]
