"""Registry: sha256 manifests, refusal of anything else, champion/challenger decisions."""

from __future__ import annotations

import json

import pytest

from tests.integration.orchestrator.conftest import BOTH_DBS


class _Artifact:
    def __init__(self, payload: dict) -> None:
        self.payload = payload

    def save(self, directory):
        (directory / "state.json").write_text(json.dumps(self.payload))
        (directory / "weights").mkdir()
        (directory / "weights" / "w.bin").write_bytes(b"\x01\x02\x03")

    @classmethod
    def load(cls, directory):
        return cls(json.loads((directory / "state.json").read_text()))


@pytest.fixture
def stored(monkeypatch):
    from ml_prediction.engines.types import TrainingReport
    from ml_prediction.services import registry

    monkeypatch.setitem(registry.LOADERS, "root_cause", f"{__name__}:_Artifact")
    report = TrainingReport("incident_similarity", 10, 0, {"incidents": 3.0, "f1": 0.5})
    record = registry.registry_store(
        service="java",
        model_type="root_cause",
        artifact=_Artifact({"k": 1}),
        report=report,
        framework="numpy",
    )
    registry.model_activate(model_id=record.model_id)
    return record


@pytest.mark.django_db(databases=BOTH_DBS)
def test_stored_artifact_has_a_manifest_and_loads_verified(stored, artifact_dir):
    from ml_prediction.services.registry import registry_load_active

    directory = artifact_dir / stored.artifact_path
    manifest = json.loads((directory / "manifest.json").read_text())

    loaded = registry_load_active(service="java", model_type="root_cause")

    assert set(manifest["files"]) == {"state.json", "weights/w.bin"}
    assert stored.version == 1 and stored.f1_score == 0.5 and len(stored.artifact_sha256) == 64
    assert loaded.artifact.payload == {"k": 1} and loaded.record.model_id == stored.model_id


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (
            lambda d: (d / "weights" / "w.bin").write_bytes(b"\x09\x02\x03"),
            "sha256 mismatch on weights/w.bin",
        ),
        (lambda d: (d / "extra.pkl").write_bytes(b"evil"), "extra=['extra.pkl']"),
        (lambda d: (d / "state.json").unlink(), "missing=['state.json']"),
        (lambda d: (d / "manifest.json").write_text("{}"), "manifest sha256 mismatch"),
    ],
    ids=["changed", "extra", "missing", "manifest"],
)
@pytest.mark.django_db(databases=BOTH_DBS)
def test_any_change_to_the_artifact_is_refused(stored, artifact_dir, tamper, message):
    from ml_prediction.services.registry import ArtifactIntegrityError, registry_load_active

    registry_load_active(service="java", model_type="root_cause")  # cached while untouched
    tamper(artifact_dir / stored.artifact_path)

    with pytest.raises(
        ArtifactIntegrityError, match=message.replace("[", r"\[").replace("]", r"\]")
    ):
        registry_load_active(service="java", model_type="root_cause")


@pytest.mark.django_db(databases=BOTH_DBS)
def test_a_path_outside_the_artifact_dir_is_refused(stored):
    from ml_prediction.models import MLModel
    from ml_prediction.services.registry import ArtifactIntegrityError, registry_load_active

    MLModel.objects.filter(model_id=stored.model_id).update(artifact_path="../../etc")

    with pytest.raises(ArtifactIntegrityError, match="outside ARTIFACT_DIR"):
        registry_load_active(service="java", model_type="root_cause")


@pytest.mark.django_db(databases=BOTH_DBS)
def test_no_active_model_raises_model_not_trained():
    from ml_prediction.engines.types import ModelNotTrained
    from ml_prediction.services.registry import registry_load_active

    with pytest.raises(ModelNotTrained, match="no active anomaly_detection model for vue"):
        registry_load_active(service="vue", model_type="anomaly_detection")


@pytest.mark.parametrize(
    ("model_type", "challenger", "champion", "promote"),
    [
        ("error_classifier", {"roc_auc": 0.80}, None, True),
        ("error_classifier", {"roc_auc": 0.80}, {"roc_auc": 0.805}, True),  # within tolerance
        ("error_classifier", {"roc_auc": 0.70}, {"roc_auc": 0.80}, False),
        (
            "error_classifier",
            {"f1": 0.5},
            {"roc_auc": 0.9, "f1": 0.6},
            False,
        ),  # first shared metric
        ("time_series_forecast", {"mase": 0.9}, {"mase": 1.0}, True),
        ("time_series_forecast", {"mase": 1.3}, {"mase": 1.0}, False),
        ("anomaly_detection", {"validation_anomaly_rate": 0.02}, {"history_days": 9}, True),
    ],
)
def test_champion_challenger_promotes_only_a_not_worse_model(
    model_type, challenger, champion, promote
):
    from ml_prediction.services.training import champion_decision

    decided, why = champion_decision(
        model_type=model_type, challenger=challenger, champion=champion
    )

    assert decided is promote and why


def test_the_promotion_reason_writes_counts_as_counts():
    from ml_prediction.services.training import champion_decision

    _, why = champion_decision(
        model_type="root_cause", challenger={"incidents": 3.0}, champion={"incidents": 2.0}
    )
    assert why == "incidents 3 vs active 2"  # was "incidents 3.0000 vs active 2.0000"
    _, why = champion_decision(
        model_type="error_classifier", challenger={"roc_auc": 0.8123}, champion={"roc_auc": 0.9}
    )
    assert why == "roc_auc 0.8123 is worse than the active model's 0.9"


@pytest.mark.django_db(databases=BOTH_DBS)
def test_a_worse_challenger_is_kept_inactive_and_the_champion_serves(monkeypatch, stored):
    from ml_prediction.engines.types import TrainingReport
    from ml_prediction.models import MLModel
    from ml_prediction.services import registry, training

    worse = TrainingReport("incident_similarity", 10, 0, {"incidents": 1.0})
    monkeypatch.setattr(training, "_fit", lambda *a, **k: (_Artifact({"k": 2}), worse, "numpy"))
    monkeypatch.setitem(training._config(), "MIN_TRAINING_SAMPLES", 0)  # no traffic needed
    MLModel.objects.filter(model_id=stored.model_id).update(metrics={"incidents": 3.0})

    (history,) = training.training_run_for_service(service="java", model_types=["root_cause"])
    history.refresh_from_db()

    assert history.status == "completed" and history.promoted is False
    assert "worse than the active model" in history.metrics["promotion"]
    assert (
        registry.registry_load_active(service="java", model_type="root_cause").record.model_id
        == stored.model_id
    )
    assert MLModel.objects.get(model_id=history.model_id).status == "inactive"
    assert history.model.version == 2
