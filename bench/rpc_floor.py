"""The floor under every RPC-driven benchmark: what one nameko RPC costs on this machine with
no work behind it.

    python -m bench.rpc_floor --json [--calls 20000] [--clients 32] [--client-procs 2]

A service whose only method returns at once (`bench.rpc_floor:PingService`) runs as its own
`nameko run` process on a fresh RabbitMQ vhost; `--clients` callers (eventlet greenthreads,
one ClusterRpcProxy each, spread over `--client-procs` processes) call it `--calls` times in all.
It prints calls per second and the CPU each call costs in the service, the clients and the
broker (beam.smp). A command of the registration or dispatch service is one such call plus its
real work, so `2 cores / cpu_ms_per_call` is the most calls per second any RPC-driven flow can
reach here: the ceiling next to the targets of bench.registration (1 call per check-in),
bench.dispatch (4 calls per order) and bench.e2e.

`--replies` chooses how the reply is sent: `kernel` (default) the way every Baodao service sends
it (shared/nameko_edge/patches.py: no publisher confirm), `confirmed` the kernel's with a confirm
(`RPC_REPLY_CONFIRMS: true`), `nameko` nameko 2.14.1's own (with a confirm).

A measurement, not a test: nothing here asserts a timing.
"""
from __future__ import annotations

import sys
import warnings

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

import os  # noqa: E402

from nameko.rpc import rpc  # noqa: E402

if os.environ.get("BAODAO_RPC_FLOOR_KERNEL"):
    from shared.nameko_edge import patches  # noqa: E402 - the project's way of replying

    patches.install()


class PingService:
    """No work at all: the cost of the RPC machinery alone."""

    name = "ping"

    @rpc
    def ping(self, payload=None):
        return payload


def client_worker() -> int:
    import eventlet

    eventlet.monkey_patch()
    import json
    import logging
    import time

    from nameko.standalone.rpc import ClusterRpcProxy

    logging.getLogger("amqp").setLevel(logging.ERROR)
    spec = json.loads(sys.stdin.readline())
    clusters = [ClusterRpcProxy({"AMQP_URI": spec["amqp_uri"]}, timeout=60) for _ in range(spec["clients"])]
    proxies = [c.start() for c in clusters]
    from nameko.exceptions import UnknownService

    for p in proxies:
        for _ in range(600):  # the service may still be starting
            try:
                p.ping.ping()
                break
            except UnknownService:
                time.sleep(0.1)
    payload = {"member_id": "m-000001", "community_id": "c-0001", "letter_id": "l-000001"}
    todo = iter(range(spec["calls"]))
    latencies: list[float] = []

    def caller(proxy):
        for _ in todo:
            t0 = time.perf_counter()
            proxy.ping.ping(payload)
            latencies.append((time.perf_counter() - t0) * 1000.0)

    print("ready", flush=True)
    sys.stdin.readline()
    cpu0, t0 = time.process_time(), time.time()
    pool = eventlet.GreenPool(len(proxies))
    for p in proxies:
        pool.spawn(caller, p)
    pool.waitall()
    t1, cpu1 = time.time(), time.process_time()
    print(json.dumps({"started": t0, "finished": t1, "cpu_s": cpu1 - cpu0, "latencies_ms": latencies}), flush=True)
    for c in clusters:
        c.stop()
    return 0


def main() -> int:
    import argparse
    import json
    import os
    import platform
    import subprocess
    import tempfile
    from pathlib import Path

    from deploy.broker import fresh_vhost
    from bench.support import cpu_by_program, proc_cpu_s, summary

    root = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--calls", type=int, default=20_000)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--client-procs", type=int, default=2)
    ap.add_argument("--amqp-base", default=os.environ.get("BAODAO_BENCH_AMQP_BASE", "amqp://guest:guest@localhost:5672"))
    ap.add_argument("--replies", choices=("kernel", "confirmed", "nameko"), default="kernel")
    ap.add_argument("--quick", action="store_true", help="500 calls from 8 clients in one process (a smoke test)")
    args = ap.parse_args()
    if args.quick:
        args.calls, args.clients, args.client_procs = 500, 8, 1

    with fresh_vhost(args.amqp_base, "baodao-rpcfloor-") as amqp_uri:
        env = dict(os.environ, PYTHONPATH=str(root), PYTHONWARNINGS="ignore")
        service_env = dict(env, BAODAO_RPC_FLOOR_KERNEL="" if args.replies == "nameko" else "1")
        config = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
        config.write(json.dumps({"AMQP_URI": amqp_uri, "RPC_REPLY_CONFIRMS": args.replies == "confirmed"}))
        config.close()
        service = subprocess.Popen([sys.executable, "-m", "nameko", "run", "--config", config.name,
                                    "bench.rpc_floor:PingService"], cwd=root, env=service_env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            procs = max(1, args.client_procs)
            workers = []
            for i in range(procs):
                w = subprocess.Popen([sys.executable, "-m", "bench.rpc_floor", "--client-worker"], cwd=root, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                clients = args.clients // procs + (1 if i < args.clients % procs else 0)
                calls = args.calls // procs + (1 if i < args.calls % procs else 0)
                w.stdin.write(json.dumps({"amqp_uri": amqp_uri, "clients": clients, "calls": calls}) + "\n")
                w.stdin.flush()
                workers.append(w)
            for w in workers:  # the first ping waits for the service to consume
                line = w.stdout.readline().strip()
                if line != "ready":
                    raise RuntimeError(f"client worker did not start: {line!r}")
            svc0, progs0 = proc_cpu_s(service.pid), cpu_by_program()
            for w in workers:
                w.stdin.write("go\n")
                w.stdin.flush()
            results = [json.loads(w.stdout.readline()) for w in workers]
            svc1, progs1 = proc_cpu_s(service.pid), cpu_by_program()
            for w in workers:
                w.stdin.close()
                w.wait(30)
        finally:
            service.terminate()
            service.wait(30)
            os.unlink(config.name)

    wall = max(r["finished"] for r in results) - min(r["started"] for r in results)
    calls = sum(len(r["latencies_ms"]) for r in results)
    per_call = lambda s: round(s / calls * 1000.0, 3)  # noqa: E731
    beam = progs1.get("beam.smp", 0.0) - progs0.get("beam.smp", 0.0)
    service_cpu = svc1 - svc0
    client_cpu = sum(r["cpu_s"] for r in results)
    total_ms = per_call(service_cpu + client_cpu + beam)
    cpus = os.cpu_count() or 1
    ceiling = round(cpus * 1000.0 / total_ms, 1) if total_ms else None
    out = {
        "params": {"replies": args.replies, "calls": args.calls, "clients": args.clients, "client_procs": args.client_procs, "cpus": cpus,
                   "python": platform.python_version()},
        "calls_per_s": round(calls / wall, 1),
        "latency_ms": summary([x for r in results for x in r["latencies_ms"]]),
        "cpu_ms_per_call": {"service": per_call(service_cpu), "clients": per_call(client_cpu),
                            "broker": per_call(beam), "total": total_ms},
        "ceiling_calls_per_s": ceiling,
        "ceilings": {"checkins_per_s (1 call each)": ceiling,
                     "dispatch_orders_per_s (4 calls each)": round(ceiling / 4, 1) if ceiling else None},
    }
    if args.json:
        print(json.dumps(out, ensure_ascii=False))
    else:
        print(json.dumps(out, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    if "--client-worker" in sys.argv:
        sys.exit(client_worker())
    sys.exit(main())
