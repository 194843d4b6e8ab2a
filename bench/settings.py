"""Settings for benchmark servers: production-like (DEBUG off), their own database, and the
baseline views of bench/urls.py mounted beside the real API."""

from commerce_project.settings.base import *  # noqa: F403
from commerce_project.settings.base import DATABASES, REST_FRAMEWORK, env

DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "bench.urls"
DATABASES["default"]["NAME"] = env.str("BENCH_DATABASE_NAME", default="commerce_bench")
# Throttling stays on (its Redis round trips are part of the cost being measured) but with
# budgets a benchmark cannot exhaust.
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {"anon": "100000000/minute", "user": "100000000/minute"}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOG_LEVEL = "WARNING"
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
