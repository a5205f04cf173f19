"""structlog JSON logging with correlation ids.

Every line is one JSON object. Inside a nameko worker the `service`, `entrypoint`,
`correlation_id`, `causation_id` and `event_type` of the work are bound in context variables
(greenlet-local under eventlet), so every line a handler logs carries them.
"""
from __future__ import annotations

import logging
import os
import sys

import structlog

_configured = False


def configure_logging(service: str | None = None, level: str | None = None, stream=None) -> None:
    """Configure structlog (and the stdlib root logger) to write JSON lines to `stream`."""
    global _configured
    level_name = (level or os.environ.get("BAODAO_LOG_LEVEL", "INFO")).upper()
    stream = stream or sys.stderr

    def add_default_service(_, __, event_dict):
        if service and "service" not in event_dict:
            event_dict["service"] = service
        return event_dict

    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            add_default_service,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level_name, logging.INFO)),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    if not _configured:
        logging.basicConfig(level=logging.WARNING, stream=stream,
                            format='{"level": "%(levelname)s", "logger": "%(name)s", "event": "%(message)s"}')
        logging.getLogger("nameko.containers").addFilter(_ExpectedRefusals())
    _configured = True


class _ExpectedRefusals(logging.Filter):
    """A refused command is an answer, not a crash: one INFO line, no traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.WARNING and str(record.msg).startswith("(expected)"):
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.INFO, "INFO"
            return logging.getLogger(record.name).isEnabledFor(logging.INFO)
        return True


def logging_configured() -> bool:
    return _configured


def bind_work(**values) -> None:
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(**{k: v for k, v in values.items() if v is not None})


def clear_work() -> None:
    structlog.contextvars.clear_contextvars()


def quiet_amqp_client() -> None:
    """py-amqp warns when a publisher confirm arrives on a channel that nameko's standalone RPC
    client is closing; harmless, and noise in a command-line tool's output."""
    logging.getLogger("amqp").setLevel(logging.ERROR)
