"""An OTLP/HTTP trace receiver on 127.0.0.1 for end-to-end tests: the services export their spans to it as
they would to a collector (OTEL_EXPORTER_OTLP_ENDPOINT), and the test reads what arrived."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, Response
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from .e2e_platform import free_port


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, kind) if kind else None


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    trace_id: str
    span_id: str
    parent_id: str
    name: str
    attributes: dict[str, Any]
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def text(self) -> str:
        """Everything the span carries, as text (to look for what must never be in it)."""
        return repr((self.name, self.attributes, self.events))

    def holding(self, value: str) -> list[str]:
        """The names of the attributes whose value holds `value`."""
        return [name for name, held in self.attributes.items() if value in str(held)]


class OtlpReceiver:
    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self.port = free_port()
        self.app = FastAPI()
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

        @self.app.post("/v1/traces")
        async def traces(request: Request) -> Response:
            export = ExportTraceServiceRequest.FromString(await request.body())
            for resource_spans in export.resource_spans:
                resource = {kv.key: _value(kv.value) for kv in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        self.spans.append(
                            ReceivedSpan(
                                service=str(resource.get("service.name")),
                                trace_id=span.trace_id.hex(),
                                span_id=span.span_id.hex(),
                                parent_id=span.parent_span_id.hex(),
                                name=span.name,
                                attributes={kv.key: _value(kv.value) for kv in span.attributes},
                                events=[
                                    (e.name, {kv.key: _value(kv.value) for kv in e.attributes})
                                    for e in span.events
                                ],
                            )
                        )
            return Response(
                ExportTraceServiceResponse().SerializeToString(), media_type="application/x-protobuf"
            )

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/traces"

    def trace(self, trace_id: str) -> list[ReceivedSpan]:
        return [span for span in self.spans if span.trace_id == trace_id]

    async def start(self) -> None:
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while not self._server.started:
            if loop.time() > deadline:
                raise RuntimeError("the OTLP receiver did not start")
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
