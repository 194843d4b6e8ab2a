import importlib

from django.apps import AppConfig
from django.conf import settings


class SagasConfig(AppConfig):
    name = "sagas"
    default_auto_field = "django.db.models.BigAutoField"

    # Definitions shipped with the service; SAGA_DEFINITION_MODULES adds more.
    definition_modules: tuple[str, ...] = ()

    def ready(self) -> None:
        for module in (*self.definition_modules, *settings.SAGA_DEFINITION_MODULES):
            importlib.import_module(module)
