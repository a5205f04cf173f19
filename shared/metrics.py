"""Prometheus metrics, liveness and readiness of a service process.

The kernel records (`shared/nameko_edge/`, `shared/relay.py`):
- `baodao_commands_total{service,command,outcome}` and `baodao_command_seconds` — RPC commands,
  outcome `ok` | `rejected` (a refusal, nothing changed) | `error`;
- `baodao_events_in_total{service,source,event_type,outcome}` — events consumed, outcome
  `handled` | `retry` (scheduled on the retry queue) | `dead_lettered` | `undecodable`;
- `baodao_event_handling_seconds{service,source,event_type}` — handler run time;
- `baodao_event_delivery_seconds{service,source,event_type}` — from the event's `occurred_at`
  to the end of its handling here (the end-to-end latency of one hop);
- `baodao_events_out_total{service}` — events the relay published and the broker confirmed;
- `baodao_inbox_retries_total{service,queue}`, `baodao_dead_letters_total{service,queue}`;
- `baodao_relay_lag_events{service}` and `baodao_projection_lag_events{service,projection}` —
  read at scrape time from the database (events stored and not yet published / projected).

`serve(port, ...)` answers, on `METRICS_PORT`:
- `/metrics` — the above, Prometheus text format;
- `/health` — liveness: 200 while the process serves requests (its event loop is not stuck);
- `/ready`  — readiness: 200 once the service has started and its database and broker answer,
  503 with the reason otherwise (a load balancer then stops sending it work).
"""
from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timezone
from typing import Callable, Iterable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

REGISTRY = CollectorRegistry(auto_describe=True)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

commands = Counter("baodao_commands", "RPC commands by outcome", ["service", "command", "outcome"],
                   registry=REGISTRY)
command_seconds = Histogram("baodao_command_seconds", "RPC command run time", ["service", "command"],
                            buckets=LATENCY_BUCKETS, registry=REGISTRY)
events_in = Counter("baodao_events_in", "Events consumed by outcome", ["service", "source", "event_type", "outcome"],
                    registry=REGISTRY)
event_handling_seconds = Histogram("baodao_event_handling_seconds", "Event handler run time",
                                   ["service", "source", "event_type"], buckets=LATENCY_BUCKETS, registry=REGISTRY)
event_delivery_seconds = Histogram("baodao_event_delivery_seconds",
                                   "From an event's occurred_at to the end of its handling",
                                   ["service", "source", "event_type"], buckets=LATENCY_BUCKETS, registry=REGISTRY)
events_out = Counter("baodao_events_out", "Events published by the relay and confirmed by the broker", ["service"],
                     registry=REGISTRY)
inbox_retries = Counter("baodao_inbox_retries", "Failed event handlings scheduled for a retry", ["service", "queue"],
                        registry=REGISTRY)
dead_letters = Counter("baodao_dead_letters", "Events parked on a dead-letter queue", ["service", "queue"],
                       registry=REGISTRY)
calendar_days_left = Gauge("baodao_calendar_covered_days_left",
                           "Days until the last day the official holiday calendar covers (negative: run out)",
                           ["service"], registry=REGISTRY)


# -- recording (called by the kernel) ----------------------------------------------------------
def observe_command(service: str, command: str, outcome: str, seconds: float) -> None:
    commands.labels(service, command, outcome).inc()
    command_seconds.labels(service, command).observe(seconds)


def observe_event(service: str, source: str, event_type: str, outcome: str, seconds: float | None = None,
                  occurred_at: str | None = None) -> None:
    events_in.labels(service, source, event_type, outcome).inc()
    if seconds is not None:
        event_handling_seconds.labels(service, source, event_type).observe(seconds)
    if occurred_at and outcome == "handled":
        age = age_seconds(occurred_at)
        if age is not None:
            event_delivery_seconds.labels(service, source, event_type).observe(age)


def observe_retry(service: str, queue: str) -> None:
    inbox_retries.labels(service, queue).inc()


def observe_dead_letter(service: str, queue: str) -> None:
    dead_letters.labels(service, queue).inc()


def observe_published(service: str, count: int) -> None:
    if count:
        events_out.labels(service).inc(count)


def age_seconds(occurred_at: str) -> float | None:
    try:
        then = datetime.fromisoformat(occurred_at)
    except (TypeError, ValueError):
        return None
    if then.tzinfo is None:
        then = then.replace(tzinfo=timezone.utc)
    return max(0.0, (datetime.now(timezone.utc) - then).total_seconds())


# -- lags read at scrape time ------------------------------------------------------------------
class LagCollector:
    """Relay and projection lags of every service started in this process, read from their
    databases when Prometheus scrapes (a failing read is skipped, not fatal)."""

    def __init__(self):
        self._sources: dict[str, tuple[Callable[[], int], Callable[[], dict]]] = {}
        self._lock = threading.Lock()

    def register(self, service: str, relay_lag: Callable[[], int], projection_lags: Callable[[], dict]) -> None:
        with self._lock:
            self._sources[service] = (relay_lag, projection_lags)

    def unregister(self, service: str) -> None:
        with self._lock:
            self._sources.pop(service, None)

    def collect(self) -> Iterable[GaugeMetricFamily]:
        relay = GaugeMetricFamily("baodao_relay_lag_events", "Events stored but not yet confirmed by the broker",
                                  labels=["service"])
        projection = GaugeMetricFamily("baodao_projection_lag_events", "Events stored but not yet projected",
                                       labels=["service", "projection"])
        with self._lock:
            sources = list(self._sources.items())
        for service, (relay_lag, projection_lags) in sources:
            try:
                relay.add_metric([service], float(relay_lag()))
                for name, lag in projection_lags().items():
                    projection.add_metric([service, name], float(lag))
            except Exception:  # noqa: BLE001 - a scrape must not fail because the database hiccups
                continue
        yield relay
        yield projection

    def describe(self):
        return []


lags = LagCollector()
REGISTRY.register(lags)


# -- the HTTP side -----------------------------------------------------------------------------
class Probes:
    """What `/ready` asks: a list of named checks, each raising (or returning False) when not ready."""

    def __init__(self, service: str):
        self.service = service
        self.started = False
        self.checks: list[tuple[str, Callable[[], object]]] = []
        self.details: list[tuple[str, Callable[[], object]]] = []

    def add(self, name: str, check: Callable[[], object]) -> None:
        self.checks.append((name, check))

    def add_detail(self, name: str, detail: Callable[[], object]) -> None:
        """Something operators should see in `/ready` (an alert, say) that does not make the
        service unready: its value appears under `details` when it is not None."""
        self.details.append((name, detail))

    def readiness(self) -> tuple[bool, dict]:
        if not self.started:
            return False, {"service": self.service, "ready": False, "reason": "starting"}
        failed = {}
        for name, check in self.checks:
            try:
                if check() is False:
                    failed[name] = "not ready"
            except Exception as exc:  # noqa: BLE001 - any failure means not ready
                failed[name] = f"{type(exc).__name__}: {exc}"[:300]
        body = {"service": self.service, "ready": not failed}
        if failed:
            body["failed"] = failed
        details = {}
        for name, detail in self.details:
            try:
                value = detail()
            except Exception as exc:  # noqa: BLE001 - a detail never makes the service unready
                value = f"{type(exc).__name__}: {exc}"[:300]
            if value is not None:
                details[name] = value
        if details:
            body["details"] = details
        return not failed, body


def wsgi_app(probes: Probes):
    def app(environ, start_response):
        path = environ.get("PATH_INFO", "/")
        if path == "/metrics":
            start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
            return [generate_latest(REGISTRY)]
        if path == "/health":
            return _json(start_response, 200, {"service": probes.service, "alive": True, "time": time.time()})
        if path == "/ready":
            ready, body = probes.readiness()
            return _json(start_response, 200 if ready else 503, body)
        return _json(start_response, 404, {"error": "not found", "paths": ["/metrics", "/health", "/ready"]})

    return app


def _json(start_response, status: int, body: dict):
    text = {200: "200 OK", 404: "404 Not Found", 503: "503 Service Unavailable"}[status]
    start_response(text, [("Content-Type", "application/json")])
    return [json.dumps(body, ensure_ascii=False).encode("utf-8")]


class MetricsServer:
    """The HTTP endpoint on an eventlet green socket (services run on eventlet); `port` 0 takes
    any free port (see `.port`)."""

    def __init__(self, probes: Probes, port: int, host: str = "0.0.0.0"):
        import eventlet

        self.probes = probes
        self._socket = eventlet.listen((host, port))
        self.port = self._socket.getsockname()[1]

    def serve_forever(self) -> None:
        import eventlet.wsgi

        class _Quiet:
            def write(self, *_):
                pass

        try:
            eventlet.wsgi.server(self._socket, wsgi_app(self.probes), log=_Quiet(), log_output=False)
        except (OSError, ValueError):  # the socket was closed by `close()`
            pass

    def close(self) -> None:
        try:
            self._socket.close()
        except OSError:
            pass
