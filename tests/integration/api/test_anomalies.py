"""Anomalies: list (service, severity_level, is_anomaly, acknowledged), unacknowledged,
critical, acknowledge."""

from __future__ import annotations

import uuid

import pytest

from ml_prediction.models import AnomalyDetection, AuditEvent
from tests.integration.api.conftest import ids

pytestmark = pytest.mark.django_db(databases=["default", "ml_prediction"])

GUIDE_ANOMALY_KEYS = {
    "anomaly_id",
    "service",
    "anomaly_score",
    "is_anomaly",
    "severity_level",
    "anomaly_type",
    "detected_at",
    "root_cause_hypothesis",
    "recommended_action",
    "acknowledged",
}


@pytest.fixture
def anomalies(make_anomaly):
    return {
        "critical": make_anomaly(),
        "high_acked": make_anomaly(severity_level="high", acknowledged=True),
        "normal": make_anomaly(
            service="django", is_anomaly=False, severity_level="low", anomaly_score=0.1
        ),
        "critical_acked": make_anomaly(service="java", acknowledged=True),
    }


def test_list_has_the_guides_shape(readonly_client, make_anomaly):
    anomaly = make_anomaly()

    body = readonly_client.get("/api/ml/anomalies/").json()

    row = body["results"][0]
    assert GUIDE_ANOMALY_KEYS <= set(row)
    assert row["anomaly_id"] == str(anomaly.anomaly_id)
    assert row["anomaly_score"] == 0.92
    assert row["acknowledged"] is False


def test_each_row_says_which_detector_found_it_rare(readonly_client, make_anomaly):
    scores = {"zscore": 1.0, "isolation_forest": 0.41, "lof": 0.2, "stream": 0.88}
    make_anomaly(detector_scores=scores, contributing_features={"seasonal_z": 44.0})

    row = readonly_client.get("/api/ml/anomalies/").json()["results"][0]

    assert row["detector_scores"] == scores
    assert row["contributing_features"] == {"seasonal_z": 44.0}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", {"critical", "high_acked", "normal", "critical_acked"}),
        ("service=django", {"normal"}),
        ("severity_level=high", {"high_acked"}),
        ("is_anomaly=false", {"normal"}),
        ("is_anomaly=true", {"critical", "high_acked", "critical_acked"}),
        ("acknowledged=true", {"high_acked", "critical_acked"}),
        ("acknowledged=false&is_anomaly=true", {"critical"}),
    ],
)
def test_list_filters(readonly_client, anomalies, query, expected):
    by_id = {str(a.anomaly_id): name for name, a in anomalies.items()}

    response = readonly_client.get(f"/api/ml/anomalies/?{query}")

    assert response.status_code == 200
    assert {by_id[i] for i in ids(response, "anomaly_id")} == expected


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("severity_level=apocalyptic", "severity_level"),
        ("is_anomaly=yes", "is_anomaly"),
        ("acknowledged=2", "acknowledged"),
        ("service=cobol", "service"),
    ],
)
def test_bad_filter_values_are_400(readonly_client, query, parameter):
    response = readonly_client.get(f"/api/ml/anomalies/?{query}")

    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith(f"{parameter}:")


def test_unacknowledged_and_critical(readonly_client, anomalies):
    by_id = {str(a.anomaly_id): name for name, a in anomalies.items()}

    unacked = readonly_client.get("/api/ml/anomalies/unacknowledged/")
    critical = readonly_client.get("/api/ml/anomalies/critical/")
    critical_java = readonly_client.get("/api/ml/anomalies/critical/?service=java")

    assert {by_id[i] for i in ids(unacked, "anomaly_id")} == {"critical"}
    assert {by_id[i] for i in ids(critical, "anomaly_id")} == {"critical", "critical_acked"}
    assert {by_id[i] for i in ids(critical_java, "anomaly_id")} == {"critical_acked"}
    assert GUIDE_ANOMALY_KEYS <= set(critical.json()["results"][0])


def test_acknowledge_then_again_is_409(ops_client, make_anomaly):
    anomaly = make_anomaly()
    url = f"/api/ml/anomalies/{anomaly.anomaly_id}/acknowledge/"

    first = ops_client.post(url)
    second = ops_client.post(url)

    assert first.status_code == 200
    assert first.json()["acknowledged"] is True
    assert first.json()["acknowledged_by"] == "ops"
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "conflict"
    assert "already acknowledged" in second.json()["error"]["message"]
    assert AuditEvent.objects.filter(action="anomaly.acknowledge").count() == 1


def test_acknowledging_one_bucket_acknowledges_its_episode(ops_client, make_anomaly):
    from datetime import timedelta

    from django.utils import timezone

    base = timezone.now().replace(second=0, microsecond=0) - timedelta(hours=3)

    def bucket(minutes: int, *, flagged: bool = True, metric: str = "error_count"):
        start = base + timedelta(minutes=minutes)
        return make_anomaly(
            window_start=start,
            window_end=start + timedelta(minutes=5),
            is_anomaly=flagged,
            severity_level="critical" if flagged else "low",
            metric_name=metric,
        )

    # an earlier incident, three normal buckets (recovered), then this incident of 4 buckets
    # with one normal bucket inside it, then a later bucket after an unscored gap
    earlier = bucket(0)
    for minutes in (5, 10, 15):
        bucket(minutes, flagged=False)
    incident = [bucket(20), bucket(25), bucket(35), bucket(40)]
    bucket(30, flagged=False)
    after_gap = bucket(55)
    other_metric = bucket(25, metric="response_time_p95")

    response = ops_client.post(f"/api/ml/anomalies/{incident[1].anomaly_id}/acknowledge/")

    assert response.status_code == 200
    acknowledged = {
        a.anomaly_id
        for a in AnomalyDetection.objects.filter(acknowledged=True, acknowledged_by="ops")
    }
    assert acknowledged == {a.anomaly_id for a in incident}
    assert not {earlier.anomaly_id, after_gap.anomaly_id, other_metric.anomaly_id} & acknowledged
    event = AuditEvent.objects.get(action="anomaly.acknowledge")
    assert event.details == {"episode_rows": 4}


@pytest.mark.parametrize("bad_id", ["0", str(uuid.uuid4())])
def test_acknowledge_unknown_is_404(ops_client, bad_id):
    assert ops_client.post(f"/api/ml/anomalies/{bad_id}/acknowledge/").status_code == 404
