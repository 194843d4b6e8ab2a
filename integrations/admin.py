"""The integrations app in the admin: each area registers its own."""

from .webhooks import admin as webhooks_admin  # noqa: F401
