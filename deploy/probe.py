"""Container health checks without curl: exit 0 when the probe passes, 1 otherwise.

    python -m deploy.probe ready   [--port N]   # GET /ready on METRICS_PORT (readiness)
    python -m deploy.probe live    [--port N]   # GET /health on METRICS_PORT (liveness)
    python -m deploy.probe tcp PORT             # something listens on PORT (e.g. the gateway)

Used by docker-compose health checks; Kubernetes calls the HTTP paths itself.
"""
from __future__ import annotations

import argparse
import os
import socket
import sys
import urllib.error
import urllib.request

PATHS = {"ready": "/ready", "live": "/health"}


def http_ok(port: int, path: str, host: str = "127.0.0.1", timeout: float = 3.0) -> tuple[bool, str]:
    try:
        with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=timeout) as resp:
            return resp.status == 200, resp.read().decode(errors="replace")[:500]
    except urllib.error.HTTPError as err:
        return False, err.read().decode(errors="replace")[:500]
    except OSError as err:
        return False, f"{type(err).__name__}: {err}"


def tcp_ok(port: int, host: str = "127.0.0.1", timeout: float = 3.0) -> tuple[bool, str]:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True, f"port {port} open"
    except OSError as err:
        return False, f"{type(err).__name__}: {err}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.probe", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("check", choices=["ready", "live", "tcp"])
    parser.add_argument("port", nargs="?", type=int)
    parser.add_argument("--port", dest="port_option", type=int)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    port = args.port_option or args.port or int(os.environ.get("METRICS_PORT", "9100"))
    ok, detail = tcp_ok(port, args.host) if args.check == "tcp" else http_ok(port, PATHS[args.check], args.host)
    print(detail)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
