from celery import shared_task

from .services import tokens_purge_expired


@shared_task
def purge_expired_tokens() -> int:
    return tokens_purge_expired()
