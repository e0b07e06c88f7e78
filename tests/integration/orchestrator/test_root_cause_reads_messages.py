"""Root cause reads the mechanism from error messages, not only from type names (PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.integration.orchestrator.conftest import BOTH_DBS, load_traffic

pytestmark = pytest.mark.django_db(databases=BOTH_DBS)

# Spring wraps Hikari's timeout: the type names nothing, the message names the pool
SPRING = "org.springframework.transaction.CannotCreateTransactionException"
HIKARI = (
    "Could not open JPA EntityManager for transaction; nested exception is "
    "java.sql.SQLTransientConnectionException: HikariPool-1 - Connection is not available, "
    "request timed out after {n}ms."
)


def _ingest(service: str, items: list[dict]) -> None:
    from error_logging.analysis_trigger import analysis_requests_suspended
    from error_logging.services import ingest_errors

    with analysis_requests_suspended():
        ingest_errors(service=service, items=items)


def _errors(
    error_type: str, message: str, *, count: int, minutes: int, now=None, **extra
) -> list[dict]:
    from django.utils import timezone

    now = now or timezone.now()
    return [
        {
            "error_type": error_type,
            "message": message.format(n=30000 + i),
            "severity": "error",
            "occurred_at": (now - timedelta(seconds=60 + (i * 60 * minutes) // count)).isoformat(),
            **extra,
        }
        for i in range(count)
    ]


def test_each_types_count_is_split_across_its_message_templates(monkeypatch):
    from django.utils import timezone

    from ml_prediction.services import features

    _ingest(
        "java",
        _errors("java.sql.SQLException", HIKARI, count=300, minutes=30)
        + _errors(
            "java.sql.SQLException",
            "Deadlock found when trying to get lock; try restarting transaction ({n})",
            count=100,
            minutes=30,
        )
        + _errors("java.lang.NullPointerException", "", count=50, minutes=30),
    )
    end = timezone.now() + timedelta(minutes=1)

    names = features.error_name_counts_for_service(
        service="java", start=end - timedelta(hours=1), end=end
    )

    assert names == {
        "java.sql.SQLException: Could not open JPA EntityManager for transaction; nested "
        "exception is java.sql.SQLTransientConnectionException: HikariPool-<n> - Connection is "
        "not available, request timed out after <n>ms.": 300,
        "java.sql.SQLException: Deadlock found when trying to get lock; try restarting "
        "transaction (<n>)": 100,
        "java.lang.NullPointerException": 50,  # no message: the bare type
    }
    # an outage hour of more errors than the sample: each type's total stays the exact count,
    # its templates share it in the sample's proportions
    monkeypatch.setattr(features, "NAME_SAMPLE_ROWS", 40)
    sampled = features.error_name_counts_for_service(
        service="java", start=end - timedelta(hours=1), end=end
    )
    sql = {k: v for k, v in sampled.items() if k.startswith("java.sql.SQLException")}
    assert abs(sum(sql.values()) - 400) <= 1
    assert sum(sampled.values()) == pytest.approx(450, abs=2)
    # beyond NAME_LIMIT names the rarest fold back into their type's bare name
    monkeypatch.setattr(features, "NAME_SAMPLE_ROWS", 5000)
    monkeypatch.setattr(features, "NAME_LIMIT", 1)
    folded = features.error_name_counts_for_service(
        service="java", start=end - timedelta(hours=1), end=end
    )
    assert folded == {
        next(iter(names)): 300,
        "java.sql.SQLException": 100,
        "java.lang.NullPointerException": 50,
    }


def _pool_outage(now=None) -> None:
    load_traffic("java", days=0.5, seed=12, end=now)
    _ingest(
        "java",
        _errors(
            SPRING,
            HIKARI,
            count=400,
            minutes=20,
            now=now,
            response_time_ms=30000.0,
            severity="critical",
        ),
    )


def test_a_generic_type_whose_message_names_the_pool_is_explained_as_the_pool():
    """Found in review: the analyses passed the root-cause engine error type names only, so a
    Spring-wrapped Hikari timeout (a *timeout* error to ingestion, at 30 s) read as "a
    dependency is slow" and the first action was a circuit breaker."""
    from ml_prediction.services import PredictionOrchestrator

    _pool_outage()

    summary = PredictionOrchestrator().run_full_analysis("java", "quick")

    assert summary["anomalies"]["detected"] >= 1
    assert summary["root_cause"]["cause_key"] == "db_pool_exhaustion"
    assert "Connection is not available" in summary["root_cause"]["hypothesis"]


def test_past_incidents_are_stored_with_the_message_templates_the_current_one_is_matched_on():
    _assert_library_matches_the_outage()


def _assert_library_matches_the_outage(now=None) -> None:
    """An incident is signed as an analysis 15 minutes into it saw it (the deep rescoring's and
    the evaluation's moment), not at its first bucket: there the outage's errors were a minority
    of the hour's usual ones, and the stored incident looked like the service's normal hour."""
    from django.utils import timezone

    from ml_prediction.engines.root_cause import (
        cosine_similarity,
        incident_signature,
    )
    from ml_prediction.models import MLModel
    from ml_prediction.services import PredictionOrchestrator, registry
    from ml_prediction.services.features import (
        bucket_frame_for_service,
        error_name_counts_for_service,
        lookback_window,
    )
    from ml_prediction.services.training import training_run_for_service

    now = now or timezone.now()
    _pool_outage(now)
    PredictionOrchestrator().run_full_analysis("java", "quick", as_of=now)

    training_run_for_service(service="java", model_types=["root_cause"], as_of=now)

    record = MLModel.objects.get(service="java", model_type="root_cause", status="active")
    library = registry.registry_load(record=record)
    # the outage is the newest incident (a blip of the traffic before it is one of its own)
    incident = max(library.incidents, key=lambda i: i["occurred_at"])
    assert incident["cause_key"] == "db_pool_exhaustion"
    shares = {k: v for k, v in incident["signature"].items() if k.startswith("tpl:")}
    spring = [v for k, v in shares.items() if k.startswith(f"tpl:{SPRING.lower()}: could not")]
    assert spring and spring[0] > 0.5, shares  # the outage's template leads the stored hour
    # ... and the same outage, analysed now, is matched with the stored incident
    start, end = lookback_window(hours=6, as_of=now)
    frame = bucket_frame_for_service(service="java", start=start, end=end)
    names = error_name_counts_for_service(service="java", start=end - timedelta(hours=1), end=end)
    current = incident_signature(frame, error_types=names)
    assert cosine_similarity(current, incident["signature"]) >= 0.8
