"""OpenTelemetry traces and metrics, JSON logs with the trace id.

Traces follow a request from HTTP through the outbox and Kafka (W3C ``traceparent`` header) to
the consumer. They are exported over OTLP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set, to the
console when ``KEHU_OTEL_CONSOLE=1``, and otherwise kept only as context to propagate. Metrics
are OpenTelemetry instruments read by the Prometheus reader and served at ``/metrics``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import dataclass
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.context import Context
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.metrics import _Gauge as Gauge
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_propagator = TraceContextTextMapPropagator()
_configured = False


def setup_telemetry(service: str, *, span_exporter: SpanExporter | None = None) -> None:
    """Install the process's tracer and meter providers (once; later calls are no-ops)."""
    global _configured
    if _configured:
        return
    _configured = True
    resource = Resource.create({"service.name": f"kehu-{service}", "service.namespace": "kehu"})
    tracer_provider = TracerProvider(resource=resource)
    if span_exporter is not None:
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor

        tracer_provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    elif os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    elif os.environ.get("KEHU_OTEL_CONSOLE") == "1":
        tracer_provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=[PrometheusMetricReader()]))


_tracer: trace.Tracer | None = None


def tracer() -> trace.Tracer:
    # get_tracer() builds a new Tracer on every call (4% of a consumer's CPU when called per
    # event); the provider is set once per process, so the tracer is built once too.
    global _tracer
    if _tracer is None:
        _tracer = trace.get_tracer("kehu")
    return _tracer


def current_traceparent() -> str | None:
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get("traceparent")


def context_from_traceparent(traceparent: str | None) -> Context | None:
    if not traceparent:
        return None
    return _propagator.extract({"traceparent": traceparent})


@dataclass(frozen=True)
class Instruments:
    """The metrics every service reports (names as Prometheus shows them, less the suffixes)."""

    events_processed: metrics.Counter
    events_duplicate: metrics.Counter
    dead_letters: metrics.Counter
    consumer_lag: Gauge
    broker_resets: metrics.Counter
    outbox_published: metrics.Counter
    outbox_backlog: Gauge


_instruments: Instruments | None = None


def instruments() -> Instruments:
    global _instruments
    if _instruments is None:
        meter = metrics.get_meter("kehu")
        _instruments = Instruments(
            events_processed=meter.create_counter("kehu.events.processed", description="Events applied by a consumer."),
            events_duplicate=meter.create_counter("kehu.events.duplicate", description="Redelivered events skipped by the inbox."),
            dead_letters=meter.create_counter("kehu.dead_letters", description="Records sent to a dead-letter topic."),
            consumer_lag=meter.create_gauge("kehu.consumer.lag", description="Records fetched-behind the high watermark."),
            broker_resets=meter.create_counter("kehu.consumer.broker_resets", description="Partitions re-read after a broker reset."),
            outbox_published=meter.create_counter("kehu.outbox.published", description="Outbox rows published to Kafka."),
            outbox_backlog=meter.create_gauge("kehu.outbox.backlog", description="Outbox rows waiting to be published."),
        )
    return _instruments


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the trace id when a span is current."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        ctx = trace.get_current_span().get_span_context()
        if ctx.is_valid:
            entry["trace_id"] = f"{ctx.trace_id:032x}"
            entry["span_id"] = f"{ctx.span_id:016x}"
        for key in ("consumer", "topic", "partition", "offset", "event_id"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def setup_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiokafka logs every reconnect attempt at ERROR while the broker is down; once is enough.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL if level.upper() != "DEBUG" else logging.DEBUG)
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
