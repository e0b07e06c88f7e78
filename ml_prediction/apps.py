from django.apps import AppConfig


class MlPredictionConfig(AppConfig):
    name = "ml_prediction"
    verbose_name = "ML prediction"
    default_auto_field = "django.db.models.BigAutoField"
