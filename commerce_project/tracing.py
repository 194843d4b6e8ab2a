"""OpenTelemetry tracing: one trace from an HTTP request through the Celery tasks it causes.

`tracing_configure()` runs when Django sets up (operations.apps), in web and worker processes
alike. With `OTEL_EXPORTER_OTLP_ENDPOINT` unset it does nothing at all: no provider, no
instrumentation, so tracing costs nothing and never fails. With it set, spans are batched and
sent over OTLP/HTTP (the exporter reads the endpoint and the other standard `OTEL_EXPORTER_*`
variables itself), and the libraries are instrumented:

- Django: a server span per request (the outermost middleware);
- psycopg: a span per SQL statement (without parameters: they may hold personal data);
- redis: a span per command (carts, caches, throttling, the Redis broker's own traffic);
- Celery: a span per publish and per task run; the publish writes the trace context into the
  message headers and the worker continues it, so a saga's steps join the trace of the
  checkout that started it. Steps chained inside one task (sagas.services) run inside that
  task's span, and the next task is published from it, so the chain keeps the trace.

The trace id goes onto every log line and into every event's metadata (commerce_project.context).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from opentelemetry import trace
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

logger = logging.getLogger(__name__)


def tracing_configure() -> bool:
    """Set up export and instrumentation when an OTLP endpoint is configured; returns
    whether tracing is on."""
    if not settings.OTEL_EXPORTER_OTLP_ENDPOINT:
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    tracing_start(OTLPSpanExporter())
    logger.info("tracing on: spans go to %s", settings.OTEL_EXPORTER_OTLP_ENDPOINT)
    return True


def tracing_start(exporter: SpanExporter) -> TracerProvider:
    """Install the process's tracer provider, batching spans to `exporter`, and instrument
    the libraries."""
    provider = tracer_provider_for(exporter, BatchSpanProcessor)
    trace.set_tracer_provider(provider)
    libraries_instrument(provider)
    return provider


def tracer_provider_for(
    exporter: SpanExporter, processor: Callable[[SpanExporter], SpanProcessor]
) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: settings.OTEL_SERVICE_NAME}))
    provider.add_span_processor(processor(exporter))
    return provider


def _instrumentors() -> list[BaseInstrumentor]:
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    return [DjangoInstrumentor(), PsycopgInstrumentor(), RedisInstrumentor(), CeleryInstrumentor()]


def libraries_instrument(provider: TracerProvider) -> None:
    """Instrument Django, psycopg (no parameters: they may hold personal data), redis and
    Celery, sending their spans to `provider`. Django's must come before the WSGI handler
    loads its middleware (it inserts its own, outermost)."""
    for instrumentor in _instrumentors():
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument(tracer_provider=provider)


def libraries_uninstrument() -> None:
    """Undo `libraries_instrument` (tests that trace one scenario)."""
    for instrumentor in _instrumentors():
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()
