"""Logging, tracing (OpenTelemetry, W3C trace context over Kafka headers) and metrics."""

from __future__ import annotations

import json
import logging
import random
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TextIO

from opentelemetry import trace
from opentelemetry.context import attach, detach
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, DEFAULT_ON
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, set_span_in_context

_configured: set[str] = set()
_recording = False


#: One encoder for every line: `json.dumps` with an argument builds a new encoder per call (a third of a
#: line's encoding). The output is the same.
_encode = json.JSONEncoder(ensure_ascii=False).encode


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
        return _encode(entry)


class BatchedStreamHandler(logging.StreamHandler[TextIO]):
    """Writes log lines in batches: one write per `interval` rather than one per line. Each write is a
    system call that also wakes whatever reads the pipe (honcho locally, the container runtime in
    Kubernetes); per line it cost as much CPU as the order service's other work for that line's event
    (py-spy: logging 3-5 % of each service's samples, almost all of it in the write). A warning or worse
    is written at once with whatever waits before it, and so is a full batch; `flush` (called by
    `logging.shutdown` at exit) writes what waits. A process killed outright loses at most `interval`
    seconds of lines."""

    def __init__(self, stream: TextIO, interval: float = 0.05, most: int = 500) -> None:
        super().__init__(stream)
        self._interval = interval
        self._most = most
        self._waiting: list[str] = []
        # the handler's own lock (held around `emit`), so the writer thread and `emit` never take two
        # locks in opposite orders
        assert self.lock is not None
        self._ready = threading.Condition(self.lock)
        threading.Thread(target=self._write_in_batches, name="log-writer", daemon=True).start()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + self.terminator
        except Exception:
            self.handleError(record)
            return
        with self._ready:
            self._waiting.append(line)
            if record.levelno >= logging.WARNING or len(self._waiting) >= self._most:
                self._write_waiting()
            elif len(self._waiting) == 1:
                self._ready.notify()

    def flush(self) -> None:
        with self._ready:
            self._write_waiting()

    def _write_waiting(self) -> None:
        text, self._waiting = "".join(self._waiting), []
        try:
            if text:
                self.stream.write(text)
            super().flush()
        except Exception:  # a closed or broken stream: the lines are lost, the service goes on
            return

    def _write_in_batches(self) -> None:
        while True:
            with self._ready:
                while not self._waiting:
                    self._ready.wait()
            time.sleep(self._interval)  # the lines of this moment join the batch
            self.flush()


def setup_logging(level: str) -> None:
    # A line holds the time, level, logger, message, trace id and traceback (JsonFormatter), so a record
    # need not find its caller's file and line (a walk up the stack), thread or process: a quarter of a
    # line's CPU (26 -> 20 us in process). `_srcfile = None` is the logging module's documented switch.
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    handler = BatchedStreamHandler(sys.stdout)
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
    global _recording
    if "tracing" in _configured:
        return
    _configured.add("tracing")
    trace.set_tracer_provider(tracer_provider(service, otlp_endpoint))
    _recording = bool(otlp_endpoint)


def recording() -> bool:
    """Whether this process records spans (an OTLP endpoint is set): else `carried` stands in for them."""
    return _recording


def parent_of(traceparent: str | None) -> SpanContext | None:
    """The span a W3C `traceparent` names (`00-<trace id>-<span id>-<flags>`); None when it names none."""
    parts = (traceparent or "").split("-")
    if [len(part) for part in parts] != [2, 32, 16, 2] or parts[0] != "00":
        return None
    try:
        context = SpanContext(int(parts[1], 16), int(parts[2], 16), True, TraceFlags(int(parts[3], 16)))
    except ValueError:
        return None
    return context if context.is_valid else None


@contextmanager
def carried(traceparent: str | None) -> Iterator[None]:
    """The trace a request or message came in (its `traceparent`), else a new one, current while it is
    handled, under a span id of its own: its log lines carry the trace id, and what it calls or publishes
    carries the trace on. What a span that is not recorded gives (`tracer_provider` without an endpoint),
    for about a seventh of its CPU (4 against 30 us a consumed record, measured in process): no sampler,
    no attributes, no tracestate (nobody reads it without a collector)."""
    parent = parent_of(traceparent)
    trace_id = parent.trace_id if parent is not None else random.getrandbits(128) or 1
    flags = parent.trace_flags if parent is not None else TraceFlags(0)
    span = NonRecordingSpan(SpanContext(trace_id, random.getrandbits(64) or 1, False, flags))
    token = attach(set_span_in_context(span))
    try:
        yield
    finally:
        detach(token)
