"""Preventive-action execution: manual records, webhook automation (off and on), audit trail."""

from __future__ import annotations

import uuid

import pytest

from ml_prediction.models import AuditEvent, PreventiveAction
from ml_prediction.services.actions import ManualResultRequired, action_execute, action_skip
from ml_prediction.services.errors import InvalidTransition, NotFound
from tests.integration.alerts.conftest import BOTH_DBS

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)


@pytest.fixture
def action():
    return PreventiveAction.objects.create(
        service="django",
        action_type="increase_pool",
        title="Increase the database connection pool",
        description="Raise max connections from 100 to 150",
        root_cause="db_pool_exhaustion",
        priority="high",
        can_be_automated=True,
    )


def audits(action):
    return list(
        AuditEvent.objects.filter(object_id=str(action.action_id))
        .order_by("created_at")
        .values_list("actor", "action", "outcome")
    )


def test_automation_off_calls_nothing_and_records_only_a_reported_manual_execution(
    http_receiver, ml_config, action
):
    # given a webhook configured but automation off
    hook = http_receiver(200)
    ml_config(AUTOMATION_ENABLED=False, ACTION_WEBHOOKS={"increase_pool": hook.url})

    # when the guide's call executes it without saying what was done, it is refused (recording
    # "executed" there would claim work nobody did, D8) and nothing changes
    with pytest.raises(ManualResultRequired, match="automation is off"):
        action.execute("django_automation")
    action.refresh_from_db()
    assert action.status == "recommended" and action.execution_result is None

    # when a person reports it done, who/when/result are recorded; nothing is called
    executed = action.execute("alice", result={"success": True, "note": "pool raised"})

    assert hook.requests == []
    assert executed.status == "executed"
    assert executed.executed_by == "alice" and executed.executed_at is not None
    assert executed.execution_result == {"success": True, "note": "pool raised"}
    assert audits(action) == [
        ("django_automation", "action.execute", "rejected"),
        ("alice", "action.execute", "ok"),
    ]


def test_automation_on_sends_the_action_to_its_webhook(http_receiver, ml_config, action):
    hook = http_receiver(200)
    ml_config(
        AUTOMATION_ENABLED=True,
        ACTION_WEBHOOKS={"increase_pool": {"url": hook.url, "headers": {"X-Token": "s3cret"}}},
    )

    executed = action_execute(action_id=action.action_id, executed_by="django_automation")

    assert len(hook.requests) == 1
    assert hook.requests[0]["headers"]["X-Token"] == "s3cret"
    body = hook.bodies[0]
    assert body["action_id"] == str(action.action_id)
    assert (body["action_type"], body["service"], body["requested_by"]) == (
        "increase_pool",
        "django",
        "django_automation",
    )
    assert executed.status == "executed"
    assert executed.execution_result["mode"] == "webhook"
    assert executed.execution_result["status_code"] == 200
    assert audits(action) == [("django_automation", "action.execute", "ok")]


@pytest.mark.parametrize(
    ("can_be_automated", "configured_type", "result"),
    [
        (False, "increase_pool", None),  # not automatable
        (True, "restart", None),  # no webhook for this action type
        (True, "increase_pool", {"success": True, "duration": 120}),  # a person reports it done
    ],
)
def test_automation_on_but_not_applicable_calls_nothing(
    http_receiver, ml_config, action, can_be_automated, configured_type, result
):
    hook = http_receiver(200)
    ml_config(AUTOMATION_ENABLED=True, ACTION_WEBHOOKS={configured_type: hook.url})
    PreventiveAction.objects.filter(pk=action.pk).update(can_be_automated=can_be_automated)

    if result is None:
        # nothing would carry it out and nobody reports it done: refused, not "executed" (D8)
        with pytest.raises(ManualResultRequired):
            action_execute(action_id=action.action_id, executed_by="alice", result=result)
        action.refresh_from_db()
        assert hook.requests == []
        assert action.status == "recommended"
        return
    executed = action_execute(action_id=action.action_id, executed_by="alice", result=result)

    assert hook.requests == []
    assert executed.status == "executed"
    assert executed.execution_result == result


def test_failing_webhook_leaves_the_action_unexecuted_and_audits_the_failure(
    http_receiver, ml_config, action
):
    hook = http_receiver(500)
    ml_config(AUTOMATION_ENABLED=True, ACTION_WEBHOOKS={"increase_pool": hook.url})

    attempted = action_execute(action_id=action.action_id, executed_by="django_automation")

    assert len(hook.requests) == 1
    attempted.refresh_from_db()
    assert attempted.status == "recommended" and attempted.executed_at is None
    assert attempted.execution_result["success"] is False
    assert attempted.execution_result["status_code"] == 500
    assert audits(action) == [("django_automation", "action.execute", "failed")]


def test_executing_an_executed_action_is_refused_and_audited(ml_config, action):
    action_execute(action_id=action.action_id, executed_by="alice", result={"success": True})

    with pytest.raises(InvalidTransition):
        action_execute(action_id=action.action_id, executed_by="bob")

    action.refresh_from_db()
    assert action.executed_by == "alice"
    assert audits(action) == [
        ("alice", "action.execute", "ok"),
        ("bob", "action.execute", "rejected"),
    ]


def test_skip_records_who_and_why_and_then_refuses_execution(ml_config, action):
    skipped = action_skip(
        action_id=action.action_id, skipped_by="alice", reason="pool already raised"
    )

    assert skipped.status == "skipped"
    assert skipped.execution_result == {"mode": "skipped", "reason": "pool already raised"}
    with pytest.raises(InvalidTransition):
        action_execute(action_id=action.action_id, executed_by="bob")
    with pytest.raises(InvalidTransition):
        action_skip(action_id=action.action_id, skipped_by="bob")


@pytest.mark.parametrize("bad_id", [uuid.uuid4(), "not-a-uuid"])
def test_unknown_action_raises_not_found(ml_config, bad_id):
    with pytest.raises(NotFound):
        action_execute(action_id=bad_id, executed_by="alice")
