"""Executing a preventive action does what it says: a webhook when automated, otherwise a
person's explicit "done by hand" — from the API and from the dashboard button alike (D8)."""

from __future__ import annotations

import pytest

from ml_prediction.models import AuditEvent, PreventiveAction
from ml_prediction.services.actions import ManualResultRequired, action_execute
from tests.integration.alerts import conftest as alerts_conftest
from tests.integration.alerts.conftest import BOTH_DBS

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)

# the alert tests' real HTTP receivers and per-test ML_PREDICTION_CONFIG
http_receiver = alerts_conftest.http_receiver
ml_config = alerts_conftest.ml_config

FETCH = {"HTTP_X_REQUESTED_WITH": "fetch"}


@pytest.fixture
def scale_up():
    return PreventiveAction.objects.create(
        service="django",
        action_type="scale_up",
        title="Scale up django",
        root_cause="traffic_spike",
        priority="high",
        can_be_automated=True,
    )


@pytest.fixture
def automated(http_receiver, ml_config):
    """Automation on, a webhook answering 200 for scale_up."""
    hook = http_receiver(200)
    ml_config(AUTOMATION_ENABLED=True, ACTION_WEBHOOKS={"scale_up": hook.url})
    return hook


def _outcomes(action: PreventiveAction) -> list[str]:
    return list(
        AuditEvent.objects.filter(object_id=str(action.action_id), action="action.execute")
        .order_by("created_at")
        .values_list("outcome", flat=True)
    )


def test_dashboard_execute_of_an_automated_action_calls_its_webhook(
    client, ops_user, automated, scale_up
):
    # given automation on and a webhook for scale_up; the ops user on the dashboard
    client.force_login(ops_user)

    # when they press Execute
    response = client.post(
        f"/dashboard/actions/{scale_up.action_id}/execute/", {"mode": "automate"}, **FETCH
    )

    # then the webhook ran it, and the message says so
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    assert "webhook called, answered 200" in body["message"]
    assert len(automated.requests) == 1
    assert automated.bodies[0]["action_id"] == str(scale_up.action_id)
    scale_up.refresh_from_db()
    assert scale_up.status == "executed" and scale_up.executed_by == "ops"
    assert scale_up.execution_result["mode"] == "webhook"


def test_a_plain_form_post_without_mode_behaves_like_the_api(client, ops_user, automated, scale_up):
    # given the no-JavaScript path: a form post with no mode, the page then reloaded
    client.force_login(ops_user)

    response = client.post(f"/dashboard/actions/{scale_up.action_id}/execute/", follow=True)

    # then automation ran it and the flash message tells what happened
    assert len(automated.requests) == 1
    messages = [str(m) for m in response.context["messages"]]
    assert any("webhook called, answered 200" in m for m in messages)


def test_a_failing_webhook_is_reported_as_a_failure(
    client,
    ops_user,
    http_receiver,
    ml_config,
    scale_up,
):
    hook = http_receiver(500)
    ml_config(AUTOMATION_ENABLED=True, ACTION_WEBHOOKS={"scale_up": hook.url})
    client.force_login(ops_user)

    response = client.post(
        f"/dashboard/actions/{scale_up.action_id}/execute/", {"mode": "automate"}, **FETCH
    )

    assert response.json()["ok"] is False
    assert "webhook failed" in response.json()["message"]
    scale_up.refresh_from_db()
    assert scale_up.status == "recommended"


def test_without_automation_the_button_is_mark_as_done_and_records_manual_work(
    client,
    ops_user,
    http_receiver,
    ml_config,
    scale_up,
):
    # given a webhook configured but automation off
    hook = http_receiver(200)
    ml_config(AUTOMATION_ENABLED=False, ACTION_WEBHOOKS={"scale_up": hook.url})
    client.force_login(ops_user)

    # then the row offers "Mark as done" (with a confirmation naming action and service)
    panels = client.get("/dashboard/panels/").content.decode()
    row = panels[panels.index(f'data-action-id="{scale_up.action_id}"') :]
    row = row[: row.index("</tr>")]
    assert "Mark as done" in row and ">Execute<" not in row
    assert 'name="mode" value="manual"' in row
    assert 'data-confirm="Mark &quot;Scale up django&quot; on django as done?' in row

    # when they press it
    response = client.post(
        f"/dashboard/actions/{scale_up.action_id}/execute/", {"mode": "manual"}, **FETCH
    )

    # then nothing is called and it is recorded as done by hand
    assert hook.requests == []
    assert response.json() == {
        "ok": True,
        "message": "Scale up django (django): marked as done by hand by ops.",
    }
    scale_up.refresh_from_db()
    assert scale_up.status == "executed"
    assert scale_up.execution_result == {
        "mode": "manual",
        "source": "dashboard",
        "note": "done by hand",
    }


def test_an_automated_action_shows_execute_with_a_confirmation(
    client, ops_user, automated, scale_up
):
    client.force_login(ops_user)

    panels = client.get("/dashboard/panels/").content.decode()

    row = panels[panels.index(f'data-action-id="{scale_up.action_id}"') :]
    row = row[: row.index("</tr>")]
    assert ">Execute</button>" in row and "Mark as done" not in row
    assert 'data-confirm="Run &quot;Scale up django&quot; on django now?' in row


def test_execute_on_the_dashboard_when_automation_went_away_is_refused(
    client,
    ops_user,
    ml_config,
    scale_up,
):
    # given the page drew "Execute", then automation was switched off
    ml_config(AUTOMATION_ENABLED=False, ACTION_WEBHOOKS={})
    client.force_login(ops_user)

    response = client.post(
        f"/dashboard/actions/{scale_up.action_id}/execute/", {"mode": "automate"}, **FETCH
    )

    # then nothing is marked done behind the person's back
    assert response.status_code == 400
    assert "Nothing was done: automation is off" in response.json()["message"]
    scale_up.refresh_from_db()
    assert scale_up.status == "recommended" and scale_up.execution_result is None


@pytest.mark.parametrize(
    ("automation", "can_be_automated", "webhook_type", "why"),
    [
        (False, True, "scale_up", "automation is off"),
        (True, False, "scale_up", "scale_up cannot be automated"),
        (True, True, "restart", "no webhook is configured for scale_up"),
    ],
)
def test_api_execute_without_a_result_when_nothing_would_run_it_is_400(
    ops_client,
    http_receiver,
    ml_config,
    scale_up,
    automation,
    can_be_automated,
    webhook_type,
    why,
):
    hook = http_receiver(200)
    ml_config(AUTOMATION_ENABLED=automation, ACTION_WEBHOOKS={webhook_type: hook.url})
    PreventiveAction.objects.filter(pk=scale_up.pk).update(can_be_automated=can_be_automated)

    response = ops_client.post(f"/api/ml/actions/{scale_up.action_id}/execute/")

    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert message.startswith("result: Nothing was done: " + why)
    assert '{"result": {"success": true' in message
    assert hook.requests == []
    scale_up.refresh_from_db()
    assert scale_up.status == "recommended" and scale_up.execution_result is None
    assert _outcomes(scale_up) == ["rejected"]


def test_api_execute_with_a_result_records_the_manual_work(ops_client, ml_config, scale_up):
    result = {"success": True, "note": "added two workers by hand"}

    response = ops_client.post(
        f"/api/ml/actions/{scale_up.action_id}/execute/", {"result": result}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["status"] == "executed"
    assert response.json()["execution_result"] == result


def test_api_execute_without_a_body_calls_the_webhook_when_automated(
    ops_client, automated, scale_up
):
    response = ops_client.post(f"/api/ml/actions/{scale_up.action_id}/execute/")

    assert response.status_code == 200
    assert response.json()["execution_result"]["mode"] == "webhook"
    assert len(automated.requests) == 1


def test_the_guide_call_without_automation_raises_instead_of_pretending(ml_config, scale_up):
    with pytest.raises(ManualResultRequired):
        scale_up.execute("django_automation")

    with pytest.raises(ManualResultRequired):
        action_execute(action_id=scale_up.action_id, executed_by="alice")
    scale_up.refresh_from_db()
    assert scale_up.status == "recommended"
