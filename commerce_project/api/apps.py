from django.apps import AppConfig


class ApiConfig(AppConfig):
    """Plumbing shared by every app's API: errors, idempotency, request ids, health."""

    name = "commerce_project.api"
    label = "api"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import strict_fields

        strict_fields.install()
