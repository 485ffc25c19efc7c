"""A small OTLP receiver for tests: OTLP/HTTP (protobuf) or OTLP/gRPC on 127.0.0.1, a free
port, decoding export requests with `opentelemetry-proto` and keeping them in memory.

    with OtlpReceiver("grpc") as rx:  # or "http"
        ...  # export to rx.endpoint
        spans = rx.wait_for_spans(3)
"""

from __future__ import annotations

import gzip
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

import grpc  # type: ignore[import-untyped]
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as mpb
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2_grpc as mgrpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as tpb
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc as tgrpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

Transport = Literal["http", "grpc"]


def value_of(value: AnyValue) -> Any:
    """A decoded OTLP attribute value (arrays as lists)."""
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [value_of(v) for v in value.array_value.values]
    return getattr(value, kind) if kind else None


def attributes_of(pairs: Any) -> dict[str, Any]:
    """OTLP `KeyValue`s as a dict."""
    return {kv.key: value_of(kv.value) for kv in pairs if isinstance(kv, KeyValue)}


@dataclass
class ReceivedSpan:
    """One exported span, decoded."""

    name: str
    kind: int
    span_id: bytes
    parent_span_id: bytes
    trace_id: bytes
    attributes: dict[str, Any]
    status_code: int
    resource: dict[str, Any]
    events: list[str]


@dataclass
class Received:
    """Everything a receiver got, guarded by a condition for waiting."""

    traces: list[tpb.ExportTraceServiceRequest] = field(default_factory=list)
    metrics: list[mpb.ExportMetricsServiceRequest] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)

    def add(self, message: Any, headers: dict[str, str]) -> None:
        with self.cond:
            target = (
                self.traces if isinstance(message, tpb.ExportTraceServiceRequest) else self.metrics
            )
            target.append(message)
            self.headers.append(headers)
            self.cond.notify_all()


class OtlpReceiver:
    """An OTLP collector stand-in on 127.0.0.1 (a free port); use as a context manager."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.received = Received()
        self.endpoint = ""

    def __enter__(self) -> OtlpReceiver:
        self._stack = ExitStack()
        serve = self._serve_http if self.transport == "http" else self._serve_grpc
        self.endpoint = self._stack.enter_context(serve())
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    # -- reading ---------------------------------------------------------------------------

    def spans(self) -> list[ReceivedSpan]:
        out: list[ReceivedSpan] = []
        with self.received.cond:
            requests = list(self.received.traces)
        for request in requests:
            for rs in request.resource_spans:
                resource = attributes_of(rs.resource.attributes)
                for ss in rs.scope_spans:
                    for s in ss.spans:
                        out.append(
                            ReceivedSpan(
                                s.name,
                                s.kind,
                                s.span_id,
                                s.parent_span_id,
                                s.trace_id,
                                attributes_of(s.attributes),
                                s.status.code,
                                resource,
                                [e.name for e in s.events],
                            )
                        )
        return out

    def metric_names(self) -> set[str]:
        with self.received.cond:
            requests = list(self.received.metrics)
        return {
            m.name
            for request in requests
            for rm in request.resource_metrics
            for sm in rm.scope_metrics
            for m in sm.metrics
        }

    def wait_until(self, check: Callable[[], bool], timeout: float = 10.0) -> bool:
        """Wait until `check()` holds (re-checked on every export), at most `timeout` s."""
        deadline = time.monotonic() + timeout
        with self.received.cond:
            while not check():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.received.cond.wait(left)
        return True

    # -- servers ---------------------------------------------------------------------------

    @contextmanager
    def _serve_http(self) -> Iterator[str]:
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                encoding = self.headers.get("Content-Encoding", "")
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                if self.path == "/v1/traces":
                    message: Any = tpb.ExportTraceServiceRequest()
                    reply: Any = tpb.ExportTraceServiceResponse()
                elif self.path == "/v1/metrics":
                    message = mpb.ExportMetricsServiceRequest()
                    reply = mpb.ExportMetricsServiceResponse()
                else:
                    self.send_error(404)
                    return
                message.ParseFromString(body)
                received.add(message, {k.lower(): v for k, v in self.headers.items()})
                data = reply.SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()
            thread.join(5)

    @contextmanager
    def _serve_grpc(self) -> Iterator[str]:
        received = self.received

        class Traces(tgrpc.TraceServiceServicer):  # type: ignore[misc]
            def Export(self, request: Any, context: Any) -> Any:
                received.add(request, dict(context.invocation_metadata()))
                return tpb.ExportTraceServiceResponse()

        class Metrics(mgrpc.MetricsServiceServicer):  # type: ignore[misc]
            def Export(self, request: Any, context: Any) -> Any:
                received.add(request, dict(context.invocation_metadata()))
                return mpb.ExportMetricsServiceResponse()

        server = grpc.server(ThreadPoolExecutor(max_workers=2))
        tgrpc.add_TraceServiceServicer_to_server(Traces(), server)  # type: ignore[no-untyped-call]
        mgrpc.add_MetricsServiceServicer_to_server(Metrics(), server)  # type: ignore[no-untyped-call]
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.stop(grace=None).wait(5)
