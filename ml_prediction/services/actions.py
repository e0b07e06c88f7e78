"""Preventive-action execution: record who did what and with which result, optionally by webhook.

An automatable action is carried out by POSTing it to the webhook configured for its type
(``ML_ACTION_WEBHOOKS``) only when ``ML_AUTOMATION_ENABLED`` is true; otherwise executing an
action records a person's (or a script's) report that it was done. Every attempt is audited.
"""

from __future__ import annotations

import logging
from typing import Any

import requests
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from ml_prediction.models import PreventiveAction
from ml_prediction.services.audit import audit_record
from ml_prediction.services.errors import InvalidTransition, NotFound

logger = logging.getLogger(__name__)

ML_DB = "ml_prediction"
WEBHOOK_TIMEOUT_SECONDS = 10
FINAL_STATES = (PreventiveAction.Status.EXECUTED, PreventiveAction.Status.SKIPPED)


def _actor(who: Any) -> str:
    """Accept a user object (``request.user``) or a plain name."""
    getter = getattr(who, "get_username", None)
    return str(getter() if callable(getter) else who or "anonymous")


def action_webhook(action_type: str) -> tuple[str, dict[str, str]]:
    """(url, headers) configured for an action type; url is empty when none is configured.

    ``ML_ACTION_WEBHOOKS`` maps action_type to a URL, or to ``{"url": ..., "headers": {...}}``
    when the receiver needs a token.
    """
    entry = (settings.ML_PREDICTION_CONFIG.get("ACTION_WEBHOOKS") or {}).get(action_type)
    if isinstance(entry, dict):
        return str(entry.get("url") or ""), {
            str(k): str(v) for k, v in (entry.get("headers") or {}).items()
        }
    return str(entry or ""), {}


def action_is_automated(action: PreventiveAction) -> bool:
    """Whether executing this action calls its webhook (automation on, automatable, configured)."""
    return bool(
        settings.ML_PREDICTION_CONFIG.get("AUTOMATION_ENABLED")
        and action.can_be_automated
        and action_webhook(action.action_type)[0]
    )


def _lock(action_id: Any) -> PreventiveAction:
    try:
        return PreventiveAction.objects.select_for_update().get(action_id=action_id)
    except (PreventiveAction.DoesNotExist, ValueError, ValidationError) as exc:
        raise NotFound(f"action {action_id} does not exist") from exc


def _call_webhook(action: PreventiveAction, executed_by: str) -> tuple[bool, dict[str, Any]]:
    url, headers = action_webhook(action.action_type)
    body = {
        "action_id": str(action.action_id),
        "action_type": action.action_type,
        "service": action.service,
        "title": action.title,
        "description": action.description,
        "priority": action.priority,
        "root_cause": action.root_cause,
        "prediction_id": str(action.prediction_id) if action.prediction_id else None,
        "anomaly_id": str(action.anomaly_id) if action.anomaly_id else None,
        "requested_by": executed_by,
        "requested_at": timezone.now().isoformat(),
    }
    try:
        response = requests.post(url, json=body, headers=headers, timeout=WEBHOOK_TIMEOUT_SECONDS)
    except requests.RequestException as exc:
        return False, {"mode": "webhook", "success": False, "error": f"{type(exc).__name__}: {exc}"}
    try:
        answer: Any = response.json()
    except ValueError:
        answer = response.text[:1000]
    success = 200 <= response.status_code < 300
    result: dict[str, Any] = {
        "mode": "webhook",
        "success": success,
        "status_code": response.status_code,
        "response": answer,
    }
    if not success:
        result["error"] = f"webhook answered {response.status_code}"
    return success, result


def action_execute(
    *, action_id: Any, executed_by: Any, result: dict[str, Any] | None = None
) -> PreventiveAction:
    """Execute an action (the guide's ``action.execute(...)``) and record who, when and the result.

    With automation on and a webhook configured for an automatable action, and no result given,
    the webhook carries it out; a failed call leaves the action unexecuted (so it can be retried)
    with the failure in ``execution_result``. Otherwise the given result is recorded as a manual
    execution. Raises ``InvalidTransition`` for an executed or skipped action, ``NotFound`` for an
    unknown one.
    """
    actor = _actor(executed_by)
    if result is not None and not isinstance(result, dict):
        raise TypeError("result must be a JSON object (dict) or None")
    rejected = ""
    with transaction.atomic(using=ML_DB):
        action = _lock(action_id)
        if action.status in FINAL_STATES:
            rejected = action.status
        else:
            if result is None and action_is_automated(action):
                ok, outcome_result = _call_webhook(action, actor)
            else:
                ok = True
                outcome_result = result if result is not None else {"mode": "manual"}
            action.execution_result = outcome_result
            fields = ["execution_result"]
            if ok:
                action.status = PreventiveAction.Status.EXECUTED
                action.executed_by = actor
                action.executed_at = timezone.now()
                fields += ["status", "executed_by", "executed_at"]
            action.save(update_fields=fields)
            audit_record(
                actor=actor,
                action="action.execute",
                object_type="preventive_action",
                object_id=action.action_id,
                service=action.service,
                outcome="ok" if ok else "failed",
                details={"action_type": action.action_type, "result": outcome_result},
            )
    if rejected:
        audit_record(
            actor=actor,
            action="action.execute",
            object_type="preventive_action",
            object_id=action.action_id,
            service=action.service,
            outcome="rejected",
            details={"action_type": action.action_type, "status": rejected},
        )
        raise InvalidTransition(f"action {action.action_id} is already {rejected}")
    if not ok:
        logger.warning(
            "action %s webhook failed: %s", action.action_id, outcome_result.get("error")
        )
    return action


def action_skip(*, action_id: Any, skipped_by: Any, reason: str = "") -> PreventiveAction:
    """Mark an action as deliberately not done; raises ``InvalidTransition`` when already final."""
    actor = _actor(skipped_by)
    rejected = ""
    with transaction.atomic(using=ML_DB):
        action = _lock(action_id)
        if action.status in FINAL_STATES:
            rejected = action.status
        else:
            action.status = PreventiveAction.Status.SKIPPED
            action.executed_by = actor
            action.executed_at = timezone.now()
            action.execution_result = {"mode": "skipped", "reason": reason}
            action.save(update_fields=["status", "executed_by", "executed_at", "execution_result"])
        audit_record(
            actor=actor,
            action="action.skip",
            object_type="preventive_action",
            object_id=action.action_id,
            service=action.service,
            outcome="rejected" if rejected else "ok",
            details={"action_type": action.action_type, "reason": reason, "status": rejected},
        )
    if rejected:
        raise InvalidTransition(f"action {action.action_id} is already {rejected}")
    return action
