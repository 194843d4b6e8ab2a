"""How other services of the platform follow the orders: the CloudEvents envelope, the
gap-safe event feed and signed webhooks. Reads the event store; nothing imports it."""

from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The webhook outbox projection registers itself; its Celery task with it.
        from .webhooks import outbox, tasks  # noqa: F401
