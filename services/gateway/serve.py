"""Run the gateway: `python -m services.gateway.serve [--port N] [--demo]`.

Served by eventlet's WSGI server: the services' clients (nameko, kombu, psycopg2 made green)
already run on eventlet, so one green thread per request costs little and a long-lived
Server-Sent Events stream holds no OS thread. `--demo` starts registration, dispatch and notify
in this process on their own SQLite files and a fresh RabbitMQ vhost, fills a small district
and prints the demo accounts.
"""
from __future__ import annotations

import eventlet

eventlet.monkey_patch()

import argparse  # noqa: E402
import os  # noqa: E402
import secrets  # noqa: E402
import sys  # noqa: E402

import structlog  # noqa: E402

from services.gateway.accounts import AccountStore, Tokens  # noqa: E402
from services.gateway.app import Gateway  # noqa: E402
from services.gateway.config import GatewayConfig  # noqa: E402
from services.gateway.live import LiveFeed  # noqa: E402
from services.gateway.rpc import RpcPool  # noqa: E402
from shared.db import database_for  # noqa: E402
from shared.logging import configure_logging, quiet_amqp_client  # noqa: E402

log = structlog.get_logger("baodao.gateway")


def build_gateway(cfg: GatewayConfig, *, live: bool = True) -> Gateway:
    database = database_for("gateway", cfg.database_url, cfg.database_schema)
    accounts = AccountStore(database)
    if cfg.admin_password:
        accounts.ensure("admin", cfg.admin_password, "city_org", "市委组织部管理员")
    secret = cfg.secret or secrets.token_hex(32)
    feed = LiveFeed(cfg.amqp_uri).start() if live else None
    return Gateway(RpcPool(cfg.amqp_uri, size=cfg.rpc_pool_size, timeout=cfg.rpc_timeout), accounts,
                   Tokens(secret, cfg.token_ttl_seconds), live=feed, secure_cookies=cfg.secure_cookies)


def serve(gateway: Gateway, port: int, host: str = "0.0.0.0") -> None:
    import eventlet.wsgi

    listener = eventlet.listen((host, port), reuse_port=False)  # a second server must fail, not share
    print(f"报到平台网关: http://127.0.0.1:{port}/  (API: /api/v1, OpenAPI: /openapi.json)", flush=True)
    # debug=False: an error the application did not catch is a bare 500, never a traceback
    eventlet.wsgi.server(listener, gateway, log_output=False, max_size=1000, keepalive=True, debug=False)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="报到平台 HTTP 网关")
    parser.add_argument("--port", type=int, default=None, help="port (default: GATEWAY_PORT or 8080)")
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--amqp-uri", default=None)
    parser.add_argument("--demo", action="store_true", help="run the services in-process with demo data")
    args = parser.parse_args(argv)
    configure_logging("gateway", level=os.environ.get("BAODAO_LOG_LEVEL", "WARNING" if args.demo else "INFO"))
    quiet_amqp_client()
    cfg = GatewayConfig.load(amqp_uri=args.amqp_uri, port=args.port)
    if args.demo:
        from services.gateway.demo import run_demo
        return run_demo(cfg, host=args.host)
    serve(build_gateway(cfg), cfg.port, args.host)
    return 0


if __name__ == "__main__":
    sys.exit(main())
