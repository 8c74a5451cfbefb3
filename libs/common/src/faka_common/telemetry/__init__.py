"""Logging, tracing (OpenTelemetry, W3C trace context over Kafka headers) and metrics."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, DEFAULT_ON

_configured: set[str] = set()


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the trace id when a span is active."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            entry["trace_id"] = format(span.trace_id, "032x")
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request URL at INFO (thousands of lines under load, and a URL can hold a secret)
    for noisy in ("aiokafka", "kafka", "uvicorn.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def tracer_provider(service: str, otlp_endpoint: str | None) -> TracerProvider:
    """Spans recorded and exported over OTLP/HTTP when an endpoint is set. Without one nobody reads them, so
    none is recorded (sampler off: no attributes, events or timings are collected), yet every span still
    has a trace id: log lines carry it and it rides on to Kafka headers and HTTP calls as before."""
    if not otlp_endpoint:
        return TracerProvider(resource=Resource.create({"service.name": service}), sampler=ALWAYS_OFF)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    provider = TracerProvider(resource=Resource.create({"service.name": service}), sampler=DEFAULT_ON)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_endpoint)))
    return provider


def setup_tracing(service: str, otlp_endpoint: str | None) -> None:
    """Install a tracer provider once per process (`tracer_provider`)."""
    if "tracing" in _configured:
        return
    _configured.add("tracing")
    trace.set_tracer_provider(tracer_provider(service, otlp_endpoint))
