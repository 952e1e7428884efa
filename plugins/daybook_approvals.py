"""daybook's approval plugin: the review queue's REST API and page inside the Airflow UI.

Mounts :mod:`daybook.approval_api` at ``/daybook-approvals`` on the Airflow API server and adds
"Approval queue" to the UI's Browse menu. Identity is the logged-in Airflow user; daybook roles
come from ``config/roles.yaml``. Nothing is read or connected at import time.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

try:
    from daybook.approval_api import create_app
except ImportError:  # the package is not installed in this environment
    create_app = None


class DaybookApprovalsPlugin(AirflowPlugin):
    name = "daybook_approvals"
    fastapi_apps = (
        [{"app": create_app(), "url_prefix": "/daybook-approvals", "name": "daybook approvals"}]
        if create_app is not None
        else []
    )
    external_views = [
        {
            "name": "Approval queue",
            "href": "/daybook-approvals/",
            "destination": "nav",
            "category": "browse",
            "url_route": "daybook_approvals",
        }
    ]
