"""Gateway benchmark: HTTP round trips through the running gateway to the services.

    python -m bench.gateway [--json] [--clients 16] [--seconds 10]

Starts `python -m services.gateway.serve --demo` (registration, dispatch and notify in the same
process on SQLite, eventlet's WSGI server) on a fresh RabbitMQ vhost (made with `rabbitmqctl`,
deleted after) and a temporary data directory, then measures from this process:
- `login_ms`: POST /api/v1/session (dominated by scrypt, n=2^14), one at a time;
- `read_ms`: GET /api/v1/communities/xf/demands (auth, scope check with a cached place, one RPC);
- `write_ms`: POST /api/v1/communities/xf/demands (validation, two RPCs: order scope, record);
- `reads_per_s`: `--clients` concurrent green clients reading for `--seconds`;
- `server_cpu_s`: CPU seconds (user+sys) the gateway process (with its in-process services)
  used during the concurrent phase, from /proc.
A measurement, not a test: nothing here asserts a timing. Figures on a shared 2-core machine
are noisy.
"""
from __future__ import annotations

import warnings

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
import eventlet  # noqa: E402

eventlet.monkey_patch()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from datetime import datetime, timedelta, timezone  # noqa: E402
from pathlib import Path  # noqa: E402

import requests  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
AMQP_BASE = os.environ.get("BAODAO_BENCH_AMQP_BASE", "amqp://guest:guest@localhost:5672")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values, q):
    values = sorted(values)
    return round(values[min(len(values) - 1, int(q * len(values)))], 2)


def summary(ms):
    return {"n": len(ms), "median": round(statistics.median(ms), 2), "p95": pct(ms, 0.95), "max": round(max(ms), 2)}


def timed(fn):
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--quick", action="store_true", help="4 clients for 2 s, 10 samples (a smoke test)")
    args = parser.parse_args(argv)
    if args.quick:
        args.clients, args.seconds, args.samples = 4, 2.0, 10

    vhost = "baodao-bench-gateway-" + uuid.uuid4().hex[:6]
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"], check=True,
                   stdout=subprocess.DEVNULL)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tmp = tempfile.TemporaryDirectory()
    env = {**os.environ, "GATEWAY_PORT": str(port), "BAODAO_GATEWAY_DEMO_DIR": tmp.name, "PYTHONWARNINGS": "ignore",
           "BAODAO_LOG_LEVEL": "ERROR"}
    server = subprocess.Popen([sys.executable, "-m", "services.gateway.serve", "--demo", "--host", "127.0.0.1",
                               "--amqp-uri", f"{AMQP_BASE}/{vhost}"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if server.poll() is not None:
                raise SystemExit("the gateway demo exited")
            try:
                requests.get(f"{base}/login", timeout=2)
                break
            except requests.RequestException:
                if time.monotonic() > deadline:
                    raise SystemExit("the gateway demo did not start")
                time.sleep(0.5)
        http = requests.Session()
        login = {"username": "staff-xf", "password": "baodao-demo-2026"}
        login_ms = [timed(lambda: http.post(f"{base}/api/v1/session", json=login).raise_for_status())
                    for _ in range(max(5, args.samples // 5))]
        token = http.post(f"{base}/api/v1/session", json=login).json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        read = f"{base}/api/v1/communities/xf/demands?page_size=20"
        for _ in range(5):
            http.get(read, headers=auth).raise_for_status()
        read_ms = [timed(lambda: http.get(read, headers=auth).raise_for_status()) for _ in range(args.samples)]
        start = datetime.now(timezone.utc) + timedelta(days=1)

        def write():
            http.post(f"{base}/api/v1/communities/xf/demands", headers=auth, json={
                "resident_id": "r-" + uuid.uuid4().hex[:6], "resident_name": "测", "category": "维修",
                "description": "水管漏水 " + uuid.uuid4().hex[:6], "address": "幸福小区",
                "window_start": start.isoformat(), "window_end": (start + timedelta(hours=2)).isoformat(),
            }).raise_for_status()
        write_ms = [timed(write) for _ in range(args.samples)]

        done, errors = [], [0]
        stop_at = time.monotonic() + args.seconds

        def client():
            session = requests.Session()
            while time.monotonic() < stop_at:
                t = time.perf_counter()
                r = session.get(read, headers=auth)
                if r.status_code == 200:
                    done.append((time.perf_counter() - t) * 1000)
                else:
                    errors[0] += 1

        cpu_before, wall = cpu_seconds(server.pid), time.perf_counter()
        pool = [eventlet.spawn(client) for _ in range(args.clients)]
        for g in pool:
            g.wait()
        wall = time.perf_counter() - wall
        cpu = cpu_seconds(server.pid) - cpu_before
        result = {"login_ms": summary(login_ms), "read_ms": summary(read_ms), "write_ms": summary(write_ms),
                  "concurrent": {"clients": args.clients, "seconds": round(wall, 1),
                                 "reads_per_s": round(len(done) / wall, 1), "errors": errors[0],
                                 "latency_ms": summary(done) if done else None,
                                 "server_cpu_s": round(cpu, 2),
                                 "server_cpu_ms_per_read": round(cpu * 1000 / len(done), 2) if done else None},
                  "note": "noisy shared 2-core machine; gateway and the three services in one process on SQLite"}
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], stdout=subprocess.DEVNULL)
        tmp.cleanup()
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
