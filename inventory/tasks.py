from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(acks_late=True, ignore_result=True)
def expire_reservations() -> int:
    """Beat: releases reservations past their expiry whose order is not protected."""
    return services.reservations_expire()
