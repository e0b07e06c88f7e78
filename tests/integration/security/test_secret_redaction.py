"""Webhook URLs are credentials (a Slack incoming webhook's path, an automation endpoint's token):
a failed call is stored, shown (API, audit, dashboard) and logged with its host and status only,
never with the URL's path or query — not even inside requests' exception messages, which embed it.
"""

from __future__ import annotations

import logging
import secrets
import socket
import threading
import traceback
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.conf import settings

from ml_prediction.models import AlertNotification, AuditEvent
from ml_prediction.services.actions import action_outcome_message
from ml_prediction.services.alerts import ChannelError, alert_deliver

pytestmark = pytest.mark.django_db(databases=["default", "ml_prediction"])


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once the block ends: refused


class SecretUrl:
    """A webhook URL whose path and query hold this test's own secrets (unique per run, so a log
    line from another run can neither hide nor fake a leak)."""

    def __init__(self, port: int) -> None:
        token = secrets.token_hex(6)
        self.parts = [f"T0{token}", f"B0{token}", f"xoxb-{token}", f"s3cr3t{token}"]
        self.host = f"127.0.0.1:{port}"
        team, bot, key, query = self.parts
        self.url = f"http://{self.host}/hooks/{team}/{bot}/{key}?token={query}"

    def leaks(self, text: str) -> list[str]:
        return [part for part in [*self.parts, "/hooks/"] if part in text]


@pytest.fixture
def echo_receiver() -> Iterator[int]:
    """A receiver that answers 404 with the path it was called on (as Express's error page does)."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = f"Cannot POST {self.path}".encode()
            self.send_response(404)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def automation(settings):
    """Automation on, with ``scale_up`` sent to the given URL."""

    def apply(url: str) -> None:
        settings.ML_PREDICTION_CONFIG = {
            **settings.ML_PREDICTION_CONFIG,
            "AUTOMATION_ENABLED": True,
            "ACTION_WEBHOOKS": {"scale_up": url},
        }

    return apply


def _log_text() -> str:
    for name in ("ml_prediction", "error_logging"):
        for handler in logging.getLogger(name).handlers:
            handler.flush()
    return "\n".join(
        path.read_text(errors="replace")
        for path in Path(settings.LOG_DIR).rglob("*")
        if path.is_file()
    )


def _execute(ops_client, make_action):
    action = make_action(action_type="scale_up", can_be_automated=True)
    response = ops_client.post(f"/api/ml/actions/{action.action_id}/execute/", {}, format="json")
    assert response.status_code == 200, response.content
    action.refresh_from_db()
    return action


def test_an_action_whose_receiver_is_down_shows_its_host_never_its_path_or_query(
    ops_client, readonly_client, make_action, automation, caplog
):
    # given automation on and the scale_up webhook on a port where nothing listens
    caplog.set_level(logging.INFO)
    secret = SecretUrl(_closed_port())
    automation(secret.url)

    # when an operator executes the action
    action = _execute(ops_client, make_action)

    # then it stays pending with the failure: the exception type, the host and the OS reason
    assert action.status == "recommended"
    assert action.execution_result["error"] == (
        f"ConnectionError calling {secret.host} (Connection refused)"
    )
    # and no reader of it sees the URL's path or query: the API, the audit, the dashboard, logs
    shown = {
        "api": readonly_client.get(f"/api/ml/actions/{action.action_id}/").content.decode(),
        "audit": ops_client.get(f"/api/ml/audit/?object_id={action.action_id}").content.decode(),
        "audit row": str(AuditEvent.objects.filter(object_id=str(action.action_id)).values()),
        "dashboard message": action_outcome_message(action)[1],
        "log records": "\n".join(r.getMessage() for r in caplog.records),
        "log files": _log_text(),
    }
    assert secret.host in shown["api"] and secret.host in shown["dashboard message"]
    assert {where: secret.leaks(text) for where, text in shown.items()} == {
        where: [] for where in shown
    }


def test_an_action_receiver_echoing_its_path_is_stored_without_it(
    ops_client, make_action, automation, echo_receiver
):
    secret = SecretUrl(echo_receiver)
    automation(secret.url)

    action = _execute(ops_client, make_action)

    result = action.execution_result
    assert (result["success"], result["status_code"]) == (False, 404)
    assert result["error"] == f"webhook at {secret.host} answered 404"
    assert result["response"].startswith("Cannot POST ")
    assert secret.leaks(str(result)) == []


def _slack_alert(url: str, settings) -> AlertNotification:
    settings.ML_PREDICTION_CONFIG = {
        **settings.ML_PREDICTION_CONFIG,
        "SLACK_WEBHOOK_URL": url,
        "SLACK_CHANNEL_OVERRIDES": {},
    }
    return AlertNotification.objects.create(
        kind="prediction",
        channel="slack",
        service="django",
        error_type="DatabaseConnectionTimeout",
        dedup_key="prediction:django:DatabaseConnectionTimeout",
        payload={"kind": "prediction", "subject": "HIGH RISK: X", "service": "django"},
    )


def _chain_text(exc: BaseException | None) -> str:
    """Every message in an exception's chain that a logged traceback prints."""
    return "".join(traceback.format_exception(exc))


def test_a_slack_delivery_to_a_receiver_that_is_down_stores_only_the_host(settings):
    secret = SecretUrl(_closed_port())
    alert = _slack_alert(secret.url, settings)

    with pytest.raises(ChannelError) as raised:
        alert_deliver(alert_id=alert.alert_id)

    alert.refresh_from_db()
    assert alert.last_error == (
        f"WebhookError: ConnectionError calling {secret.host} (Connection refused)"
    )
    assert secret.leaks(_chain_text(raised.value)) == []


def test_a_slack_receiver_echoing_its_path_is_stored_without_it(settings, echo_receiver):
    secret = SecretUrl(echo_receiver)
    alert = _slack_alert(secret.url, settings)

    with pytest.raises(ChannelError):
        alert_deliver(alert_id=alert.alert_id)

    alert.refresh_from_db()
    assert alert.last_error.startswith(
        f"WebhookError: Slack webhook at {secret.host} answered 404: Cannot POST "
    )
    assert secret.leaks(alert.last_error) == []
