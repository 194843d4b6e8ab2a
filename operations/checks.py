"""System check of the metrics settings (run by `migrate`, which deployments run first, and
`manage.py check`): a METRICS_ALLOWED_CIDRS entry that is not a network would otherwise make
every scrape a 500 (operations.access parses them when a scrape comes)."""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register


def metrics_settings_problems() -> list[CheckMessage]:
    problems: list[CheckMessage] = []
    for cidr in settings.METRICS_ALLOWED_CIDRS:
        try:
            ipaddress.ip_network(cidr.strip(), strict=False)
        except ValueError as error:
            problems.append(
                Error(
                    f"METRICS_ALLOWED_CIDRS holds {cidr!r}, which is not a network: {error}.",
                    hint="Comma-separated addresses or networks, e.g. 10.0.0.0/8,127.0.0.1/32.",
                    id="operations.E001",
                )
            )
    return problems


@register()
def metrics_settings_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    return metrics_settings_problems()
