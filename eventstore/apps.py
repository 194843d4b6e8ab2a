from django.apps import AppConfig


class EventstoreConfig(AppConfig):
    name = "eventstore"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from .projections import run_inline_projections
        from .signals import events_appended

        events_appended.connect(run_inline_projections, dispatch_uid="eventstore.inline")
