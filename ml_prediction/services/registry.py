"""Model registry: versioned artifacts on disk with a sha256 manifest, and the MLModel lifecycle.

Layout: ``<ARTIFACT_DIR>/<service>/<model_type>/<model_id>/`` holds the files an engine's
``save(directory)`` wrote plus ``manifest.json`` (sha256 of every file). ``MLModel.artifact_path``
is that directory relative to ARTIFACT_DIR and ``MLModel.artifact_sha256`` the manifest's sha256,
so one hash in the database pins every byte. Loading re-checks all of it and refuses extra,
missing or changed files and any path outside ARTIFACT_DIR.

Activation is scoped per (service, model_type): the orchestrator serves one model per type, and
algorithms of the same type (XGBoost and RandomForest are both ``error_classifier``) compete as
challengers for that one slot. Older versions stay as ``inactive`` rows with their artifacts.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
import shutil
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from ml_prediction.engines.types import ModelNotTrained, TrainingReport
from ml_prediction.models import MLModel
from ml_prediction.services.cache import read_cache_bump

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
ML_DB = "ml_prediction"

# model_type → "module:Class" with a ``load(directory)`` classmethod.
LOADERS: dict[str, str] = {
    MLModel.ModelType.ANOMALY_DETECTION: "ml_prediction.engines.anomaly:AnomalyModel",
    MLModel.ModelType.ERROR_CLASSIFIER: "ml_prediction.engines.predictor:ErrorPredictorModel",
    MLModel.ModelType.TIME_SERIES_FORECAST: "ml_prediction.services.registry:ForecastBundle",
    MLModel.ModelType.ROOT_CAUSE: "ml_prediction.services.registry:IncidentLibrary",
}
_CACHE_SIZE = 64


class ArtifactIntegrityError(ModelNotTrained):
    """The files on disk do not match the sha256 recorded for the model: refuse to load."""


@dataclass(frozen=True)
class LoadedModel:
    record: MLModel
    artifact: Any


def artifact_root() -> Path:
    return Path(settings.ML_PREDICTION_CONFIG["ARTIFACT_DIR"]).resolve()


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _files_under(directory: Path) -> list[Path]:
    return sorted(
        p
        for p in directory.rglob("*")
        if p.is_file() and p.relative_to(directory).as_posix() != MANIFEST
    )


def _write_manifest(directory: Path, *, model_id: uuid.UUID) -> str:
    files = {p.relative_to(directory).as_posix(): _sha256_file(p) for p in _files_under(directory)}
    if not files:
        raise ValueError("the artifact's save() wrote no files")
    body = json.dumps({"model_id": str(model_id), "files": files}, indent=1, sort_keys=True)
    (directory / MANIFEST).write_text(body)
    return hashlib.sha256(body.encode()).hexdigest()


def _resolve(record: MLModel) -> Path:
    root = artifact_root()
    if not record.artifact_path:
        raise ModelNotTrained(f"model {record.model_id} has no artifact")
    directory = (root / record.artifact_path).resolve()
    if root not in directory.parents:
        raise ArtifactIntegrityError(
            f"model {record.model_id}: artifact path {record.artifact_path!r} is outside ARTIFACT_DIR"
        )
    return directory


def artifact_verify(*, record: MLModel) -> Path:
    """Check every file of the model's artifact against the manifest and the recorded sha256."""
    directory = _resolve(record)
    manifest_path = directory / MANIFEST
    if not manifest_path.is_file():
        raise ArtifactIntegrityError(f"model {record.model_id}: manifest missing in {directory}")
    body = manifest_path.read_bytes()
    if hashlib.sha256(body).hexdigest() != record.artifact_sha256:
        raise ArtifactIntegrityError(f"model {record.model_id}: manifest sha256 mismatch")
    expected = json.loads(body)["files"]
    present = {p.relative_to(directory).as_posix(): p for p in _files_under(directory)}
    if set(present) != set(expected):
        extra = sorted(set(present) - set(expected))
        missing = sorted(set(expected) - set(present))
        raise ArtifactIntegrityError(
            f"model {record.model_id}: files differ from manifest (extra={extra}, missing={missing})"
        )
    for name, digest in expected.items():
        if _sha256_file(present[name]) != digest:
            raise ArtifactIntegrityError(f"model {record.model_id}: sha256 mismatch on {name}")
    return directory


def _stat_signature(directory: Path) -> tuple:
    return tuple(
        (p.as_posix(), p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    )


class _ModelCache:
    """Per-process cache of loaded artifacts keyed by (model_id, sha256).

    Hashing is repeated only when a file's size or mtime changed since it was verified, so a hit
    costs a few stat calls and tampering on disk is still caught.
    """

    def __init__(self) -> None:
        self._items: OrderedDict[tuple[str, str], tuple[tuple, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, record: MLModel) -> Any:
        key = (str(record.model_id), record.artifact_sha256)
        directory = _resolve(record)
        with self._lock:
            item = self._items.get(key)
        if item is not None:
            try:
                signature = _stat_signature(directory)
            except OSError:
                signature = None
            if signature == item[0]:
                with self._lock:
                    self._items.move_to_end(key)
                return item[1]
        directory = artifact_verify(record=record)
        signature = _stat_signature(directory)
        artifact = _loader(record.model_type).load(directory)
        with self._lock:
            self._items[key] = (signature, artifact)
            while len(self._items) > _CACHE_SIZE:
                self._items.popitem(last=False)
        return artifact

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


_cache = _ModelCache()


def registry_cache_clear() -> None:
    _cache.clear()


def _loader(model_type: str) -> Any:
    module_name, _, class_name = LOADERS[model_type].partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def registry_load(*, record: MLModel) -> Any:
    """The verified artifact of one model version (raises ArtifactIntegrityError)."""
    return _cache.get(record)


def registry_load_active(*, service: str, model_type: str) -> LoadedModel:
    """The active model of a service and type, verified; raises ``ModelNotTrained``."""
    record = (
        MLModel.objects.filter(service=service, model_type=model_type, status=MLModel.Status.ACTIVE)
        .order_by("-version")
        .first()
    )
    if record is None:
        raise ModelNotTrained(f"no active {model_type} model for {service}")
    try:
        return LoadedModel(record=record, artifact=registry_load(record=record))
    except ArtifactIntegrityError:
        logger.error("refusing tampered artifact of %s", record.model_id, exc_info=True)
        raise


def _metric(metrics: dict[str, Any], *names: str) -> float | None:
    for name in names:
        value = metrics.get(name)
        if isinstance(value, int | float):
            return float(value)
    return None


def registry_store(
    *,
    service: str,
    model_type: str,
    artifact: Any,
    report: TrainingReport,
    framework: str,
    config: dict[str, Any] | None = None,
    created_by: str = "system",
) -> MLModel:
    """Save an artifact as a new inactive version (status ``training``) with its sha256."""
    model_id = uuid.uuid4()
    relative = Path(service) / model_type / str(model_id)
    final = artifact_root() / relative
    staging = final.with_name(f".{model_id}.staging")
    staging.mkdir(parents=True, exist_ok=False)
    try:
        artifact.save(staging)
        sha = _write_manifest(staging, model_id=model_id)
        os.replace(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    metrics = {k: v for k, v in report.metrics.items() if isinstance(v, int | float | str)}
    with transaction.atomic(using=ML_DB):
        latest = (
            MLModel.objects.select_for_update()
            .filter(service=service, model_type=model_type)
            .aggregate(v=Max("version"))["v"]
        )
        return MLModel.objects.create(
            model_id=model_id,
            model_name=f"{service}-{model_type}-{report.algorithm}",
            model_type=model_type,
            service=service,
            framework=framework,
            model_algorithm=report.algorithm,
            version=(latest or 0) + 1,
            status=MLModel.Status.TRAINING,
            config=config or {},
            accuracy=_metric(metrics, "accuracy"),
            precision=_metric(metrics, "precision"),
            recall=_metric(metrics, "recall"),
            f1_score=_metric(metrics, "f1", "f1_score"),
            metrics=metrics,
            feature_names=list(report.feature_names),
            feature_importances={k: float(v) for k, v in report.feature_importances.items()},
            features_count=len(report.feature_names),
            training_samples_count=report.train_samples,
            artifact_path=relative.as_posix(),
            artifact_sha256=sha,
            last_trained_at=timezone.now(),
            created_by=created_by,
        )


def model_activate(*, model_id: uuid.UUID) -> MLModel:
    """Make one version active and every other version of its service and type inactive."""
    with transaction.atomic(using=ML_DB):
        model = MLModel.objects.select_for_update().get(model_id=model_id)
        MLModel.objects.filter(
            service=model.service, model_type=model.model_type, status=MLModel.Status.ACTIVE
        ).exclude(model_id=model.model_id).update(status=MLModel.Status.INACTIVE)
        model.status = MLModel.Status.ACTIVE
        model.save(update_fields=["status", "updated_at"])  # post_save invalidates cached reads
    return model


def model_retire(*, model_id: uuid.UUID) -> None:
    """A challenger that lost: keep the row and its files, mark it inactive."""
    MLModel.objects.filter(model_id=model_id).update(
        status=MLModel.Status.INACTIVE, updated_at=timezone.now()
    )
    read_cache_bump()


def _safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


class ForecastBundle:
    """The forecasters of one service (one per metric), stored as one artifact."""

    def __init__(self, forecasters: dict[str, Any]) -> None:
        self.forecasters = forecasters

    def save(self, directory: Path) -> None:
        index = {}
        for metric_name, forecaster in self.forecasters.items():
            sub = directory / _safe_name(metric_name)
            sub.mkdir(parents=True, exist_ok=True)
            forecaster.save(sub)
            index[metric_name] = sub.name
        (directory / "bundle.json").write_text(json.dumps(index, sort_keys=True))

    @classmethod
    def load(cls, directory: Path) -> ForecastBundle:
        from ml_prediction.engines.forecasting import Forecaster

        index = json.loads((directory / "bundle.json").read_text())
        return cls({name: Forecaster.load(directory / sub) for name, sub in index.items()})


class IncidentLibrary:
    """Signatures of past labelled incidents of a service, for root-cause similarity (JSON)."""

    def __init__(self, incidents: list[dict[str, Any]]) -> None:
        self.incidents = incidents

    def save(self, directory: Path) -> None:
        (directory / "incidents.json").write_text(json.dumps(self.incidents, sort_keys=True))

    @classmethod
    def load(cls, directory: Path) -> IncidentLibrary:
        return cls(json.loads((directory / "incidents.json").read_text()))
