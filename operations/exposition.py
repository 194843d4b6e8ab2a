"""The `/metrics` body: the per-process metrics (summed over every process of the host in
multiprocess mode) followed by the scrape-time business figures."""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client import multiprocess as prometheus_multiprocess

from commerce_project.metrics import multiprocess_dir

from .collector import BusinessCollector


def metrics_exposition() -> bytes:
    directory = multiprocess_dir()
    if directory is None:
        per_process = generate_latest(REGISTRY)
    else:
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry, path=directory)
        per_process = generate_latest(registry)
    business = CollectorRegistry(auto_describe=False)
    business.register(BusinessCollector())
    return per_process + generate_latest(business)
