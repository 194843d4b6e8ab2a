import importlib

from django.apps import AppConfig
from django.conf import settings


class SagasConfig(AppConfig):
    name = "sagas"
    default_auto_field = "django.db.models.BigAutoField"

    # Definitions shipped with the service; SAGA_DEFINITION_MODULES adds more.
    definition_modules: tuple[str, ...] = (
        "sagas.fulfilment",
        "sagas.refunds",
        "sagas.partial_refunds",
    )

    def ready(self) -> None:
        for module in (*self.definition_modules, *settings.SAGA_DEFINITION_MODULES):
            importlib.import_module(module)

        from eventstore.signals import events_appended
        from inventory.services import reservation_guard_register
        from orders.admin_actions import order_page_action_register

        from . import checks  # noqa: F401  (registers the timer check)
        from .fulfilment import fulfilment_is_active
        from .order_emails import RESEND_CONFIRMATION
        from .subscribers import order_events_handle

        # Sagas start because orders are confirmed, not because orders call us.
        events_appended.connect(order_events_handle, dispatch_uid="sagas.order_events")
        # Reservations of an order whose saga is still at work never expire under it.
        reservation_guard_register(fulfilment_is_active)
        # The order page offers "resend the confirmation e-mail"; orders does not import us.
        order_page_action_register(RESEND_CONFIRMATION)
