"""Reading `/metrics` in tests: the exposition parsed with prometheus-client's own parser."""

from __future__ import annotations

from collections.abc import Mapping

from django.test import Client
from prometheus_client.parser import text_string_to_metric_families


def scrape(client: Client | None = None, **headers: str) -> str:
    response = (client or Client()).get("/metrics", headers=headers)
    assert response.status_code == 200, response.content
    return response.content.decode()


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample by (name, labels)."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(text: str, name: str, labels: Mapping[str, str] | None = None) -> float | None:
    return samples(text).get((name, frozenset((labels or {}).items())))
