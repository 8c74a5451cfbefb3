"""Tracing without an exporter records nothing, yet trace ids still reach logs and message headers."""

from __future__ import annotations

import json
import logging

from faka_common.telemetry import JsonFormatter, tracer_provider
from opentelemetry import propagate


def test_without_an_exporter_no_span_is_recorded_but_each_has_a_trace_id() -> None:
    tracer = tracer_provider("svc", None).get_tracer("test")
    with tracer.start_as_current_span("place order") as span:
        context = span.get_span_context()
        assert not span.is_recording()
        assert context.is_valid
        headers: dict[str, str] = {}
        propagate.inject(headers)
        with tracer.start_as_current_span("child") as child:
            assert child.get_span_context().trace_id == context.trace_id
    assert headers["traceparent"].split("-")[1] == format(context.trace_id, "032x")


def test_without_an_exporter_log_lines_still_carry_the_trace_id() -> None:
    tracer = tracer_provider("svc", None).get_tracer("test")
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "paid", None, None)
    with tracer.start_as_current_span("pay") as span:
        line = json.loads(JsonFormatter().format(record))
    assert line["trace_id"] == format(span.get_span_context().trace_id, "032x")


def test_with_an_exporter_spans_are_recorded() -> None:
    provider = tracer_provider("svc", "http://127.0.0.1:9/v1/traces")
    try:
        with provider.get_tracer("test").start_as_current_span("place order") as span:
            assert span.is_recording()
    finally:
        provider.shutdown()
