from django.apps import AppConfig


class EventstoreConfig(AppConfig):
    name = "eventstore"
    default_auto_field = "django.db.models.BigAutoField"
