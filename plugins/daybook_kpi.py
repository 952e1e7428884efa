"""daybook's KPI page in the Airflow UI: ``/daybook-kpi/`` shows the last 30 days per client.
Imports nothing heavy and touches no database at import time."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

try:
    from daybook.kpi_ui import create_app
except ImportError:  # the package is not installed in this environment
    create_app = None


class DaybookKpiPlugin(AirflowPlugin):
    name = "daybook_kpi"
    fastapi_apps = (
        [{"app": create_app(), "url_prefix": "/daybook-kpi", "name": "daybook-kpi"}]
        if create_app is not None
        else []
    )
    external_views = [
        {
            "name": "Service KPIs",
            "href": "/daybook-kpi/",
            "destination": "nav",
            "category": "browse",
            "url_route": "daybook_kpi",
        }
    ]
