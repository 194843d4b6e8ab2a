"""Test settings: the real PostgreSQL and Redis, on their own database and Redis numbers."""

from .base import *  # noqa: F403
from .base import CACHES, REST_FRAMEWORK, env

# pytest-django creates test_<name> from DATABASE_URL's name; Redis gets its own numbers
# so a test run never touches development data (and flushing them is safe).
REDIS_URL = env.str("TEST_REDIS_URL", default="redis://127.0.0.1:6379/15")
CACHES["default"]["LOCATION"] = REDIS_URL
CELERY_BROKER_URL = env.str("TEST_CELERY_BROKER_URL", default="redis://127.0.0.1:6379/14")
CELERY_RESULT_BACKEND = env.str("TEST_CELERY_RESULT_BACKEND", default="redis://127.0.0.1:6379/13")

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {
    "anon": "1000/minute",
    "user": "10000/minute",
    "login_address": "1000/minute",
    "login_username": "1000/minute",
}
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
