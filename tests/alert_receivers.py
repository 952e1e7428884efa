"""Real alert receivers on loopback for the alert tests: an SMTP server (aiosmtpd) and one HTTP
server standing in for the Slack webhooks and the PagerDuty Events v2 endpoint.

``receivers(monkeypatch)`` starts both and points the Airflow connections ``daybook_smtp``,
``daybook_slack`` (+ ``daybook_slack_ops_banka``) and ``daybook_pagerduty`` at them through
``AIRFLOW_CONN_*`` environment variables, exactly as production configures the real ones.
"""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Received:
    mails: list[dict[str, Any]] = field(default_factory=list)
    slack: list[dict[str, Any]] = field(default_factory=list)  # {"path", "body"}
    pagerduty: list[dict[str, Any]] = field(default_factory=list)  # Events v2 bodies
    fail_http: bool = False  # answer 500 to every HTTP post (a receiver outage)

    def clear(self) -> None:
        self.mails.clear()
        self.slack.clear()
        self.pagerduty.clear()


class _SmtpHandler:
    def __init__(self, received: Received) -> None:
        self.received = received

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        body = msg.get_body(preferencelist=("html", "plain"))
        self.received.mails.append(
            {
                "from": envelope.mail_from,
                "to": sorted(envelope.rcpt_tos),
                "subject": str(msg["Subject"]),
                "body": body.get_content() if body else "",
            }
        )
        return "250 OK"


def _http_handler(received: Received):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802 - http.server's hook name
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            if received.fail_http:
                self.send_response(500)
                self.end_headers()
                return
            if self.path.startswith("/v2/enqueue"):
                received.pagerduty.append(body)
                reply = json.dumps(
                    {"status": "success", "message": "Event processed", "dedup_key": body.get("dedup_key")}
                ).encode()
                self.send_response(202)
                self.send_header("Content-Type", "application/json")
            else:
                received.slack.append({"path": self.path, "body": body})
                reply = b"ok"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

    return Handler


def start(monkeypatch) -> tuple[Received, Any]:
    """Start both receivers and configure the connections; returns (received, stop)."""
    from aiosmtpd.controller import Controller

    received = Received()
    smtp_port = free_port()
    controller = Controller(_SmtpHandler(received), hostname="127.0.0.1", port=smtp_port)
    controller.start()
    http = ThreadingHTTPServer(("127.0.0.1", 0), _http_handler(received))
    threading.Thread(target=http.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{http.server_address[1]}"
    conns = {
        "AIRFLOW_CONN_DAYBOOK_SMTP": {
            "conn_type": "smtp",
            "host": "127.0.0.1",
            "port": smtp_port,
            "extra": {"disable_ssl": True, "disable_tls": True, "retry_limit": 1, "timeout": 10},
        },
        "AIRFLOW_CONN_DAYBOOK_SLACK": {"conn_type": "slackwebhook", "password": f"{base}/slack/default"},
        "AIRFLOW_CONN_DAYBOOK_SLACK_OPS_BANKA": {
            "conn_type": "slackwebhook",
            "password": f"{base}/slack/ops-banka",
        },
        "AIRFLOW_CONN_DAYBOOK_PAGERDUTY": {
            "conn_type": "pagerduty_events",
            "host": base,
            "password": "ops-routing-key",
        },
    }
    for name, value in conns.items():
        monkeypatch.setenv(name, json.dumps(value))

    def stop() -> None:
        http.shutdown()
        http.server_close()
        controller.stop()

    return received, stop
