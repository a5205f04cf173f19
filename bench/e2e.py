"""End-to-end benchmark: a city through the whole flow, every service as separate processes.

    python -m bench.e2e --json                 # 1 then 2 instances per service
    python -m bench.e2e --quick --json         # a smoke run
    python -m bench.e2e --paced 10,50 --json   # an offered load: 10 lifecycles/s beside 50 check-ins/s
    python -m bench.e2e --cluster --json       # one broker node with classic queues, then the three-
                                               # node cluster of `make cluster` with quorum queues
    python -m bench.e2e --instances 2 --lifecycles 2000 --clients 48 --py-spy var/spy

Every service of deploy/processes.py SERVICE_CLASSES runs as `nameko run` processes
(deploy.processes.Cluster, `--instances` each) on a fresh RabbitMQ vhost (made with
`rabbitmqctl`, deleted after) and the dedicated PostgreSQL database `baodao_bench_e2e` (one
schema per service and run).

Per run:
1. Setup: the city — `--districts` districts of `--communities` communities and `--units` units
   each, `--members` members per unit — registered through registration's RPC.
2. Check-ins: every member enrols, gets a letter and checks in (registration), concurrently;
   registration's MemberCheckedIn then feeds dispatch's directory and notify's receipt to the
   unit. Reported: check-ins/s and the latency from the check-in to the unit's receipt.
3. Lifecycles: `--lifecycles` service orders, each record -> dispatch -> accept -> complete ->
   verify -> rate (dispatch), from `--clients` concurrent callers in `--client-procs` client
   processes. `lifecycles_per_s` = lifecycles whose six commands all succeeded, divided by the
   wall time from the first command to the last observable outcome (the last command, or the
   last resident notification / points record once those services are deployed).
   `latency_ms`: from DemandRecorded (its `occurred_at` in dispatch's store) to the resident's
   last notification (notify's `delivered_at`), when notify has rules for dispatch's events;
   otherwise to ServiceRated, the last observable step (said in `latency_to`).
4. Reconciliation (deploy.flow.reconcile): accepted commands vs stored events vs read models;
   `lost` and `duplicated` must be 0.

CPU: seconds used by every program during the lifecycle phase (services, clients, broker,
database), per lifecycle — on this shared 2-core machine a figure is noisy, the CPU cost per
lifecycle less so. A measurement, not a test: nothing here asserts a timing.
"""
from __future__ import annotations

import warnings

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
import eventlet  # noqa: E402

eventlet.monkey_patch()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from datetime import datetime  # noqa: E402
from pathlib import Path  # noqa: E402

from deploy import flow  # noqa: E402
from deploy.broker import fresh_vhost  # noqa: E402
from bench.support import host_cpu, prepare_postgres, proc_cpu_s, rnd, summary  # noqa: E402

PG_URL = os.environ.get("BAODAO_BENCH_PG_URL", "postgresql://postgres@localhost:5432/")
AMQP_BASE = os.environ.get("BAODAO_BENCH_AMQP_BASE", "amqp://guest:guest@localhost:5672")
BENCH_DB = "baodao_bench_e2e"
TARGET_LIFECYCLES_PER_S = 200.0
ROOT = Path(__file__).resolve().parent.parent


# -- client processes ---------------------------------------------------------------------------
def client_worker() -> int:
    """`--client-worker`: reads its spec (one JSON line), says `ready`, waits for `go`, runs its
    jobs (`kind` "check_in" or "lifecycle") with `clients` greenthreads, prints one JSON line."""
    import logging

    from nameko.standalone.rpc import ClusterRpcProxy

    import shared.nameko_edge  # noqa: F401 - CommandRejected is re-raised as itself

    logging.getLogger("amqp").setLevel(logging.ERROR)
    spec = json.loads(sys.stdin.readline())
    runners = [ClusterRpcProxy({"AMQP_URI": spec["amqp_uri"]}, timeout=spec["timeout"]) for _ in range(spec["clients"])]
    proxies = [r.start() for r in runners]
    for p in proxies:
        p.dispatch.health()
    jobs = spec["jobs"]
    todo = iter(range(len(jobs)))
    results: list = [None] * len(jobs)
    rng = random.Random(spec["seed"])

    pace = spec.get("pace")      # jobs per second of this worker (an offered load), or as fast as it goes
    go: list = []

    def caller(proxy):
        for i in todo:
            job = jobs[i]
            late = None
            if pace:
                due = go[0] + i / pace
                late = max(0.0, time.time() - due) * 1000.0
                if time.time() < due:
                    eventlet.sleep(due - time.time())
            if spec["kind"] == "check_in":
                t0 = time.time()
                try:
                    out = flow.check_in(proxy, job)
                    results[i] = {"member_id": out["member_id"], "community_id": out["community_id"],
                                  "unit_id": out["unit_id"], "checked_in_at": out["checked_in_at"], "started": t0,
                                  "ms": (time.time() - t0) * 1000.0, "late_ms": late}
                except Exception as exc:  # noqa: BLE001 - counted
                    results[i] = {"error": f"check_in:{getattr(exc, 'code', type(exc).__name__)}",
                                  "detail": str(exc)[:300]}
            else:
                lc = flow.Lifecycle(job["demand_id"], job["resident_id"], job["member_id"])
                flow.run_lifecycle(proxy, lc, rng, job["community_id"])
                results[i] = {"demand_id": lc.demand_id, "resident_id": lc.resident_id, "member_id": lc.member_id,
                              "started": lc.started, "recorded": lc.recorded, "finished": lc.finished, "late_ms": late,
                              "steps_ms": {k: round(v, 2) for k, v in lc.steps_ms.items()}, "error": lc.error,
                              "detail": lc.detail}

    print("ready", flush=True)
    sys.stdin.readline()
    cpu0, t0 = time.process_time(), time.time()
    go.append(t0)
    pool = eventlet.GreenPool(len(proxies))
    for p in proxies:
        pool.spawn(caller, p)
    pool.waitall()
    t1, cpu1 = time.time(), time.process_time()
    print(json.dumps({"started": t0, "finished": t1, "cpu_s": cpu1 - cpu0, "results": results}), flush=True)
    for r in runners:
        try:
            r.stop()
        except Exception:  # noqa: BLE001
            pass
    return 0


def run_clients(amqp_uri: str, kind: str, jobs: list, clients: int, procs: int, timeout: float,
                on_go=None, pace: float | None = None) -> tuple[list, float, float, float]:
    """Run `jobs` in client processes; returns (results, started, finished, client cpu s).
    `pace`: start the jobs at this many per second in all (an offered load), not as fast as the
    callers go."""
    procs = max(1, min(procs, clients, len(jobs) or 1))
    workers = []
    for i in range(procs):
        w = subprocess.Popen([sys.executable, "-m", "bench.e2e", "--client-worker"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, cwd=ROOT)
        n = clients // procs + (1 if i < clients % procs else 0)
        w.stdin.write(json.dumps({"amqp_uri": amqp_uri, "clients": n, "timeout": timeout, "kind": kind,
                                  "jobs": jobs[i::procs], "seed": i,
                                  "pace": (pace / procs) if pace else None}) + "\n")
        w.stdin.flush()
        workers.append(w)
    for w in workers:
        line = w.stdout.readline().strip()
        if line != "ready":
            raise RuntimeError(f"client worker did not start: {line!r}")
    if on_go:
        on_go()
    for w in workers:
        w.stdin.write("go\n")
        w.stdin.flush()
    outs = []
    for w in workers:
        line = w.stdout.readline()
        w.stdin.close()
        w.wait(60)
        if not line:
            raise RuntimeError("a client worker died")
        outs.append(json.loads(line))
    results = [r for o in outs for r in o["results"]]
    return (results, min(o["started"] for o in outs), max(o["finished"] for o in outs),
            sum(o["cpu_s"] for o in outs))


# -- observations from the databases -----------------------------------------------------------------
def _ts(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def observed_times(url: str, prefix: str, outcomes: dict) -> dict:
    """Per demand: DemandRecorded and ServiceRated times (dispatch's store), the resident's last
    notification (notify's store) and the last points record (evaluation's store)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    out: dict = {}
    try:
        with engine.connect() as conn:
            for stream, etype, at in conn.execute(text(
                    f'SELECT stream_id, event_type, occurred_at FROM "{prefix}dispatch".events '
                    "WHERE event_type IN ('DemandRecorded', 'ServiceRated')")):
                out.setdefault(stream[len("order-"):], {})[etype] = _ts(at)
            if outcomes.get("resident_notifications"):
                for rid, at in conn.execute(text(
                        f"SELECT data::json->>'recipient_id', max(occurred_at) "
                        f'FROM "{prefix}notify".events WHERE event_type = \'MessageRecorded\' '
                        "AND data::json->>'recipient_kind' = 'resident' GROUP BY 1")):
                    out.setdefault(("resident", rid), {})["notified"] = _ts(at)
            if outcomes.get("points"):
                for src, at in conn.execute(text(
                        f"SELECT e.stream_id, max(p.occurred_at) FROM \"{prefix}evaluation\".events p "
                        f'JOIN "{prefix}dispatch".events e ON e.event_id = p.data::json->>\'source_event_id\' '
                        "WHERE p.event_type IN ('PointsAwarded', 'PointsDeducted', 'PointsRecorded') GROUP BY 1")):
                    out.setdefault(src[len("order-"):], {})["points"] = _ts(at)
            receipts = {}
            if outcomes.get("unit_receipts"):
                for member_id, at in conn.execute(text(
                        f"SELECT e.data::json->>'member_id', m.occurred_at "
                        f'FROM "{prefix}notify".events m JOIN "{prefix}registration".events e '
                        "ON e.event_id = m.data::json->>'caused_by_event_id' "
                        "WHERE m.event_type = 'MessageRecorded' AND m.data::json->>'template' = 'check_in_receipt'")):
                    receipts[member_id] = _ts(at)
            out["__receipts__"] = receipts
    finally:
        engine.dispose()
    return out


def wait_settled(amqp_uri: str, services, expect, timeout: float) -> float:
    """Until every relay lag is 0 and `expect()` is true; returns the seconds waited."""
    from nameko.standalone.rpc import ClusterRpcProxy

    t0 = time.monotonic()
    with ClusterRpcProxy({"AMQP_URI": amqp_uri}, timeout=30) as rpc:
        while time.monotonic() - t0 < timeout:
            try:
                lags = [getattr(rpc, s).health()["relay_lag"] for s in services]
            except Exception:  # noqa: BLE001 - a service busy or restarting
                lags = [1]
            if not any(lags) and expect():
                break
            time.sleep(0.25)
    return time.monotonic() - t0


class PySpy:
    def __init__(self, pid: int, path: Path | None, seconds: float | None = None):
        self.proc = None
        if path is not None:
            spy = Path(sys.executable).parent / "py-spy"
            cmd = [str(spy), "record", "--pid", str(pid), "--rate", "100", "--nonblocking", "--format", "raw",
                   "-o", str(path)]
            self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1.0)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(2)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def top_frames(raw_path: Path, n: int = 15) -> list:
    """The functions with the most samples anywhere on the stack (inclusive), from py-spy's raw
    (collapsed) output, plus the leaf (self) time of the top ones."""
    inclusive: dict = {}
    leaf: dict = {}
    total = 0
    try:
        lines = raw_path.read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        c = int(count)
        total += c
        frames = [f.split(" (")[0] + " (" + f.split(" (")[1].split(":")[0].rsplit("/", 2)[-1] + ")"
                  if " (" in f else f for f in stack.split(";")]
        for f in set(frames):
            inclusive[f] = inclusive.get(f, 0) + c
        leaf[frames[-1]] = leaf.get(frames[-1], 0) + c
    top = sorted(inclusive.items(), key=lambda kv: -kv[1])
    interesting = [(f, c) for f, c in top if not f.startswith(("<module>", "run (", "_bootstrap", "main ("))][:n]
    return {"samples": total,
            "inclusive_pct": [(f, round(100.0 * c / total, 1)) for f, c in interesting],
            "self_pct": [(f, round(100.0 * c / total, 1)) for f, c in sorted(leaf.items(), key=lambda kv: -kv[1])[:n]]}


# -- one run ----------------------------------------------------------------------------------------
def run_once(args, amqp_uri: str, url: str, instances: int, log_dir: Path, broker_nodes=None) -> dict:
    """One run; `broker_nodes` (deploy.local_nodes.RabbitNode, `--cluster`): the broker's nodes,
    measured one by one (CPU of each node over the lifecycle phase, queues, memory)."""
    from deploy.processes import SERVICE_CLASSES, Cluster

    prefix = f"e2e{instances}_{uuid.uuid4().hex[:4]}_"
    services = list(SERVICE_CLASSES)
    outcomes = flow.observable_outcomes(services)
    city = flow.City(tag="c" + uuid.uuid4().hex[:5], districts=args.districts, communities=args.communities,
                     units=args.units, members=args.members)
    result: dict = {"instances_per_service": instances, "services": services, "observable": outcomes,
                    "city": {"districts": city.districts, "communities": city.districts * city.communities,
                             "units": city.districts * city.units, "members": city.districts * city.units * city.members}}
    cluster = Cluster(amqp_uri, url, log_dir / f"i{instances}", instances=instances, schema_prefix=prefix,
                      log_level="INFO")  # INFO: Cluster sees each instance start in its log
    try:
        t0 = time.perf_counter()
        cluster.start(timeout=180)
        result["start_s"] = rnd(time.perf_counter() - t0, 1)
        from nameko.standalone.rpc import ClusterRpcProxy

        with ClusterRpcProxy({"AMQP_URI": amqp_uri}, timeout=60) as rpc:
            t0 = time.perf_counter()
            flow.setup_city(rpc, city)
            result["setup_s"] = rnd(time.perf_counter() - t0, 1)

        # check-ins (paced: the members who serve now; the rest check in during the lifecycles)
        specs = city.member_specs()
        paced_specs = []
        if args.paced:
            paced_specs = specs[len(specs) - int(args.paced_check_ins * args.paced_seconds):]
            specs = specs[:len(specs) - len(paced_specs)]
        res, s0, s1, _ = run_clients(amqp_uri, "check_in", specs, args.clients, args.client_procs, args.timeout)
        checked = [r for r in res if "error" not in r]
        errors = _count(r["error"] for r in res if "error" in r)
        settle = wait_settled(amqp_uri, services, lambda: True, 120)
        times = observed_times(url, prefix, outcomes)
        receipts = times.pop("__receipts__")
        lat = [1000.0 * (receipts[c["member_id"]] - c["checked_in_at"]) for c in checked if c["member_id"] in receipts]
        result["check_ins"] = {"done": len(checked), "errors": errors, "wall_s": rnd(s1 - s0, 2),
                               "error_examples": list({r["detail"] for r in res if "error" in r})[:3],
                               "per_s": rnd(len(checked) / (s1 - s0), 1),
                               "to_unit_receipt_ms": summary(lat, 1), "settle_s": rnd(settle, 1)}

        # lifecycles
        rng = random.Random(11)
        jobs = []
        for i in range(args.lifecycles):
            m = checked[rng.randrange(len(checked))]
            jobs.append({"demand_id": f"{city.tag}-d{i:06d}", "resident_id": f"{city.tag}-r{i:06d}",
                         "member_id": m["member_id"], "community_id": m["community_id"]})
        pids = [p.process.pid for p in cluster.all()]
        cpu0 = {pid: proc_cpu_s(pid) or 0.0 for pid in pids}
        progs0, host0 = cpu_by_pid(), host_cpu()
        spy = []

        def on_go():
            if args.py_spy:
                for name in ("dispatch",):
                    for i, p in enumerate(cluster.processes[name]):
                        path = Path(args.py_spy) / f"{name}-i{instances}-{i}.txt"
                        path.parent.mkdir(parents=True, exist_ok=True)
                        spy.append((path, PySpy(p.process.pid, path)))

        node_cpu0 = {n.node: proc_cpu_s(n.pid) or 0.0 for n in broker_nodes or []}
        paced_check_ins = None
        if args.paced:     # the check-ins' offered load beside the lifecycles', from their own process
            paced_check_ins = eventlet.spawn(run_clients, amqp_uri, "check_in", paced_specs,
                                             max(8, int(args.paced_check_ins)), 1, args.timeout, None,
                                             args.paced_check_ins)
        res, l0, l1, client_cpu = run_clients(amqp_uri, "lifecycle", jobs, args.clients, args.client_procs,
                                              args.timeout, on_go, pace=args.paced_lifecycles if args.paced else None)
        if paced_check_ins is not None:
            ci_res, c0, c1, ci_cpu = paced_check_ins.wait()
            client_cpu += ci_cpu
            ci_done = [r for r in ci_res if "error" not in r]
            checked = checked + ci_done
            result["paced"] = {
                "offered": {"lifecycles_per_s": args.paced_lifecycles, "check_ins_per_s": args.paced_check_ins,
                            "seconds": args.paced_seconds},
                "achieved": {"lifecycles_per_s": rnd(len([r for r in res if r["error"] is None]) / (l1 - l0), 2),
                             "check_ins_per_s": rnd(len(ci_done) / (c1 - c0), 2) if c1 > c0 else None},
                "check_in_ms": summary([r["ms"] for r in ci_done], 1),
                "check_in_errors": _count(r["error"] for r in ci_res if "error" in r),
                "late_start_ms": {"lifecycles": summary([r["late_ms"] for r in res if r.get("late_ms") is not None], 1),
                                  "check_ins": summary([r["late_ms"] for r in ci_res if r.get("late_ms") is not None], 1)},
            }
        done = [r for r in res if r["error"] is None]
        expect_notified = outcomes["resident_notifications"]

        def all_observed():
            if not (expect_notified or outcomes["points"]):
                return True
            t = observed_times(url, prefix, outcomes)
            if expect_notified and sum(1 for r in done if ("resident", r["resident_id"]) in t) < len(done):
                return False
            return True

        settle = wait_settled(amqp_uri, services, all_observed, 180)
        for _, s in spy:
            s.stop()
        progs1, host1 = cpu_by_pid(), host_cpu()
        svc_cpu = {}
        for name, procs in cluster.processes.items():
            svc_cpu[name] = rnd(sum((proc_cpu_s(p.process.pid) or 0.0) - cpu0.get(p.process.pid, 0.0)
                                    for p in procs), 1)
        times = observed_times(url, prefix, outcomes)
        latency, last_seen = [], l1
        for r in done:
            t = times.get(r["demand_id"], {})
            rec = t.get("DemandRecorded")
            if expect_notified:
                end = times.get(("resident", r["resident_id"]), {}).get("notified")
            else:
                end = t.get("ServiceRated")
            if outcomes["points"] and t.get("points"):
                end = max(end or 0, t["points"])
            if rec and end:
                latency.append(1000.0 * (end - rec))
                last_seen = max(last_seen, end)
        wall = last_seen - l0
        n = len(done) or 1
        tck = os.sysconf("SC_CLK_TCK")
        host_busy = (host1[0] - host0[0]) / tck
        other = {k: rnd(sum(cpu - progs0.get(pid, (k, 0.0))[1] for pid, (comm, cpu) in progs1.items() if comm == k), 1)
                 for k in ("postgres", "beam.smp")}  # processes that ended meanwhile are not counted
        result["lifecycles"] = {
            "done": len(done), "errors": _count(r["error"] for r in res if r["error"]),
            "error_examples": list({r["detail"] for r in res if r["error"]})[:3],
            "wall_s": rnd(wall, 2), "commands_wall_s": rnd(l1 - l0, 2),
            "lifecycles_per_s": rnd(len(done) / wall if wall > 0 else None, 1),
            "commands_per_s": rnd(6 * len(done) / (l1 - l0) if l1 > l0 else None, 1),
            "latency_to": ("the resident's last notification (notify)" if expect_notified
                           else "ServiceRated stored (the last observable step: no notify rules for dispatch's events)")
                          + (" or the last points line (evaluation), whichever is later" if outcomes["points"] else ""),
            "latency_ms": summary(latency, 1),
            "client_lifecycle_ms": summary([1000.0 * (r["finished"] - r["started"]) for r in done], 1),
            "step_ms": {s: {k: v for k, v in summary([r["steps_ms"][s] for r in done if s in r["steps_ms"]], 1).items()
                            if k in ("p50", "p99")} for s in flow.LIFECYCLE_STEPS},
            "settle_s": rnd(settle, 1),
            "cpu_s": {"services": svc_cpu, "clients": rnd(client_cpu, 1), **other, "host_busy": rnd(host_busy, 1)},
            "cpu_ms_per_lifecycle": {"services": rnd(1000.0 * sum(v or 0 for v in svc_cpu.values()) / n, 1),
                                     "clients": rnd(1000.0 * client_cpu / n, 1),
                                     "postgres": rnd(1000.0 * (other["postgres"] or 0) / n, 1),
                                     "broker": rnd(1000.0 * (other["beam.smp"] or 0) / n, 1),
                                     "host_total": rnd(1000.0 * host_busy / n, 1)},
        }
        if spy:
            result["profile"] = {p.name: top_frames(p) for p, _ in spy}
        lifecycles = [flow.Lifecycle(r["demand_id"], r["resident_id"], r["member_id"]) for r in done]
        if broker_nodes:
            result["broker_nodes"] = broker_report(broker_nodes, amqp_uri, node_cpu0, n)
        result["reconciliation"] = flow.reconcile(url, prefix, checked_in=checked, lifecycles=lifecycles,
                                                  outcomes=outcomes)
    finally:
        cluster.stop()
        if not args.keep:
            from deploy.pg import drop_schemas

            drop_schemas(url, [f"{prefix}{s}" for s in SERVICE_CLASSES])
    return result


def broker_report(nodes, amqp_uri: str, cpu0: dict, lifecycles: int) -> dict:
    """Per broker node: CPU over the lifecycle phase (and per lifecycle), resident memory, the
    memory RabbitMQ accounts for, and the run's queues: how many, of which type, and how many
    have their leader (quorum) or their process (classic) on the node."""
    vhost = amqp_uri.split(";")[0].rsplit("/", 1)[1]
    rows = [line.split("\t") for line in nodes[0].ctl("list_queues", "-p", vhost, "name", "type", "leader", "pid",
                                                       timeout=120).splitlines()[1:] if "\t" in line]
    types = _count(r[1] for r in rows)
    out = {"queues": len(rows), "queue_types": types, "nodes": {}}
    for n in nodes:
        cpu = (proc_cpu_s(n.pid) or 0.0) - cpu0.get(n.node, 0.0)
        try:
            rss_kb = int(next(line.split()[1] for line in Path(f"/proc/{n.pid}/status").read_text().splitlines()
                              if line.startswith("VmRSS:")))
        except (OSError, StopIteration, TypeError):
            rss_kb = None
        try:
            status = json.loads(n.ctl("status", "--formatter", "json", timeout=60))
            memory = status.get("memory", {})
            accounted = {k: round(v / 2 ** 20, 1) for k, v in memory.items()
                         if k in ("total", "quorum_queue_procs", "queue_procs", "connection_other", "mnesia",
                                  "binary", "code", "other_ets", "metrics")
                         and isinstance(v, (int, float))}
        except (subprocess.SubprocessError, ValueError, AttributeError):
            accounted = {}
        out["nodes"][n.node] = {
            "cpu_s": rnd(cpu, 1), "cpu_ms_per_lifecycle": rnd(1000.0 * cpu / max(lifecycles, 1), 1),
            "rss_mib": rnd(rss_kb / 1024, 1) if rss_kb else None, "memory_mib": accounted,
            "queue_leaders": sum(1 for r in rows if n.node in (r[2] if r[1] == "quorum" else r[3])),
        }
    return out


def cluster_runs(args, tmp: Path) -> list:
    """`--cluster`: the same flow on one RabbitMQ node with classic queues, then on the
    three-node cluster of `make cluster` with quorum queues, back to back; both on the local
    cluster's PostgreSQL (primary with a streaming standby, through the multi-host URL), so
    only the broker differs."""
    from deploy.cluster import LocalCluster
    from deploy.local_nodes import RabbitNode
    from deploy.pg import ensure_database

    cluster = LocalCluster()
    cluster.start(out=lambda *a: None)
    primary = cluster.primary()
    ensure_database(primary.url(""), BENCH_DB)
    url = cluster.database_url(BENCH_DB)
    single = RabbitNode.fresh("e2e-single")
    runs = []
    try:
        single.start()
        for label, nodes, queue_type in (("one node, classic queues", [single], "classic"),
                                         ("three nodes, quorum queues", cluster.nodes, "quorum")):
            vhost = "e2e-" + uuid.uuid4().hex[:6]
            nodes[0].ctl("add_vhost", vhost, timeout=120)
            nodes[0].ctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*", timeout=120)
            os.environ["QUEUE_TYPE"] = queue_type
            amqp_uri = ";".join(n.amqp_uri(vhost) for n in nodes)
            run = run_once(args, amqp_uri, url, 1, tmp / vhost, broker_nodes=nodes)
            run["broker"] = label
            runs.append(run)
            if not args.json:
                print(json.dumps(run, ensure_ascii=False, indent=1), flush=True)
            try:   # RabbitMQ 3.10 can stall in vhost deletion with many quorum queues: never wait long
                nodes[0].ctl("delete_vhost", vhost, timeout=120)
            except subprocess.SubprocessError:
                pass
    finally:
        single.stop()
        single.remove()
    return runs


def cpu_by_pid() -> dict:
    """{pid: (program, CPU seconds so far)} of every running process."""
    out = {}
    tck = os.sysconf("SC_CLK_TCK")
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                raw = (d / "stat").read_text()
            except OSError:
                continue
            fields = raw.rsplit(")", 1)[1].split()
            out[int(d.name)] = (raw[raw.index("(") + 1:raw.rindex(")")], (int(fields[11]) + int(fields[12])) / tck)
    return out


def _count(items) -> dict:
    out: dict = {}
    for i in items:
        out[i] = out.get(i, 0) + 1
    return out


def main(argv: list[str] | None = None) -> int:
    if argv is None and sys.argv[1:2] == ["--client-worker"]:
        return client_worker()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--quick", action="store_true", help="a smoke run (small city, 150 lifecycles)")
    p.add_argument("--instances", default="1,2", help="instances per service, e.g. 1,2 (one run each)")
    p.add_argument("--districts", type=int, default=4)
    p.add_argument("--communities", type=int, default=5, help="per district")
    p.add_argument("--units", type=int, default=5, help="per district")
    p.add_argument("--members", type=int, default=10, help="per unit")
    p.add_argument("--lifecycles", type=int, default=1000)
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--client-procs", type=int, default=2)
    p.add_argument("--timeout", type=float, default=60.0)
    p.add_argument("--py-spy", default=None, help="directory for py-spy raw profiles of dispatch")
    p.add_argument("--keep", action="store_true", help="keep the schemas afterwards")
    p.add_argument("--paced", default=None, metavar="LIFECYCLES,CHECK_INS",
                   help="an offered load instead of a saturating one: start this many lifecycles and check-ins "
                        "per second (e.g. 10,50, a megacity's peak) for --paced-seconds, and report the latency "
                        "of each command and of DemandRecorded -> the resident's notification")
    p.add_argument("--paced-seconds", type=float, default=30.0)
    p.add_argument("--cluster", action="store_true",
                   help="one RabbitMQ node with classic queues, then the three-node cluster of `make cluster` "
                        "with quorum queues (started if needed), one instance per service")
    args = p.parse_args(argv)
    if args.quick:
        args.districts, args.communities, args.units, args.members, args.lifecycles = 2, 2, 2, 5, 150
    if args.paced:
        args.paced_lifecycles, args.paced_check_ins = (float(x) for x in args.paced.split(","))
        args.lifecycles = int(args.paced_lifecycles * args.paced_seconds)
        needed = int(args.paced_check_ins * args.paced_seconds) + max(20, args.districts * args.units * args.members)
        args.members = -(-needed // (args.districts * args.units))
        args.instances = args.instances.split(",")[0]
    from shared.logging import quiet_amqp_client

    quiet_amqp_client()
    results = {"target_lifecycles_per_s": TARGET_LIFECYCLES_PER_S, "cpus": os.cpu_count(),
               "load_avg_at_start": os.getloadavg(), "runs": []}
    if args.cluster:
        with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
            results["runs"] = cluster_runs(args, Path(tmp))
        results["load_avg_at_end"] = os.getloadavg()
        if args.json:
            print(json.dumps(results, ensure_ascii=False, indent=1))
        return 0
    url = prepare_postgres(PG_URL, BENCH_DB, [])
    with fresh_vhost(AMQP_BASE, prefix="baodao-e2e-bench-") as amqp_uri, \
            tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
        for n in [int(x) for x in args.instances.split(",")]:
            results["runs"].append(run_once(args, amqp_uri, url, n, Path(tmp)))
            if not args.json:
                print(json.dumps(results["runs"][-1], ensure_ascii=False, indent=1), flush=True)
    results["load_avg_at_end"] = os.getloadavg()
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
