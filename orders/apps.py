from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the command handlers and the projections.
        from . import commands, projections  # noqa: F401
