from django.apps import AppConfig


class ErrorLoggingConfig(AppConfig):
    name = "error_logging"
    verbose_name = "Error logging"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from error_logging import signals  # noqa: F401  (registers receivers)
