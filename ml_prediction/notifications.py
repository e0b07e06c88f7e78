"""Alert channels: the HTML/text email and the Slack Block Kit message, plus the guide's helper.

Rendering works from the payload stored on an ``AlertNotification`` (plain JSON), so a retried
delivery sends exactly what was decided. Decisions live in ``ml_prediction.services.alerts``.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from ml_prediction.engines.forecasting import format_number, format_time

logger = logging.getLogger(__name__)

HTTP_TIMEOUT_SECONDS = 10
SLACK_MAX_ITEMS = 10  # digest items shown in Slack; Block Kit allows 50 blocks per message
REDACTED = "…"


class WebhookError(RuntimeError):
    """A webhook call that failed, described without the webhook's URL (see ``webhook_failure``)."""


def _config() -> dict[str, Any]:
    return settings.ML_PREDICTION_CONFIG


def _addresses(key: str) -> list[str]:
    """A config key holding several comma-separated addresses."""
    return [a.strip() for a in str(_config().get(key) or "").split(",") if a.strip()]


def alert_recipients() -> list[str]:
    """ML_ALERT_EMAIL: the people on call."""
    return _addresses("ALERT_EMAIL")


def team_recipients() -> list[str]:
    """ML_TEAM_EMAIL: the people who look after the models (several, comma-separated)."""
    return _addresses("TEAM_EMAIL")


def send_training_failure_email(*, service: str, failures: list[Any]) -> bool:
    """Tell ML_TEAM_EMAIL that training runs of ``service`` failed; whether a mail went out.

    A failed nightly training is silent otherwise: the active model keeps serving, so nothing
    pages, and the model ages until somebody opens the training history. It is the ML team's
    business, not the on-call's (ML_ALERT_EMAIL). A mail that cannot be sent is logged; it
    never fails the training task.
    """
    recipients = team_recipients()
    if not recipients or not failures:
        return False
    base = str(_config().get("DASHBOARD_BASE_URL") or "").rstrip("/")
    names = ", ".join(f"{h.model_type} ({h.model_algorithm or 'all'})" for h in failures)
    lines = [
        f"Training of {service} failed for {len(failures)} model(s): {names}.",
        "The active models keep serving; they are not retrained until a run succeeds.",
        "",
    ]
    for h in failures:
        lines += [
            f"- {h.model_type} / {h.model_algorithm or 'all'} (training {h.training_id}),"
            f" started {format_time(h.started_at)}:",
            f"  {h.failure_reason or 'no reason recorded'}",
        ]
    lines += [
        "",
        f"History: {base}/admin/ml_prediction/modeltraininghistory/?service={service}&status=failed",
        f"Retry by hand: python manage.py train_models --service {service}",
    ]
    subject = _one_line(f"[Feeding Hearts ML] training failed: {service}: {names}")[:200]
    try:
        EmailMultiAlternatives(
            subject=subject,
            body="\n".join(lines),
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=recipients,
        ).send(fail_silently=False)
    except Exception:
        logger.exception("could not mail the training failures of %s to ML_TEAM_EMAIL", service)
        return False
    return True


def _override(service: str) -> str:
    overrides = _config().get("SLACK_CHANNEL_OVERRIDES") or {}
    return str(overrides.get(service) or "").strip()


def slack_webhook_url(service: str) -> str:
    """The webhook for a service: its override when that is a URL, else ML_SLACK_WEBHOOK_URL."""
    override = _override(service)
    if override.startswith(("http://", "https://")):
        return override
    return str(_config().get("SLACK_WEBHOOK_URL") or "").strip()


def slack_channel(service: str) -> str:
    """A channel name override (``#ops-django``) for legacy webhooks that honour ``channel``."""
    override = _override(service)
    return "" if override.startswith(("http://", "https://")) else override


# --- webhook URLs are credentials ------------------------------------------------------------
# A Slack incoming webhook, and usually an action webhook, authenticates by its path or query
# (``/services/T…/B…/secret``, ``?token=…``). Whatever is stored or logged about a call (the
# alert's ``last_error``, an action's ``execution_result``, the audit trail, the log files) is
# readable by read-only users, so it names the host only. requests' and urllib3's exception
# messages embed the whole URL: they are never used, the text is built here instead.


def webhook_host(url: str) -> str:
    """``host[:port]`` of a webhook URL: the part a message may name (no user:password@)."""
    return urlsplit(url).netloc.rpartition("@")[2] or "the configured host"


def _os_reason(exc: BaseException) -> str:
    """The operating system's reason under a requests error (``Connection refused``), if any.

    Followed through urllib3's ``reason`` and the exception chain; an ``OSError``'s strerror
    comes from the OS and never holds the URL.
    """
    current: BaseException | None = exc
    for _ in range(10):
        if current is None:
            break
        if isinstance(current, OSError) and current.strerror:
            return str(current.strerror)
        reason = getattr(current, "reason", None)
        current = (
            reason
            if isinstance(reason, BaseException)
            else (current.__cause__ or current.__context__)
        )
    return ""


def webhook_failure(exc: BaseException, url: str) -> str:
    """``ConnectionError calling hooks.example:443 (Connection refused)``: the type, the host
    and the OS reason of a failed call, never the exception's message (it holds the URL)."""
    reason = _os_reason(exc)
    text = f"{type(exc).__name__} calling {webhook_host(url)}"
    return f"{text} ({reason})" if reason else text


def redact_url_secrets(text: str, url: str) -> str:
    """``text`` (a receiver's answer) without the URL's path, query, credentials or any of their
    parts: a receiver's error page often echoes the path it was called on."""
    parts = urlsplit(url)
    secrets = [parts.path, parts.query, parts.netloc.rpartition("@")[0]]
    secrets += parts.path.split("/") + [value for _, value in parse_qsl(parts.query)]
    for secret in sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


# --- formatting shared by both channels ----------------------------------------------------------


def format_minutes(minutes: Any) -> str:
    try:
        value = int(minutes)
    except (TypeError, ValueError):
        return ""
    if value < 120:
        return f"{value} minutes"
    if value < 48 * 60:
        return f"{value / 60:g} hours"
    return f"{value / 1440:g} days"


def format_factor(factor: dict[str, Any]) -> str:
    if factor.get("kind") == "measurement":
        return format_measurement(factor)
    text = factor.get("description") or factor.get("feature") or ""
    parts = []
    if factor.get("value") is not None:
        parts.append(f"value {_number(factor['value'])}")
    if factor.get("contribution") is not None:
        parts.append(f"contribution {_number(factor['contribution'], signed=True)}")
    if factor.get("description") and factor.get("feature"):
        parts.insert(0, str(factor["feature"]))
    return f"{text} ({', '.join(parts)})" if parts else str(text)


def format_measurement(factor: dict[str, Any]) -> str:
    """An anomaly's context value as ``name = value unit (what it is)``: ``rt_p95 = 30,976 ms
    (p95 response time of the bucket's failed requests)``; a share is shown in percent."""
    value: Any = factor.get("value")
    unit = str(factor.get("unit") or "")
    if unit == "%":
        try:
            shown = f"{float(value):.0%}"
        except (TypeError, ValueError):
            shown = str(value)
    else:
        shown = f"{_number(value)}{unit}"
    text = f"{factor.get('feature', '')} = {shown}"
    meaning = factor.get("meaning")
    return f"{text} ({meaning})" if meaning else text


def _number(value: Any, *, signed: bool = False) -> str:
    """A number as people read it (``28,700``, ``89.5``, ``+0.61``), never ``2.87e+04``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    text = format_number(number)
    return f"+{text}" if signed and number > 0 else text


def _optional_number(value: Any) -> str:
    return "" if value is None else _number(value)


def _readable_time(value: Any) -> str:
    """An ISO timestamp of a payload as the texts show times (``2026-11-27 13:40 UTC``)."""
    if not value:
        return ""
    try:
        return format_time(datetime.fromisoformat(str(value)))
    except ValueError:
        return str(value)


def alert_context(payload: dict[str, Any]) -> dict[str, Any]:
    """Display strings for one alert payload (a digest item is an alert payload too)."""
    probability = payload.get("probability")
    return {
        **payload,
        "probability_pct": f"{float(probability):.0%}" if probability is not None else "",
        "base_rate_pct": (
            f"{float(payload['base_rate']):.0%}" if payload.get("base_rate") is not None else ""
        ),
        # the templates show these as they are: readable text, not raw floats
        "observed_value": _optional_number(payload.get("observed_value")),
        "expected_value": _optional_number(payload.get("expected_value")),
        # every text writes times one way (``2026-11-27 15:30 UTC``), the payload keeps ISO
        "window_start": _readable_time(payload.get("window_start")),
        "window_end": _readable_time(payload.get("window_end")),
        "incident_start": _readable_time(payload.get("incident_start")),
        "incident_peak": _optional_number(payload.get("incident_peak")),
        "value_unit": str(payload.get("value_unit") or ""),
        "time_estimate": format_minutes(payload.get("time_horizon_minutes")),
        # the horizon's end: the prediction says "by then", not "around then"
        "predicted_by": _readable_time(payload.get("predicted_timestamp")),
        "factor_lines": [format_factor(f) for f in payload.get("factors") or []],
        "action_lines": [
            a.get("title", "") + (" (automatable)" if a.get("can_be_automated") else "")
            for a in payload.get("recommended_actions") or []
            if a.get("title")
        ],
        "headline": headline(payload),
        "horizon_lines": [
            f"{float(h['probability']):.0%} within {format_minutes(h['minutes'])}"
            for h in payload.get("horizons") or []
        ],
        "likely_type_lines": [
            f"{t['error_type']} {float(t['probability']):.0%} within {format_minutes(t['minutes'])}"
            for t in payload.get("likely_types") or []
        ],
        "outlook_lines": [_outlook_line(item) for item in payload.get("outlook") or []],
    }


def _outlook_line(prediction: dict[str, Any]) -> str:
    """One prediction folded into an anomaly alert: what is expected next, and by when."""
    context = alert_context(prediction)
    line = (
        f"{prediction.get('risk') or prediction.get('error_type', '')}: "
        f"{context['probability_pct']} within "
        f"{context['time_estimate']} (by {context['predicted_by']})"
    )
    if len(context["horizon_lines"]) > 1:
        line += f"; by horizon: {', '.join(context['horizon_lines'])}"
    if context["likely_type_lines"]:
        line += f"; likely types: {', '.join(context['likely_type_lines'])}"
    return line


def _unit(payload: dict[str, Any]) -> str:
    return f" {payload['value_unit']}" if payload.get("value_unit") else ""


def headline(payload: dict[str, Any]) -> str:
    """One line with the facts, used in digests and as the Slack fallback text."""
    kind = payload.get("kind")
    if kind == "digest":
        return payload.get("subject", "")
    if kind == "resolved":
        text = (
            f"{payload.get('service', '')} {payload.get('metric_name', '')} back to normal: "
            f"{_readable_time(payload.get('window_start'))} – "
            f"{_readable_time(payload.get('window_end'))} "
            f"({format_minutes(payload.get('duration_minutes'))})"
        )
        if payload.get("peak_value") is not None:
            text += f", peak {_number(payload.get('peak_value'))}{_unit(payload)}"
        if payload.get("acknowledged_by"):
            text += f"; acknowledged by {', '.join(payload['acknowledged_by'])}"
        return text
    if kind == "anomaly":
        text = (
            f"{payload.get('severity', '')} {payload.get('anomaly_type') or 'anomaly'} in "
            f"{payload.get('metric_name', '')} on {payload.get('service', '')}: observed "
            f"{_number(payload.get('observed_value'))}, expected "
            f"{_number(payload.get('expected_value'))}{_unit(payload)}"
            + f" (score {payload.get('anomaly_score')}, "
            f"{payload.get('buckets_in_window')} anomalous buckets in "
            f"{payload.get('window_minutes')} min)"
        )
        if payload.get("incident_start"):
            text += f"; incident since {_readable_time(payload['incident_start'])}"
        outlook = payload.get("outlook") or []
        if outlook:
            first = outlook[0]
            pct = f"{float(first.get('probability') or 0.0):.0%}"
            text += (
                f"; outlook: {first.get('error_type', '')} {pct} within "
                f"{format_minutes(first.get('time_horizon_minutes'))}"
            )
        return text
    probability = payload.get("probability")
    pct = f"{float(probability):.0%}" if probability is not None else "?"
    return (
        f"{risk_name(payload.get('category'), payload.get('error_type', ''))} on "
        f"{payload.get('service', '')}: {pct} within "
        f"{format_minutes(payload.get('time_horizon_minutes'))}"
    )


def risk_name(category: Any, error_type: Any) -> str:
    """What a prediction warns of, as a page names it.

    The critical head predicts critical errors of any type (named after the service's most
    frequent critical type): found on call, "HIGH RISK: OperationalError on django" read as a
    forecast of that one type.
    """
    if category == "critical":
        usual = str(error_type or "")
        return "critical errors" + (
            f" (most often {usual})" if usual and usual != "CriticalError" else ""
        )
    return str(error_type or "")


# --- email ---------------------------------------------------------------------------------------


def _one_line(subject: Any) -> str:
    """Subjects come from stored error types: no newlines (header injection), never empty."""
    return " ".join(str(subject or "ML alert").split()) or "ML alert"


def render_alert_email(payload: dict[str, Any]) -> tuple[str, str, str]:
    """(subject, plain text, HTML) of an alert or digest email."""
    context = alert_context(payload)
    context["items"] = [alert_context(item) for item in payload.get("items") or []]
    text = render_to_string("prediction_alert.txt", context)
    html = render_to_string("prediction_alert.html", context)
    return _one_line(payload.get("subject"))[:200], text, html


def send_alert_email(payload: dict[str, Any]) -> None:
    """Send through Django's email backend (EMAIL_HOST, EMAIL_PORT, … from the environment)."""
    recipients = alert_recipients()
    if not recipients:
        raise ValueError("ML_ALERT_EMAIL is empty")
    subject, text, html = render_alert_email(payload)
    message = EmailMultiAlternatives(
        subject=subject, body=text, from_email=settings.DEFAULT_FROM_EMAIL, to=recipients
    )
    message.attach_alternative(html, "text/html")
    message.send(fail_silently=False)


# --- Slack ---------------------------------------------------------------------------------------


def _esc(text: Any) -> str:
    """Slack mrkdwn needs &, < and > escaped."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _mrkdwn(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": _cut(text, 3000)}


def _alert_blocks(context: dict[str, Any]) -> list[dict[str, Any]]:
    if context.get("kind") == "resolved":
        return [{"type": "section", "text": _mrkdwn(_cut(_esc(context["headline"]), 3000))}]
    if context.get("kind") == "anomaly":
        fields = [
            f"*Service*\n{_esc(context['service'])}",
            f"*Metric*\n{_esc(context.get('metric_name', ''))}",
            f"*Severity*\n{_esc(context.get('severity', ''))}",
            f"*Score*\n{context.get('anomaly_score')}",
            f"*Observed / expected*\n{context['observed_value']} / {context['expected_value']}"
            + (f" {_esc(context['value_unit'])}" if context["value_unit"] else ""),
            f"*Anomalous buckets*\n{context.get('buckets_in_window')} in "
            f"{context.get('window_minutes')} min",
        ]
        if context["incident_start"]:
            fields.append(
                f"*Incident since*\n{context['incident_start']}"
                + (f" (peak {context['incident_peak']})" if context["incident_peak"] else "")
            )
        fields.append(f"*Worst bucket*\n{context['window_start']} – {context['window_end']}")
    else:
        fields = [
            f"*Service*\n{_esc(context['service'])}",
            f"*Error type*\n{_esc(context.get('risk') or context.get('error_type', ''))}",
            f"*Probability*\n{context['probability_pct']}",
            f"*Time estimate*\nwithin {context['time_estimate']}",
            f"*Severity*\n{_esc(context.get('severity', ''))}",
        ]
        if context["likely_type_lines"]:
            fields.append(f"*Likely types*\n{_esc('; '.join(context['likely_type_lines']))}")
    blocks: list[dict[str, Any]] = [
        {"type": "section", "fields": [_mrkdwn(_cut(f, 2000)) for f in fields[:10]]}
    ]
    if context["outlook_lines"]:
        lines = "\n".join(f"• {_esc(line)}" for line in context["outlook_lines"])
        blocks.append({"type": "section", "text": _mrkdwn(_cut(f"*Outlook*\n{lines}", 3000))})
    if context["factor_lines"]:
        lines = "\n".join(f"• {_esc(line)}" for line in context["factor_lines"])
        blocks.append({"type": "section", "text": _mrkdwn(f"*Top contributing factors*\n{lines}")})
    if context.get("root_cause_hypothesis"):
        blocks.append(
            {
                "type": "section",
                "text": _mrkdwn(
                    f"*Root-cause hypothesis*\n{_esc(context['root_cause_hypothesis'])}"
                ),
            }
        )
    if context.get("root_cause_path"):
        lines = "\n".join(f"• {_esc(str(step))}" for step in context["root_cause_path"])
        blocks.append(
            {"type": "section", "text": _mrkdwn(_cut(f"*Why this cause*\n{lines}", 3000))}
        )
    if context["action_lines"]:
        lines = "\n".join(f"• {_esc(line)}" for line in context["action_lines"])
        blocks.append({"type": "section", "text": _mrkdwn(f"*Recommended actions*\n{lines}")})
    return blocks


def slack_message(payload: dict[str, Any], *, channel: str = "") -> dict[str, Any]:
    """An incoming-webhook message in Block Kit with the same facts as the email."""
    context = alert_context(payload)
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _cut(_one_line(payload.get("subject")), 150)},
        }
    ]
    if payload.get("kind") == "digest":
        items = payload.get("items") or []
        blocks.append(
            {
                "type": "section",
                "text": _mrkdwn(
                    f"{len(items)} alerts fired at once for *{_esc(payload.get('service', ''))}*; "
                    "they are summarised here instead of paging one by one."
                ),
            }
        )
        for item in items[:SLACK_MAX_ITEMS]:
            blocks.append({"type": "section", "text": _mrkdwn(f"• {_esc(headline(item))}")})
        if len(items) > SLACK_MAX_ITEMS:
            blocks.append(
                {
                    "type": "context",
                    "elements": [_mrkdwn(f"and {len(items) - SLACK_MAX_ITEMS} more in the email")],
                }
            )
    else:
        blocks.extend(_alert_blocks(context))
    buttons = []
    if payload.get("api_url"):
        buttons.append(
            {
                "type": "button",
                "text": {"type": "plain_text", "text": "Open in API"},
                "url": _cut(payload["api_url"], 3000),
                "action_id": "open_api",
            }
        )
    if payload.get("dashboard_url"):
        buttons.append(
            {
                "type": "button",
                "text": {"type": "plain_text", "text": "Open dashboard"},
                "url": _cut(payload["dashboard_url"], 3000),
                "action_id": "open_dashboard",
            }
        )
    if buttons:
        blocks.append({"type": "actions", "elements": buttons})
    # the fallback text (notifications, old clients) is mrkdwn too: error types come from
    # ingestion, so unescaped they could post links or an @channel
    message: dict[str, Any] = {"text": _cut(_esc(headline(payload)), 3000), "blocks": blocks}
    if channel:
        message["channel"] = channel
    return message


def send_slack_alert(payload: dict[str, Any], *, service: str) -> None:
    """POST the Block Kit message to the service's webhook; any answer but 2xx is a failure.

    Failures raise ``WebhookError`` naming the host and status only (the URL is the secret), and
    not chained to requests' exception, whose message and traceback carry the URL.
    """
    url = slack_webhook_url(service)
    if not url:
        raise ValueError("no Slack webhook configured (ML_SLACK_WEBHOOK_URL)")
    message = slack_message(payload, channel=slack_channel(service))
    try:
        response = requests.post(url, json=message, timeout=HTTP_TIMEOUT_SECONDS)
    except requests.RequestException as exc:
        raise WebhookError(webhook_failure(exc, url)) from None
    if not 200 <= response.status_code < 300:
        answer = redact_url_secrets(response.text[:2000], url)[:200]
        raise WebhookError(
            f"Slack webhook at {webhook_host(url)} answered {response.status_code}: {answer}"
        )


# --- the guide's helper ---------------------------------------------------------------------------


def notify_prediction(prediction: Any) -> list:
    """The guide's ``notify_prediction(prediction)``: alert on a high-risk prediction.

    Goes through the same rules as automatic alerts (threshold, cooldown, false-positive
    feedback), so calling it in a loop cannot flood anyone. Returns the notifications recorded.
    """
    from ml_prediction.services.alerts import alerts_evaluate

    if float(prediction.probability) < _config()["ALERT_PROBABILITY"]:
        return []
    return alerts_evaluate(
        service=prediction.service,
        prediction_ids=[prediction.prediction_id],
        anomaly_ids=[],
        learning=False,
        triggered_by="notify_prediction",
    )
