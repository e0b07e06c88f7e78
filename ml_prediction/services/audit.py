"""The audit trail: who did what to which object, and when."""

from __future__ import annotations

from typing import Any

from ml_prediction.models import AuditEvent

# Every ``action`` the code records: the closed set the audit list's ``action`` filter accepts
# (an unknown value is a 400, not an empty page). A test checks each ``audit_record`` call uses
# one of these.
AUDIT_ACTIONS: tuple[str, ...] = (
    "action.execute",
    "action.skip",
    "analysis.predict_for_error",
    "analysis.trigger",
    "analysis.trigger_all",
    "anomaly.acknowledge",
    "anomaly.acknowledge_carried",
    "api.denied",
    "insight.acknowledge",
    "insight.dismiss",
    "prediction.feedback",
    "prediction.mark_occurred",
    "prediction.trigger_alert",
)


def audit_record(
    *,
    actor: str,
    action: str,
    object_type: str,
    object_id: Any = "",
    service: str = "",
    outcome: str = "ok",
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Store one audit event; callers pass the acting user's name ("system" for automation)."""
    return AuditEvent.objects.create(
        actor=actor or "anonymous",
        action=action,
        object_type=object_type,
        object_id=str(object_id or ""),
        service=service,
        outcome=outcome,
        details=details or {},
    )
