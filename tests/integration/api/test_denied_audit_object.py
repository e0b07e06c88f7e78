"""A refused state change is audited against the object it aimed at (the id from the URL), or
against its path, whole segments only; the full path is in the details."""

from __future__ import annotations

import pytest

from ml_prediction.api.errors import denied_object
from ml_prediction.models import AuditEvent

pytestmark = pytest.mark.django_db(databases=["default", "ml_prediction"])


@pytest.mark.parametrize(
    ("template", "fixture", "key", "object_type"),
    [
        ("/api/ml/anomalies/{}/acknowledge/", "make_anomaly", "anomaly_id", "anomaly"),
        ("/api/ml/actions/{}/execute/", "make_action", "action_id", "preventive_action"),
        ("/api/ml/insights/{}/dismiss/", "make_insight", "insight_id", "insight"),
        ("/api/ml/predictions/{}/trigger_alert/", "make_prediction", "prediction_id", "prediction"),
    ],
)
def test_a_refusal_names_the_object_it_aimed_at(
    readonly_client, request, template, fixture, key, object_type
):
    row = request.getfixturevalue(fixture)()
    object_id = str(getattr(row, key))
    path = template.format(object_id)

    assert readonly_client.post(path, {}, format="json").status_code == 403

    event = AuditEvent.objects.get(action="api.denied")
    assert (event.object_type, event.object_id) == (object_type, object_id)
    assert event.details["path"] == path and event.details["method"] == "POST"


def test_a_path_too_long_for_the_field_is_cut_at_a_segment_boundary():
    path = "/api/ml/trigger-all-services-analysis/" + "x" * 20 + "/" + "y" * 30 + "/"

    object_type, object_id = denied_object(path, {})

    assert object_type == "request"
    assert object_id == "/api/ml/trigger-all-services-analysis/" + "x" * 20 + "/"
    assert len(object_id) <= 64


def test_a_path_that_fits_is_kept_whole():
    assert denied_object("/api/ml/trigger-analysis/", {}) == (
        "request",
        "/api/ml/trigger-analysis/",
    )
