"""The ops dashboard: one page, a live-refreshed panel partial, and POST buttons.

Views are thin: reads come from ``dashboard.selectors`` (which defers to the API's selectors for
the summary), state changes call the same services the API calls, with the session user as actor.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from dashboard import selectors
from dashboard.charts import render_service_chart
from feeding_hearts.throttling import ThrottledAuthenticationForm, login_view_throttled
from ml_prediction.engines.catalog import INCIDENT, duration_text
from ml_prediction.permissions_setup import OPS_PERMISSION
from ml_prediction.services.errors import InvalidTransition, NotFound

logger = logging.getLogger("ml_prediction.dashboard")
VERDICTS = {"true_positive": "true positive", "false_positive": "false positive"}


# Session sign-in, behind the sign-in throttle: a refused form answers 429 and says when to retry.
dashboard_login = login_view_throttled(
    LoginView.as_view(
        template_name="dashboard/login.html",
        redirect_authenticated_user=True,
        authentication_form=ThrottledAuthenticationForm,
    )
)


def _refresh_seconds() -> int:
    return int(getattr(settings, "DASHBOARD_REFRESH_SECONDS", 15))


def _factor_text(factor: Any) -> str:
    if isinstance(factor, dict):
        if factor.get("description"):
            return str(factor["description"])
        name = factor.get("feature") or factor.get("name") or "factor"
        contribution = factor.get("contribution")
        if isinstance(contribution, int | float):
            return f"{name} ({contribution:+.2f})"
        return str(name)
    return str(factor)


def _action_text(action: Any) -> str:
    if isinstance(action, dict):
        return str(action.get("title") or action.get("action_type") or action.get("action") or "")
    return str(action)


def _prediction_rows(predictions: list) -> list[dict[str, Any]]:
    """The high-risk table's risks: one per service and predicted error, its horizons beneath.

    The predictor answers each horizon (30 min, 2 h, 24 h) for each target, so one burst in
    progress filled the table with six rows saying the same thing three times; people read
    the risk once, with how likely it is at each horizon. Each horizon keeps its own row
    (probability, horizon, feedback: "it happened within 30 min" is not "within 24 h"), and
    the why and the actions, shared, are the likeliest horizon's. Risks come most likely
    first (``predictions`` is), horizons shortest first.

    A service's burst of any type (the incident target) and the error types predicted with it
    are one risk too: the demo's pool burst still read as two groups, "ErrorBurst" and
    "OperationalError", with the same cause and actions. The typed predictions are rows of the
    incident's group ("likely type"), each with its own probabilities and feedback; the why
    and actions are the incident's. ``rows`` lists every row of a group in order.
    """
    from ml_prediction.services.feedback import horizon_of

    risks: dict[tuple, dict[str, Any]] = {}
    for p in predictions:
        key = (p.service, p.predicted_error_type, p.predicted_category)
        risk = risks.get(key)
        if risk is None:  # the likeliest horizon of the risk: its why and actions
            titles = [_action_text(a) for a in (p.recommended_actions or [])]
            titles += [a.title for a in p.actions.all() if a.title not in titles]
            made_at, _ = horizon_of(p)  # the cause was written when the prediction was made
            risk = risks[key] = {
                "obj": p,
                "factors": [_factor_text(f) for f in (p.contributing_factors or [])[:3]],
                "actions": [t for t in titles if t][:3],
                "cause": selectors.cause_as_of(p.root_cause_hypothesis, at=made_at),
                "why_horizon": duration_text(p.time_horizon_minutes),
                "horizons": [],
            }
        risk["horizons"].append({"obj": p, "horizon": duration_text(p.time_horizon_minutes)})
    for risk in risks.values():
        risk["horizons"].sort(key=lambda h: h["obj"].time_horizon_minutes)
    incidents = {
        risk["obj"].service: risk
        for risk in risks.values()
        if risk["obj"].predicted_category == INCIDENT
    }
    groups = []
    for risk in risks.values():
        parent = incidents.get(risk["obj"].service)
        if parent is not None and parent is not risk:
            parent.setdefault("types", []).append(risk)
        else:
            groups.append(risk)
    for group in groups:
        group["rows"] = [
            {**h, "label": i == 0, "span": len(part["horizons"]), "typed": part is not group}
            for part in (group, *group.get("types", ()))
            for i, h in enumerate(part["horizons"])
        ]
    return groups


def _panel_context(request: HttpRequest) -> dict[str, Any]:
    from ml_prediction.services.actions import action_is_automated

    charts = selectors.service_charts(days=3)
    actions = selectors.pending_actions()
    summary = selectors.dashboard_summary()
    anomalies = selectors.open_anomaly_episodes()
    predictions = selectors.high_risk_predictions()
    return {
        "summary": summary,
        "attention": selectors.anomaly_attention(now=summary["timestamp"]),
        "charts": [{"chart": c, "svg": render_service_chart(c)} for c in charts],
        "predictions": _prediction_rows(predictions),
        "prediction_count": len(predictions),
        "anomalies": anomalies,
        "anomaly_buckets": sum(e.bucket_count for e in anomalies),
        "acknowledged": selectors.acknowledged_anomaly_episodes(now=summary["timestamp"]),
        "actions": actions,
        "automated_action_ids": {a.action_id for a in actions if action_is_automated(a)},
        "insights": selectors.active_insights(),
        "can_act": request.user.has_perm(OPS_PERMISSION),
        "updated_at": timezone.now(),
    }


@login_required
@require_GET
def dashboard_index(request: HttpRequest) -> HttpResponse:
    context = _panel_context(request)
    context["refresh_seconds"] = _refresh_seconds()
    return render(request, "dashboard/index.html", context)


@login_required
@require_GET
def dashboard_panels(request: HttpRequest) -> HttpResponse:
    """The panels alone: the page's script swaps them in without reloading."""
    return render(request, "dashboard/_panels.html", _panel_context(request))


def _wants_json(request: HttpRequest) -> bool:
    return request.headers.get("X-Requested-With") == "fetch"


def _finish(request: HttpRequest, *, ok: bool, message: str, status: int = 200) -> HttpResponse:
    """JSON for the page's script; a redirect with a flash message for a plain form post."""
    if _wants_json(request):
        return JsonResponse({"ok": ok, "message": message}, status=status)
    if ok:
        messages.success(request, message)
    else:
        messages.error(request, message)
    return redirect("dashboard:index")


def _run(
    request: HttpRequest, action: Any, success: str | Callable[[Any], tuple[bool, str]]
) -> HttpResponse:
    """Call a service for an ops button; ``success`` is the flash message, or a function of the
    service's return value giving (succeeded, message) when only the outcome says what happened
    (a webhook may fail)."""
    if not request.user.has_perm(OPS_PERMISSION):
        if _wants_json(request):
            return JsonResponse({"ok": False, "message": "Only ops users may do this."}, status=403)
        return HttpResponseForbidden("Only ops users may do this.")
    try:
        outcome = action()
    except NotFound as exc:
        return _finish(request, ok=False, message=str(exc) or "Not found.", status=404)
    except InvalidTransition as exc:
        return _finish(request, ok=False, message=str(exc), status=409)
    except (ValidationError, ValueError) as exc:
        text = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
        return _finish(request, ok=False, message=text, status=400)
    if isinstance(success, str):
        return _finish(request, ok=True, message=success)
    ok, message = success(outcome)
    return _finish(request, ok=ok, message=message, status=200 if ok else 502)


def _actor(request: HttpRequest) -> str:
    return request.user.get_username()


@login_required
@require_POST
def anomaly_acknowledge_view(request: HttpRequest, anomaly_id: uuid.UUID) -> HttpResponse:
    from ml_prediction.services.feedback import anomaly_acknowledge

    return _run(
        request,
        lambda: anomaly_acknowledge(anomaly_id=anomaly_id, actor=_actor(request)),
        "Anomaly acknowledged.",
    )


@login_required
@require_POST
def prediction_feedback_view(request: HttpRequest, prediction_id: uuid.UUID) -> HttpResponse:
    from ml_prediction.services.feedback import prediction_feedback_record

    verdict = request.POST.get("verdict", "")
    if verdict not in VERDICTS:
        return _finish(
            request,
            ok=False,
            message="verdict must be true_positive or false_positive.",
            status=400,
        )
    return _run(
        request,
        lambda: prediction_feedback_record(
            prediction_id=prediction_id,
            verdict=verdict,
            comment=request.POST.get("comment", "")[:2000],
            actor=_actor(request),
        ),
        f"Prediction marked as {VERDICTS[verdict]}.",
    )


@login_required
@require_POST
def prediction_occurred_view(request: HttpRequest, prediction_id: uuid.UUID) -> HttpResponse:
    from ml_prediction.models import ErrorPrediction
    from ml_prediction.services.feedback import prediction_mark_occurred

    prediction = ErrorPrediction.objects.filter(pk=prediction_id).first()
    found = selectors.matching_error(prediction=prediction) if prediction else None
    error_id, occurred_at = found if found else (None, timezone.now())
    return _run(
        request,
        lambda: prediction_mark_occurred(
            prediction_id=prediction_id,
            error_id=error_id,
            timestamp=occurred_at,
            actor=_actor(request),
        ),
        "Prediction marked as occurred.",
    )


ACTION_MODES = ("automate", "manual")


@login_required
@require_POST
def action_execute_view(request: HttpRequest, action_id: uuid.UUID) -> HttpResponse:
    """The Execute / Mark as done button: what the API's execute does, said as it happened.

    ``mode=automate`` (the "Execute" button of an automated action) passes no result, so the
    service calls the webhook, or refuses (400) if automation went away since the page was
    drawn, rather than pretending. ``mode=manual`` ("Mark as done") records that the person did
    it by hand. No mode behaves like the API without a body.
    """
    from ml_prediction.services.actions import action_execute, action_outcome_message

    mode = request.POST.get("mode", "automate")
    if mode not in ACTION_MODES:
        return _finish(request, ok=False, message="mode must be automate or manual.", status=400)
    result = None
    if mode == "manual":
        note = request.POST.get("note", "").strip()[:2000]
        result = {"mode": "manual", "source": "dashboard", "note": note or "done by hand"}
    return _run(
        request,
        lambda: action_execute(action_id=action_id, executed_by=_actor(request), result=result),
        action_outcome_message,
    )


@login_required
@require_POST
def action_skip_view(request: HttpRequest, action_id: uuid.UUID) -> HttpResponse:
    from ml_prediction.services.actions import action_skip

    reason = request.POST.get("reason", "").strip()[:2000] or "skipped on the dashboard"
    return _run(
        request,
        lambda: action_skip(action_id=action_id, skipped_by=_actor(request), reason=reason),
        lambda action: (True, f"Skipped: {action.title} ({action.service})."),
    )
