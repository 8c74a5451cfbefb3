"""Tracing without an exporter records nothing, yet trace ids still reach logs and message headers; log
lines go out in batches."""

from __future__ import annotations

import io
import json
import logging
import time
from pathlib import Path

from faka_common.telemetry import BatchedStreamHandler, JsonFormatter, carried, parent_of, tracer_provider
from opentelemetry import propagate, trace


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


class CountingStream(io.StringIO):
    """Counts the writes a handler makes (each is a system call on a real pipe)."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def info(message: str, level: int = logging.INFO) -> logging.LogRecord:
    return logging.LogRecord("svc", level, __file__, 1, message, None, None)


def test_log_lines_of_a_moment_go_out_in_one_write_soon_after() -> None:
    stream = CountingStream()
    handler = BatchedStreamHandler(stream, interval=0.05)
    for n in range(20):
        handler.handle(info(f"order {n} paid"))
    assert stream.writes == 0
    deadline = time.monotonic() + 5
    while stream.writes == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert stream.writes == 1
    assert [line.split(" ")[1] for line in stream.getvalue().splitlines()] == [str(n) for n in range(20)]


def test_a_warning_goes_out_at_once_with_the_lines_before_it_and_flush_writes_what_waits() -> None:
    stream = CountingStream()
    handler = BatchedStreamHandler(stream, interval=60)
    handler.handle(info("order 1 paid"))
    handler.handle(info("relay failed", logging.WARNING))
    assert stream.writes == 1
    assert stream.getvalue().splitlines() == ["order 1 paid", "relay failed"]
    handler.handle(info("order 2 paid"))
    handler.flush()  # what logging.shutdown does at exit
    assert stream.getvalue().splitlines()[-1] == "order 2 paid"


def test_a_closed_stream_loses_the_lines_and_raises_nowhere(tmp_path: Path) -> None:
    """The writer thread flushes after its lines have gone (a warning took them first): on a stream closed
    meanwhile (a process exiting, a test's captured output) that flush raised in the thread."""
    stream = (tmp_path / "service.log").open("w")
    handler = BatchedStreamHandler(stream, interval=60)
    stream.close()
    handler.flush()  # nothing waiting: only the stream's own flush
    handler.handle(info("order 1 paid", logging.WARNING))
    handler.flush()


CALLER = "0af7651916cd43dd8448eb211c80319c"


def test_carried_continues_the_callers_trace_under_a_span_of_its_own_and_passes_it_on() -> None:
    before = trace.get_current_span().get_span_context()
    with carried(f"00-{CALLER}-b7ad6b7169203331-01"):
        current = trace.get_current_span().get_span_context()
        headers: dict[str, str] = {}
        propagate.inject(headers)
    assert format(current.trace_id, "032x") == CALLER
    assert current.span_id not in (0, 0xB7AD6B7169203331)
    assert current.trace_flags == 1
    assert headers["traceparent"] == f"00-{CALLER}-{current.span_id:016x}-01"
    assert trace.get_current_span().get_span_context() == before  # put back once handled


def test_carried_starts_a_new_trace_for_no_traceparent_and_for_a_malformed_one() -> None:
    seen = set()
    for traceparent in (
        None,
        "",
        f"00-{CALLER}-b7ad6b7169203331",  # no flags
        f"00-{CALLER[:-1]}x-b7ad6b7169203331-01",  # not hex
        f"00-{'0' * 32}-b7ad6b7169203331-01",  # the invalid trace id
        f"ff-{CALLER}-b7ad6b7169203331-01",  # a version this parser does not know
        f"00-{CALLER}-b7ad6b7169203331-01-",
    ):
        assert parent_of(traceparent) is None
        with carried(traceparent):
            context = trace.get_current_span().get_span_context()
        assert context.is_valid and not context.is_remote
        seen.add(context.trace_id)
    assert len(seen) == 7 and int(CALLER, 16) not in seen


def test_log_lines_of_a_carried_trace_name_it() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "paid", None, None)
    with carried(f"00-{CALLER}-b7ad6b7169203331-00"):
        line = json.loads(JsonFormatter().format(record))
    assert line["trace_id"] == CALLER
