"""Test settings: the real PostgreSQL and Redis, on their own database and Redis numbers.

pytest always runs with these settings (`--ds` in pyproject's addopts beats any
DJANGO_SETTINGS_MODULE in the environment), and they refuse to load when a test Redis URL
points at a database the development settings use — the suite flushes its Redis databases
around every test, so sharing one would wipe a running `make run`'s carts and queue.
"""

import os
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import (
    CACHES,
    CELERY_BROKER_URL,
    CELERY_RESULT_BACKEND,
    DATABASES,
    REDIS_URL,
    REST_FRAMEWORK,
    env,
)

DEVELOPMENT_REDIS = {
    "REDIS_URL": REDIS_URL,
    "CELERY_BROKER_URL": CELERY_BROKER_URL,
    "CELERY_RESULT_BACKEND": CELERY_RESULT_BACKEND,
}

# pytest-django creates test_<name> from DATABASE_URL's name, so the database is always apart.
REDIS_URL = env.str("TEST_REDIS_URL", default="redis://127.0.0.1:6379/15")
CELERY_BROKER_URL = env.str("TEST_CELERY_BROKER_URL", default="redis://127.0.0.1:6379/14")
CELERY_RESULT_BACKEND = env.str("TEST_CELERY_RESULT_BACKEND", default="redis://127.0.0.1:6379/13")
# The real-worker saga tests also run on RabbitMQ, in a vhost of the test run's own (created
# by the worker fixture when missing); empty switches those variants off.
TEST_CELERY_AMQP_URL = env.str(
    "TEST_CELERY_AMQP_URL", default="amqp://guest:guest@127.0.0.1:5672/commerce_test"
)
TEST_REDIS = {
    "TEST_REDIS_URL": REDIS_URL,
    "TEST_CELERY_BROKER_URL": CELERY_BROKER_URL,
    "TEST_CELERY_RESULT_BACKEND": CELERY_RESULT_BACKEND,
}


def redis_database(url: str) -> tuple[str, int, str]:
    """(host, port, database number) — two URLs with the same triple share their data. An
    AMQP URL's triple is (host, port, "amqp:<vhost>"), its vhost being what it shares."""
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    if host in {"localhost", "::1"}:
        host = "127.0.0.1"
    if parts.scheme.startswith("amqp") or parts.scheme == "pyamqp":
        # kombu: no path is the default vhost "/"; "/name" is the vhost "name".
        return host, parts.port or 5672, f"amqp:{parts.path[1:] or '/'}"
    return host, parts.port or 6379, (parts.path.lstrip("/") or "0")


def _refuse_shared_redis() -> None:
    seen = {redis_database(url): name for name, url in DEVELOPMENT_REDIS.items()}
    for name, url in TEST_REDIS.items():
        database = redis_database(url)
        if database in seen:
            raise ImproperlyConfigured(
                f"{name} ({url}) is the same Redis database as {seen[database]}: the test run "
                "flushes its databases, so TEST_REDIS_URL, TEST_CELERY_BROKER_URL and "
                "TEST_CELERY_RESULT_BACKEND each need a database number of their own, apart "
                "from each other and from REDIS_URL, CELERY_BROKER_URL and CELERY_RESULT_BACKEND."
            )
        seen[database] = name
    if TEST_CELERY_AMQP_URL:
        database = redis_database(TEST_CELERY_AMQP_URL)
        if database in seen or database[2] == "amqp:/":
            raise ImproperlyConfigured(
                f"TEST_CELERY_AMQP_URL ({TEST_CELERY_AMQP_URL}) shares a RabbitMQ vhost with "
                f"{seen.get(database, 'the default vhost /')}: the test run needs a vhost of "
                "its own (e.g. amqp://guest:guest@127.0.0.1:5672/commerce_test)."
            )


_refuse_shared_redis()
# Celery takes these from the process environment before its configuration, and a `.env`
# (or the shell) puts the development values there: the test run would publish to, and its
# workers consume from, the development broker.
for _variable in (
    "CELERY_BROKER_URL",
    "CELERY_BROKER_READ_URL",
    "CELERY_BROKER_WRITE_URL",
    "CELERY_RESULT_BACKEND",
):
    os.environ.pop(_variable, None)
CACHES["default"]["LOCATION"] = REDIS_URL

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {
    "anon": "1000/minute",
    "user": "10000/minute",
    "login_address": "1000/minute",
    "login_username": "1000/minute",
}
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

# The pool stays on, as in production; the race tests run more threads than a gunicorn
# worker has, and an outage test should not wait the production timeout for each request.
if "pool" in DATABASES["default"]["OPTIONS"]:
    DATABASES["default"]["OPTIONS"]["pool"].update(max_size=32, timeout=1.0)
