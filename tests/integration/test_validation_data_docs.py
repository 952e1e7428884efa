"""The GX Data Docs of a file's validation are one click from the Airflow UI.

The plugin adds "Data quality reports" (``/daybook/data-docs/``) to the Airflow navigation and
mounts its FastAPI app at ``/daybook``. This test validates a real file, mounts the plugin's app
the way Airflow's API server does, and follows the links from the navigation entry to the
report of that file's validation.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from test_validation_ack import drop_and_validate, env, pay_row  # noqa: F401

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _plugin():
    spec = importlib.util.spec_from_file_location("daybook_plugin", ROOT / "plugins" / "daybook_plugin.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.DaybookPlugin


@pytest.mark.usefixtures("env")
@pytest.mark.parametrize("backend", ["sqlite"])
def test_nav_link_leads_to_the_files_data_docs(tmp_path, monkeypatch):
    from daybook import approval_api

    roles = tmp_path / "roles.yaml"
    roles.write_text("users:\n  audit.chen: [auditor]\n", encoding="utf-8")
    monkeypatch.setenv("DAYBOOK_ROLES", str(roles))
    rows = [pay_row(f"DD-{i}") for i in range(5)] + [pay_row("DD-bad", amount="0")]
    results = drop_and_validate("VALC", "001", rows)
    stem = "VALC_PAY_20261127_001"

    plugin = _plugin()
    entry = next(v for v in plugin.external_views if v["name"] == "Data quality reports")
    mounted = plugin.fastapi_apps[0]
    api_server = FastAPI()
    api_server.mount(mounted["url_prefix"], mounted["app"])
    client = TestClient(api_server)
    # Without a login Airflow answers 401; a logged-in user without a daybook role gets 403.
    assert client.get(entry["href"]).status_code == 401
    mounted["app"].dependency_overrides[approval_api.current_username] = lambda: "stranger"
    assert client.get(entry["href"]).status_code == 403
    assert client.get("/daybook/reason-codes").status_code == 403
    mounted["app"].dependency_overrides[approval_api.current_username] = lambda: "audit.chen"
    assert "F_ERROR_RATE" in client.get("/daybook/reason-codes").text

    listing = client.get(entry["href"])
    assert listing.status_code == 200
    link = re.search(rf"href='([^']*/{stem}/index\.html)'", listing.text)
    assert link, listing.text
    index = client.get(link.group(1))
    assert index.status_code == 200 and "text/html" in index.headers["content-type"]
    assert stem in index.text  # GX's index lists the validation of this file's suite

    # The validation result page itself: the suite's name and the failing expectation's column.
    pages = re.findall(r"(validations/[^'\"]+\.html)", index.text)  # GX keeps row links in its table data
    assert pages, "the index links the validation result"
    page = client.get(link.group(1).rsplit("/", 1)[0] + "/" + pages[0])
    assert page.status_code == 200
    assert stem in page.text and "amount" in page.text

    # The task's XCom names the same report (the link an operator follows from the task).
    assert results[-1]["data_docs"] == link.group(1)
    assert client.get(results[-1]["data_docs"]).status_code == 200

    assert client.get(f"/daybook/data-docs/2026-11-27/{stem}/../../secret").status_code == 404
    assert client.get("/daybook/data-docs/2026-11-27/NO_SUCH_STEM/index.html").status_code == 404
