"""Fixtures shared with other packages."""

from tests.inventory.conftest import closed_redis_url  # noqa: F401  (shared fixture)
