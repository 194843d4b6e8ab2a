"""deploy/grafana/commerce.json is valid JSON and queries only metrics the service exports
(a renamed metric would otherwise leave a panel silently empty)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from tests.operations.scrape import scrape

pytestmark = pytest.mark.django_db
DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "commerce.json"
_METRIC = re.compile(r"\b(commerce_[a-z0-9_]+)")


_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}


def series_names(families: Iterable[Metric]) -> set[str]:
    """Every series name a query may use for these families, with or without samples."""
    names = set()
    for family in families:
        names.add(family.name)
        names.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, ()))
        names.update(sample.name for sample in family.samples)
    return names


def exported_series_names(text: str) -> set[str]:
    return series_names(text_string_to_metric_families(text))


def test_every_queried_metric_is_exported() -> None:
    # given the dashboard's queries
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    queried = {name for expr in queries for name in _METRIC.findall(expr)}
    assert len(queried) >= 10
    # when the service is scraped (every per-process metric declared, even with no sample yet)
    exported = exported_series_names(scrape())
    declared = {
        name
        for collector in list(REGISTRY._collector_to_names)
        for name in REGISTRY._collector_to_names[collector]
    }
    # then every metric a panel asks for exists
    assert queried - exported - declared == set()


def test_a_misspelt_metric_would_be_caught() -> None:
    exported = exported_series_names(scrape())
    assert "commerce_order_event_total" not in exported
    assert "commerce_order_events_total" in exported
