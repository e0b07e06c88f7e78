"""ML prediction: models, engines, services, API and tasks of Feeding Hearts ML."""
