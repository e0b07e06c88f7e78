from django.apps import AppConfig


class MlPredictionConfig(AppConfig):
    name = "ml_prediction"
    verbose_name = "ML prediction"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from ml_prediction import checks  # noqa: F401  (registers the system checks)
        from ml_prediction.api.authentication import connect_user_cache_signals
        from ml_prediction.services.cache import bump_on_model_change

        # Every API list page is cached until the next write; a save or delete of any of this
        # app's rows (services, admin edits) invalidates them. Bulk writes
        # (``bulk_create``/``update``) send no signal and bump explicitly.
        for model in self.get_models():
            post_save.connect(bump_on_model_change, sender=model, dispatch_uid=f"bump-{model}")
            post_delete.connect(bump_on_model_change, sender=model, dispatch_uid=f"bump-d-{model}")
        connect_user_cache_signals()
