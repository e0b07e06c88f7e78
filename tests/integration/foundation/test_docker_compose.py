"""docker-compose.yml wires web, worker, beat, postgres and redis with the same variables."""

from pathlib import Path

import yaml

COMPOSE = Path(__file__).resolve().parents[3] / "docker-compose.yml"


def test_compose_has_every_service_and_shared_environment():
    data = yaml.safe_load(COMPOSE.read_text())
    services = data["services"]
    assert {"web", "worker", "beat", "postgres", "redis"} <= set(services)
    for name in ("web", "worker", "beat"):
        env = services[name]["environment"]
        for variable in (
            "DATABASE_URL",
            "ML_DATABASE_URL",
            "CELERY_BROKER_URL",
            "REDIS_URL",
            "SECRET_KEY",
        ):
            assert variable in env, (name, variable)
        assert env["DATABASE_URL"].endswith("@postgres:5432/feeding_hearts")
        assert env["ML_DATABASE_URL"].endswith("@postgres:5432/feeding_hearts_ml")
        assert env["CELERY_BROKER_URL"].startswith("redis://redis:6379")
    assert "worker" in services["worker"]["command"]
    assert "beat" in services["beat"]["command"]
    assert "gunicorn" in services["web"]["command"]
    assert "--database=ml_prediction" in services["web"]["command"]
    mounts = " ".join(services["postgres"]["volumes"])
    assert "create-ml-database.sql" in mounts
