"""Calling the services over nameko RPC from the gateway's green threads.

A standalone `ClusterRpcProxy` is single-threaded (it polls its own reply queue), so the
gateway keeps a small pool of started proxies and lends one to each call. The caller's actor
and correlation id travel as nameko context data (AMQP headers), which the kernel stamps on
every event the command appends.
"""
from __future__ import annotations

import queue
import uuid
from contextlib import contextmanager

import structlog
from kombu.exceptions import OperationalError
from nameko.exceptions import RemoteError, RpcTimeout, UnknownService
from nameko.standalone.rpc import ClusterRpcProxy

from services.gateway.errors import ApiError, refused
from shared.nameko_edge import CommandRejected, patches

log = structlog.get_logger("baodao.gateway.rpc")


class RpcPool:
    def __init__(self, amqp_uri: str, size: int = 8, timeout: float = 30.0):
        self.config = {"AMQP_URI": amqp_uri}
        self.timeout = timeout
        self._idle: queue.LifoQueue = queue.LifoQueue()
        self._all: list[ClusterRpcProxy] = []
        self.size = size

    @contextmanager
    def _proxy(self):
        try:
            runner = self._idle.get_nowait()
        except queue.Empty:
            if len(self._all) < self.size:
                runner = ClusterRpcProxy(self.config, context_data={}, timeout=self.timeout)
                runner.proxy = runner.start()
                self._all.append(runner)
            else:
                runner = self._idle.get(timeout=self.timeout)
        broken = False
        try:
            yield runner
        except (RpcTimeout, OSError, ConnectionError, OperationalError):
            broken = True
            raise
        finally:
            if broken:
                self._discard(runner)
            else:
                self._idle.put(runner)

    def _discard(self, runner) -> None:
        try:
            self._all.remove(runner)
            runner.stop()
        except Exception:  # noqa: BLE001 - a broken proxy is dropped either way
            pass

    def call(self, service: str, method: str, *args, actor: dict | None = None,
             correlation_id: str | None = None, **kwargs):
        """Call `service.method`; a refusal becomes an ApiError with the service's code and
        Chinese message; an unreachable or silent service becomes 503."""
        try:
            with self._proxy() as runner:
                data = patches.proxy_context_data(runner)
                data.clear()
                data["correlation_id"] = correlation_id or str(uuid.uuid4())
                if actor is not None:
                    data["actor"] = actor
                return getattr(getattr(runner.proxy, service), method)(*args, **kwargs)
        except CommandRejected as exc:
            raise refused(exc.code, exc.message, exc.details, getattr(exc, "missing", False)) from None
        except (RpcTimeout, UnknownService, queue.Empty, OSError, ConnectionError, OperationalError) as exc:
            log.warning("rpc_unavailable", service=service, method=method, error=type(exc).__name__)
            raise ApiError(503, "service_unavailable", "服务暂时不可用，请稍后重试") from None
        except RemoteError as exc:
            log.error("rpc_remote_error", service=service, method=method, error=exc.exc_type)
            raise ApiError(502, "service_error", "服务处理出错，请稍后重试") from None

    def close(self) -> None:
        for runner in list(self._all):
            self._discard(runner)
