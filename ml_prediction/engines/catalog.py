"""Names shared by both apps and by the pure engines: services, severities, categories.

Plain Python with no Django: the engines import it from here; feeding_hearts.catalog re-exports it.
"""

SERVICES: tuple[str, ...] = ("django", "laravel", "java", "react", "angular", "vue", "flutter")
SERVICE_CHOICES = [(s, s.capitalize()) for s in SERVICES]

# ErrorLog severities, lowest to highest.
SEVERITIES: tuple[str, ...] = ("debug", "info", "warning", "error", "critical")

# ErrorLog categories, derived from error type and message at ingestion.
CATEGORIES: tuple[str, ...] = (
    "timeout",
    "connection",
    "auth",
    "database",
    "api",
    "validation",
    "memory",
    "other",
)

# The error predictor's target for "a burst of any category, or critical errors": the event an
# on-call person is paged for; the per-category targets say which kind it is likely to be.
INCIDENT = "incident"

# Severity levels of ML results (anomalies, predictions, actions).
LEVELS: tuple[str, ...] = ("low", "medium", "high", "critical")


def duration_text(minutes: int) -> str:
    """A horizon as people say it: 30 min, 1 h, 1 h 30 min, 24 h ("1440 min" had to be worked
    out). The dashboard and the predictor's explanations say horizons this way."""
    hours, rest = divmod(int(minutes), 60)
    if not hours:
        return f"{rest} min"
    if not rest:
        return f"{hours} h"
    return f"{hours} h {rest} min"
