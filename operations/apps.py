from django.apps import AppConfig


class OperationsConfig(AppConfig):
    """Metrics endpoint, scrape-time collector, operations dashboard, tracing set-up."""

    name = "operations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from commerce_project.tracing import tracing_configure

        from . import checks, worker_metrics  # noqa: F401  (check; Celery signal receivers)

        tracing_configure()
