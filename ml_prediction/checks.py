"""System checks on ML_PREDICTION_CONFIG (``manage.py check``, ``runserver``, ``migrate``).

The guide shows two config blocks that name the same setting twice (``ALERT_PROBABILITY`` and
``ALERT_PROBABILITY_THRESHOLD``, …). Settings built from the environment keep each pair equal;
a settings.py edited after the guide's example could change one name only, and half the code
would then page at one threshold and half at the other. Refusing to start says which to fix.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, register

# (the name the code reads, the guide's other name for it, the environment variable)
GUIDE_ALIASES = (
    ("ALERT_PROBABILITY", "ALERT_PROBABILITY_THRESHOLD", "ML_ALERT_PROBABILITY"),
    ("ANOMALY_SCORE_THRESHOLD", "ANOMALY_THRESHOLD", "ML_ANOMALY_THRESHOLD"),
    ("TRAINING_SCHEDULE", "MODEL_RETRAINING_INTERVAL", "ML_TRAINING_INTERVAL"),
)


@register()
def guide_aliases_agree(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    config = getattr(settings, "ML_PREDICTION_CONFIG", {}) or {}
    errors = []
    for used, alias, variable in GUIDE_ALIASES:
        if used in config and alias in config and config[used] != config[alias]:
            errors.append(
                Error(
                    f"ML_PREDICTION_CONFIG[{used!r}] is {config[used]!r} but "
                    f"[{alias!r}] is {config[alias]!r}; they are the guide's two names for one "
                    "setting.",
                    hint=f"Give both the same value, or set {variable} in the environment "
                    "and leave both keys to it.",
                    id="ml_prediction.E001",
                )
            )
    return errors
