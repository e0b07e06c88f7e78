"""Preventive-action execution: record who did what and with which result, optionally by webhook.

An automatable action is carried out by POSTing it to the webhook configured for its type
(``ML_ACTION_WEBHOOKS``) only when ``ML_AUTOMATION_ENABLED`` is true; otherwise executing an
action records a person's (or a script's) report that it was done, and that report (a result)
is required: "execute" without one and without automation would record work nobody did.
Pending actions whose incident is over expire (skipped, ``mode: expired``). Every attempt is
audited.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any

import requests
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from ml_prediction.models import AnomalyDetection, ErrorPrediction, PreventiveAction
from ml_prediction.notifications import redact_url_secrets, webhook_failure, webhook_host
from ml_prediction.services.audit import audit_record
from ml_prediction.services.errors import InvalidTransition, NotFound

logger = logging.getLogger(__name__)

ML_DB = "ml_prediction"
WEBHOOK_TIMEOUT_SECONDS = 10
FINAL_STATES = (PreventiveAction.Status.EXECUTED, PreventiveAction.Status.SKIPPED)
PENDING_STATES = (PreventiveAction.Status.RECOMMENDED, PreventiveAction.Status.SCHEDULED)
SYSTEM_ACTOR = "ml_prediction"
EXPIRED_MODE = "expired"


class ManualResultRequired(ValueError):
    """Executing an action that nothing will carry out, without saying what a person did.

    A ``ValueError`` so the dashboard and the API answer 400 with its message, which says what
    to send instead.
    """


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


def actions_execute_automated(*, action_ids: list[Any], executed_by: str) -> list[str]:
    """Run the recommended actions among ``action_ids`` that automation may run (on, automatable,
    a webhook configured: ``action_is_automated``); the ids of those whose webhook succeeded.

    What ML_AUTOMATION_ENABLED promises: an analysis's new automatable actions are carried out
    without waiting for a person. Each runs through ``action_execute`` (locked, audited); one
    whose webhook fails stays recommended with the failure recorded, for a person to retry; it
    is not retried here, so a broken webhook is called once per new action, not once per run.
    """
    if not settings.ML_PREDICTION_CONFIG.get("AUTOMATION_ENABLED") or not action_ids:
        return []
    executed = []
    for action in PreventiveAction.objects.filter(
        action_id__in=action_ids,
        status=PreventiveAction.Status.RECOMMENDED,
        can_be_automated=True,
    ).order_by("created_at"):
        if not action_is_automated(action):
            continue  # no webhook for this action type: a person must do it
        try:
            done = action_execute(action_id=action.action_id, executed_by=executed_by)
        except InvalidTransition:
            continue  # someone executed or skipped it meanwhile
        except Exception:
            logger.exception("automated action %s failed", action.action_id)
            continue
        if done.status == PreventiveAction.Status.EXECUTED:
            executed.append(str(action.action_id))
    return executed


def _why_not_automated(action: PreventiveAction) -> str:
    """Why executing this action would call nothing (empty when its webhook would be called)."""
    if not settings.ML_PREDICTION_CONFIG.get("AUTOMATION_ENABLED"):
        return "automation is off (ML_AUTOMATION_ENABLED)"
    if not action.can_be_automated:
        return f"{action.action_type} cannot be automated"
    if not action_webhook(action.action_type)[0]:
        return f"no webhook is configured for {action.action_type} (ML_ACTION_WEBHOOKS)"
    return ""


def _lock(action_id: Any) -> PreventiveAction:
    try:
        return PreventiveAction.objects.select_for_update().get(action_id=action_id)
    except (PreventiveAction.DoesNotExist, ValueError, ValidationError) as exc:
        raise NotFound(f"action {action_id} does not exist") from exc


def _call_webhook(action: PreventiveAction, executed_by: str) -> tuple[bool, dict[str, Any]]:
    """POST the action to its webhook; (succeeded, the ``execution_result`` to store).

    The result is shown to read-only users (API, audit, dashboard) and logged, and the webhook's
    URL is a credential: the result names its host, never its path or query (see
    ``notifications.webhook_failure``).
    """
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
    host = webhook_host(url)
    try:
        response = requests.post(url, json=body, headers=headers, timeout=WEBHOOK_TIMEOUT_SECONDS)
    except requests.RequestException as exc:
        return False, {
            "mode": "webhook",
            "success": False,
            "host": host,
            "error": webhook_failure(exc, url),
        }
    # a receiver's error page may echo the path it was called on
    text = redact_url_secrets(response.text, url)
    try:
        answer: Any = json.loads(text)
    except ValueError:
        answer = text[:1000]
    success = 200 <= response.status_code < 300
    result: dict[str, Any] = {
        "mode": "webhook",
        "success": success,
        "host": host,
        "status_code": response.status_code,
        "response": answer,
    }
    if not success:
        result["error"] = f"webhook at {host} answered {response.status_code}"
    return success, result


def action_execute(
    *, action_id: Any, executed_by: Any, result: dict[str, Any] | None = None
) -> PreventiveAction:
    """Execute an action (the guide's ``action.execute(...)``) and record who, when and the result.

    With automation on and a webhook configured for an automatable action, and no result given,
    the webhook carries it out; a failed call leaves the action unexecuted (so it can be retried)
    with the failure in ``execution_result``. A given result is recorded as a manual execution:
    a person reports what they did. With neither (nothing would run it and nobody says they did
    it) ``ManualResultRequired`` is raised and nothing changes: recording "executed" there would
    claim work nobody did. Raises ``InvalidTransition`` for an executed or skipped action,
    ``NotFound`` for an unknown one.
    """
    actor = _actor(executed_by)
    if result is not None and not isinstance(result, dict):
        raise TypeError("result must be a JSON object (dict) or None")
    rejected = ""
    missing_result = ""
    with transaction.atomic(using=ML_DB):
        action = _lock(action_id)
        if action.status in FINAL_STATES:
            rejected = action.status
        elif result is None and not action_is_automated(action):
            missing_result = _why_not_automated(action)
        else:
            if result is None:
                ok, outcome_result = _call_webhook(action, actor)
            else:
                ok, outcome_result = True, result
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
    if rejected or missing_result:
        audit_record(
            actor=actor,
            action="action.execute",
            object_type="preventive_action",
            object_id=action.action_id,
            service=action.service,
            outcome="rejected",
            details={
                "action_type": action.action_type,
                "status": rejected or action.status,
                "reason": missing_result or f"already {rejected}",
            },
        )
    if rejected:
        raise InvalidTransition(f"action {action.action_id} is already {rejected}")
    if missing_result:
        raise ManualResultRequired(
            f'Nothing was done: {missing_result}, so executing "{action.title}" needs a '
            "person to do it. Once done, record it with a result, e.g. "
            '{"result": {"success": true, "note": "what you did"}}; or skip the action.'
        )
    if not ok:
        logger.warning(
            "action %s webhook failed: %s", action.action_id, outcome_result.get("error")
        )
    return action


def action_outcome_message(action: PreventiveAction) -> tuple[bool, str]:
    """(succeeded, one sentence) saying what an ``action_execute`` really did, for people.

    The dashboard's flash message: a webhook call and its answer, or a manual report, never a
    bare "executed" that hides which of the two happened.
    """
    result = action.execution_result or {}
    name = f"{action.title} ({action.service})"
    if result.get("mode") == "webhook":
        if action.status == PreventiveAction.Status.EXECUTED:
            return True, f"{name}: webhook called, answered {result.get('status_code')}; executed."
        return False, (
            f"{name}: the webhook failed ({result.get('error')}); the action is still pending: "
            "try again, or do it by hand and mark it done."
        )
    return True, f"{name}: marked as done by hand by {action.executed_by}."


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


def _episode_ends(service: str, anomaly_ids: set[Any]) -> dict[Any, datetime]:
    """anomaly_id → end of the anomalous episode holding that anomaly (consecutive flagged
    buckets of the service, any metric: how the orchestrator groups episodes)."""
    linked = {
        pk: (start, end)
        for pk, start, end in AnomalyDetection.objects.filter(pk__in=anomaly_ids).values_list(
            "pk", "window_start", "window_end"
        )
    }
    if not linked:
        return {}
    buckets = list(
        AnomalyDetection.objects.filter(
            service=service,
            is_anomaly=True,
            window_start__gte=min(start for start, _ in linked.values()),
        )
        .order_by("window_start")
        .values_list("window_start", "window_end")
        .distinct()
    )
    ends: dict[Any, datetime] = {}
    for anomaly_id, (start, end) in linked.items():
        for bucket_start, bucket_end in buckets:
            if bucket_start < start:
                continue
            if bucket_start > end:
                break  # a gap: the episode ended at ``end``
            end = max(end, bucket_end)
        ends[anomaly_id] = end
    return ends


def actions_expire(*, service: str, now: datetime | None = None) -> list[Any]:
    """Skip (``mode: expired``) the pending actions of ``service`` whose incident is over.

    Over means every piece of evidence behind the action is history by the product's own line
    between a current incident and history (``ANOMALY_CURRENT_MINUTES``, the line
    ``orchestrator.current_cutoff`` draws for paging and for creating actions): its anomaly
    episode ended before that line, and its prediction's horizon (``predicted_timestamp``)
    passed before it too. The same grace for the prediction keeps a row from flickering
    between two hourly full analyses (the next one re-links a still-current risk to its new
    prediction). An action whose evidence is gone (cleaned up) is over once it was created
    before the line. Nothing is left to prevent then, and stale "pending" work hides the live
    one. Ids of the expired actions.
    """
    now = now or timezone.now()
    minutes = settings.ML_PREDICTION_CONFIG["ANOMALY_CURRENT_MINUTES"]
    cutoff = now - timedelta(minutes=minutes)
    with transaction.atomic(using=ML_DB):
        pending = list(
            PreventiveAction.objects.select_for_update(skip_locked=True).filter(
                service=service, status__in=PENDING_STATES
            )
        )
        episode_ends = _episode_ends(service, {a.anomaly_id for a in pending if a.anomaly_id})
        horizons = dict(
            ErrorPrediction.objects.filter(
                pk__in={a.prediction_id for a in pending if a.prediction_id}
            ).values_list("pk", "predicted_timestamp")
        )
        expired = []
        for action in pending:
            anomaly_over = action.anomaly_id is None or (
                episode_ends.get(action.anomaly_id, now) < cutoff
            )
            prediction_over = action.prediction_id is None or (
                horizons.get(action.prediction_id, now) < cutoff
            )
            no_evidence = action.anomaly_id is None and action.prediction_id is None
            if anomaly_over and prediction_over and (not no_evidence or action.created_at < cutoff):
                expired.append(action)
        reason = (
            f"the incident is over: its anomaly episode ended and its prediction's horizon "
            f"passed more than {minutes} minutes ago (ML_ANOMALY_CURRENT_MINUTES)"
        )
        for action in expired:
            action.status = PreventiveAction.Status.SKIPPED
            action.executed_by = SYSTEM_ACTOR
            action.executed_at = now
            action.execution_result = {"mode": EXPIRED_MODE, "reason": reason}
        PreventiveAction.objects.bulk_update(
            expired, ["status", "executed_by", "executed_at", "execution_result"]
        )
        # an expiry is a skip by the system (the audit filter's ``action.skip``); one event per
        # action, so an action's own trail (object_id) shows its end; a run expires a handful
        for action in expired:
            audit_record(
                actor=SYSTEM_ACTOR,
                action="action.skip",
                object_type="preventive_action",
                object_id=action.action_id,
                service=action.service,
                details={"action_type": action.action_type, "mode": EXPIRED_MODE, "reason": reason},
            )
    return [a.action_id for a in expired]
