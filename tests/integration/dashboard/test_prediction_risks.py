"""The high-risk table shows a risk once, with its horizons beneath (PostgreSQL).

Found in the demo: one database-pool burst in progress filled the table with six rows — the
critical OperationalError and the any-type burst, each at 30 min, 2 h and 24 h — each with the
same why, the same cause and the same three actions.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.integration.dashboard.test_anomaly_episodes import _text

pytestmark = pytest.mark.django_db(databases=["default", "ml_prediction"])


def _predict(error_type: str, minutes: int, probability: float, **extra):
    from ml_prediction.models import ErrorPrediction

    now = timezone.now().replace(second=0, microsecond=0)
    return ErrorPrediction.objects.create(
        service="django",
        predicted_error_type=error_type,
        probability=probability,
        time_horizon_minutes=minutes,
        prediction_bucket=now,
        predicted_timestamp=now + timedelta(minutes=minutes),
        contributing_factors=[{"description": f"factor of the {minutes}-minute horizon"}],
        **extra,
    )


def test_a_risk_is_one_group_with_a_row_per_horizon(client, ops_user):
    # given a burst predicted at three horizons for two targets, and another service's risk
    pool = {"predicted_category": "database", "predicted_severity": "critical"}
    rows = {
        (minutes, kind): _predict(kind, minutes, probability, **pool)
        for kind, probabilities in (
            ("OperationalError", {30: 0.78, 120: 0.80, 1440: 0.86}),
            ("ErrorBurst", {30: 0.77, 120: 0.79, 1440: 0.85}),
        )
        for minutes, probability in probabilities.items()
    }
    client.force_login(ops_user)

    # when the dashboard's panels are drawn
    body = client.get("/dashboard/panels/").content.decode()
    section = body[body.index('<section id="predictions"') : body.index('<section id="anomalies"')]
    text = _text(section)

    # then each risk is one group, the likeliest first, its horizons shortest first
    groups = section.split('<tbody class="risk">')[1:]
    assert len(groups) == 2
    assert "OperationalError" in groups[0] and "ErrorBurst" in groups[1]
    for group, kind in zip(groups, ("OperationalError", "ErrorBurst"), strict=True):
        ids = re.findall(r'<tr id="prediction-([0-9a-f-]+)"', group)
        assert ids == [str(rows[(m, kind)].prediction_id) for m in (30, 120, 1440)]
        assert re.findall(r'<td class="horizon">([^<]*)</td>', group) == ["30 min", "2 h", "24 h"]
        # the shared cells are drawn once, across the group's three rows
        assert group.count('rowspan="3"') == 4
        assert group.count(">True positive</button>") == 3  # feedback stays per horizon
        # the why is the likeliest horizon's, and says so
        assert "likeliest (24 h):" in _text(group)
        assert "factor of the 1440-minute horizon" in group
        assert "factor of the 30-minute horizon" not in group
    # and the heading still counts the open predictions
    assert "High-risk predictions 6 open · 2 risks, each with its horizons" in text


def test_a_single_horizon_risk_reads_as_before(client, ops_user):
    prediction = _predict("ChunkLoadError", 30, 0.9)
    client.force_login(ops_user)

    body = client.get("/dashboard/panels/").content.decode()
    text = _text(body)

    assert f'<tr id="prediction-{prediction.prediction_id}"' in body
    assert "rowspan" not in body.split('<section id="anomalies"')[0]
    assert "High-risk predictions 1 open " in text and "likeliest" not in text


def test_a_burst_and_the_types_predicted_with_it_are_one_risk(client, ops_user):
    # given the incident target (a burst of any type) and the critical OperationalError of the
    # same service at two horizons each, as one pool burst in progress gives, and another
    # service's typed risk
    incident = {"predicted_category": "incident", "predicted_severity": "critical"}
    critical = {"predicted_category": "critical", "predicted_severity": "critical"}
    burst = [_predict("ErrorBurst", m, p, **incident) for m, p in ((30, 0.85), (1440, 0.90))]
    typed = [_predict("OperationalError", m, p, **critical) for m, p in ((30, 0.84), (1440, 0.91))]
    other = _predict("ChunkLoadError", 30, 0.80, predicted_category="api")
    other.service = "react"
    other.save()
    client.force_login(ops_user)

    # when the dashboard's panels are drawn
    body = client.get("/dashboard/panels/").content.decode()
    section = body[body.index('<section id="predictions"') : body.index('<section id="anomalies"')]

    # then the burst and its likely type are one group: the incident's rows first, then the
    # type's, each with its own probability and feedback, the why and actions drawn once
    groups = section.split('<tbody class="risk">')[1:]
    assert len(groups) == 2
    django = next(g for g in groups if "ErrorBurst" in g)
    ids = re.findall(r'<tr id="prediction-([0-9a-f-]+)"', django)
    assert ids == [str(p.prediction_id) for p in (*burst, *typed)]
    assert "likely type:</span> OperationalError" in django
    assert django.count('rowspan="4"') == 3  # service, why, actions across the four rows
    assert django.count('rowspan="2"') == 2  # each target's name across its two horizons
    assert django.count(">True positive</button>") == 4
    assert django.count('class="typed"') == 2
    # and the other service's risk stays a group of its own
    assert "ChunkLoadError" in next(g for g in groups if g is not django)
    assert "5 open · 2 risks" in _text(section)
