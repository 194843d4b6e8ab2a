"""Settings of the benchmark server (bench.http): the project's, production-like (DEBUG off),
with the baselines of bench/urls.py beside the real API. The database and Redis come from
the environment like in any run; the runner points them at the benchmark database."""

from commerce_project.settings.base import *  # noqa: F403
from commerce_project.settings.base import LOGGING, REST_FRAMEWORK

DEBUG = False
ROOT_URLCONF = "bench.urls"
# Throttling stays on (its Redis round trip is part of every request's cost) with a budget
# a benchmark cannot exhaust. Per second, so that a caller's throttle log (the requests of
# one window, accounts/token_cache.py) stays about as long as a busy real user's.
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {"anon": "1000000/second", "user": "1000000/second"}
# The cart benchmark adds to the same ten lines for as long as it runs; the check itself
# still runs on every add.
CART_MAX_LINE_QUANTITY = 1_000_000_000
LOGGING["root"]["level"] = "WARNING"
