"""A prediction from a head that ranks outcomes no better than chance (held-out ROC-AUC below
ML_ALERT_MIN_HEAD_AUC, or none measured) is history, not high risk: the demo's only high_risk/
rows were 24-hour heads at 0.41-0.47. Each prediction says whether it may page and why."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db(databases=["default", "ml_prediction"])

METRICS = {
    "roc_auc": 0.92,  # pooled: says nothing about one head
    "incident@30.roc_auc": 0.86,
    "incident@1440.roc_auc": 0.43,  # worse than a coin
    "database@1440.roc_auc": 0.47,
}


@pytest.fixture
def classifier(make_model):
    return make_model(
        model_type="error_classifier",
        model_algorithm="xgboost",
        framework="xgboost",
        metrics=METRICS,
    )


@pytest.fixture
def heads(make_prediction, classifier):
    """One analysis' predictions (one bucket), each from another head of the same model."""
    first = make_prediction(
        model=classifier,
        predicted_category="incident",
        predicted_error_type="ErrorBurst",
        time_horizon_minutes=30,
        probability=0.8,
    )

    def head(name: str, category: str, horizon: int, probability: float = 0.9):
        return make_prediction(
            model=classifier,
            predicted_category=category,
            predicted_error_type=name,
            time_horizon_minutes=horizon,
            probability=probability,
            prediction_bucket=first.prediction_bucket,
        )

    return {
        "skilled": first,
        "chance": head("ErrorBurst", "incident", 1440),
        "chance_category": head("DatabaseError", "database", 1440),
        "unmeasured": head("TimeoutError", "timeout", 120),  # no held-out AUC in the metrics
    }


def _ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["prediction_id"] for row in response.json()["results"]]


def test_high_risk_lists_only_heads_with_held_out_skill(readonly_client, heads):
    listed = _ids(readonly_client.get("/api/ml/predictions/high_risk/"))
    history = _ids(readonly_client.get("/api/ml/predictions/"))

    assert listed == [str(heads["skilled"].prediction_id)]
    assert set(history) == {str(p.prediction_id) for p in heads.values()}  # still stored


def test_a_prediction_no_model_made_is_judged_by_its_probability(readonly_client, make_prediction):
    written = make_prediction(probability=0.9)  # e.g. by the guide's ORM code: no head to judge

    assert _ids(readonly_client.get("/api/ml/predictions/high_risk/")) == [
        str(written.prediction_id)
    ]


def test_the_dashboard_high_risk_table_leaves_them_out_too(heads):
    from dashboard.selectors import high_risk_predictions

    assert [p.prediction_id for p in high_risk_predictions()] == [heads["skilled"].prediction_id]


@pytest.mark.parametrize(
    ("name", "roc_auc", "pages"),
    [
        ("skilled", 0.86, True),
        ("chance", 0.43, False),  # ALERT_PROBABILITY reached, but its head is worse than chance
        ("chance_category", 0.47, False),
        ("unmeasured", None, False),  # never measured: no skill shown, trust is earned
    ],
)
def test_each_prediction_says_its_heads_roc_auc_and_whether_it_may_page(
    readonly_client, heads, name, roc_auc, pages
):
    prediction = heads[name]

    detail = readonly_client.get(f"/api/ml/predictions/{prediction.prediction_id}/").json()
    listed = {
        row["prediction_id"]: row
        for row in readonly_client.get("/api/ml/predictions/").json()["results"]
    }[str(prediction.prediction_id)]

    for row in (detail, listed):
        assert row["head_roc_auc"] == roc_auc
        assert row["head_base_rate"] is None  # a model trained before it was recorded
        assert row["pages"] is pages


def test_pages_needs_the_alert_probability(readonly_client, make_prediction, classifier, settings):
    below = make_prediction(
        model=classifier,
        predicted_category="incident",
        time_horizon_minutes=30,
        probability=settings.ML_PREDICTION_CONFIG["ALERT_PROBABILITY"] - 0.01,
    )

    row = readonly_client.get(f"/api/ml/predictions/{below.prediction_id}/").json()

    assert row["head_roc_auc"] == 0.86
    assert row["pages"] is False


def test_a_page_of_predictions_reads_its_models_metrics_once(
    readonly_client, heads, django_assert_max_num_queries
):
    from ml_prediction.api.serializers import PredictionSerializer
    from ml_prediction.models import ErrorPrediction

    rows = list(ErrorPrediction.objects.values(*PredictionSerializer.value_fields(ErrorPrediction)))

    with django_assert_max_num_queries(1):
        data = PredictionSerializer(rows, many=True).data

    assert {row["head_roc_auc"] for row in data} == {0.86, 0.43, 0.47, None}


def test_the_schema_describes_the_new_fields(readonly_client):
    schema = readonly_client.get("/api/schema/?format=json").json()
    prediction = schema["components"]["schemas"]["Prediction"]["properties"]

    assert prediction["head_roc_auc"]["type"] == "number"
    assert prediction["head_roc_auc"].get("nullable") is True
    assert prediction["pages"]["type"] == "boolean"
    assert prediction["head_base_rate"]["type"] == "number"
    assert prediction["head_base_rate"].get("nullable") is True
    assert prediction["prediction_bucket"]["format"] == "date-time"


def test_the_guides_sql_view_applies_the_same_rule(heads, make_prediction, make_model):
    """A DBA reading ``v_high_risk_predictions`` sees what high_risk/ lists, not the "90%" of a
    head that ranks outcomes worse than a coin; the calibration-rows ROC-AUC decides first."""
    from django.db import connections

    calibrated = make_model(
        model_type="error_classifier",
        model_algorithm="xgboost",
        framework="xgboost",
        # held-out 0.9 but calibration rows 0.5: the gate reads the calibration rows
        metrics={"incident@30.roc_auc": 0.9, "incident@30.cal_roc_auc": 0.5},
    )
    gated_out = make_prediction(
        model=calibrated, predicted_category="incident", time_horizon_minutes=30, probability=0.95
    )
    no_model = make_prediction(probability=0.9)

    with connections["ml_prediction"].cursor() as cursor:
        cursor.execute("SELECT prediction_id, head_roc_auc FROM ai_models.v_high_risk_predictions")
        rows = {str(pid): auc for pid, auc in cursor.fetchall()}

    assert rows == {str(heads["skilled"].prediction_id): 0.86, str(no_model.prediction_id): None}
    assert str(gated_out.prediction_id) not in rows


def test_a_head_whose_event_is_the_usual_state_does_not_page(
    readonly_client, make_prediction, make_model
):
    """Found on call: right after training, a quiet service paged "ErrorBurst on django: 100%
    within 24 hours" every cooldown. Its 24-hour head ranked well on its calibration rows, but
    85% of its training days had a burst: a probability no higher than the head's usual rate
    says nothing (ML_ALERT_MIN_LIFT, default 2)."""
    model = make_model(
        model_type="error_classifier",
        model_algorithm="xgboost",
        framework="xgboost",
        metrics={
            "incident@1440.cal_roc_auc": 0.997,
            "incident@1440.roc_auc": 0.697,
            "incident@1440.base_rate": 0.85,
            "incident@30.cal_roc_auc": 0.9,
            "incident@30.roc_auc": 0.88,
            "incident@30.base_rate": 0.04,
        },
    )
    usual = make_prediction(
        model=model, predicted_category="incident", time_horizon_minutes=1440, probability=0.99
    )
    news = make_prediction(
        model=model,
        predicted_category="incident",
        time_horizon_minutes=30,
        probability=0.8,
        prediction_bucket=usual.prediction_bucket,  # one analysis
    )

    rows = {
        row["prediction_id"]: row
        for row in readonly_client.get("/api/ml/predictions/").json()["results"]
    }

    assert rows[str(usual.prediction_id)]["head_base_rate"] == 0.85
    assert rows[str(usual.prediction_id)]["pages"] is False
    assert rows[str(news.prediction_id)]["head_base_rate"] == 0.04
    assert rows[str(news.prediction_id)]["pages"] is True
    # nor is the usual state high risk: not in high_risk/, the dashboard or the guide's view
    # (acceptance pass: it was listed, and created a critical action)
    from django.db import connections

    from dashboard.selectors import high_risk_predictions

    assert _ids(readonly_client.get("/api/ml/predictions/high_risk/")) == [str(news.prediction_id)]
    assert [p.prediction_id for p in high_risk_predictions()] == [news.prediction_id]
    with connections["ml_prediction"].cursor() as cursor:
        cursor.execute(
            "SELECT prediction_id, head_base_rate FROM ai_models.v_high_risk_predictions"
        )
        assert {str(pid): rate for pid, rate in cursor.fetchall()} == {
            str(news.prediction_id): 0.04
        }
