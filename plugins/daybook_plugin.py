"""daybook's Airflow plugin: the operator's pages inside the Airflow UI.

Serves, under ``/daybook`` on the Airflow API server, the GX Data Docs kept for each file's
validation and the reason-code catalogue, and adds them to the UI navigation. It imports
nothing heavy and touches no database or file at import time.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

try:
    from daybook.ui import create_app
except ImportError:  # the package is not installed in this environment
    create_app = None


class DaybookPlugin(AirflowPlugin):
    name = "daybook"
    fastapi_apps = (
        [{"app": create_app(), "url_prefix": "/daybook", "name": "daybook"}] if create_app is not None else []
    )
    external_views = [
        {
            "name": "Data quality reports",
            "href": "/daybook/data-docs/",
            "destination": "nav",
            "category": "browse",
            "url_route": "daybook_data_docs",
        },
        {
            "name": "Reason codes",
            "href": "/daybook/reason-codes",
            "destination": "nav",
            "category": "browse",
            "url_route": "daybook_reason_codes",
        },
    ]
