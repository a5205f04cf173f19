"""Deadline-rush benchmark: check-ins through the RUNNING registration service.

    python -m bench.registration --json          # 100,000 check-ins, SQLite then PostgreSQL
    python -m bench.registration --quick --json  # a smoke run (2,000 check-ins)
    python -m bench.registration --members 20000 --communities 400 --units 100 --no-sqlite

The registration service runs as its own `nameko run` process (deploy.processes, as in the
demo) on a fresh RabbitMQ vhost (made with `rabbitmqctl`, deleted after) and a fresh database:
a temporary BAODAO_DATA_DIR for SQLite; for PostgreSQL the dedicated database `baodao_bench`
with the service's schemas dropped first. Only registration runs; the queues of its consumers
(notify, dispatch: declared with the topology) fill with MemberCheckedIn events and go away with
the vhost.

Setup (timed as `setup_s`, not part of the rush): one district of `--communities` communities
in several streets, `--units` units each with a campaign, `--members` members enrolled with
`enroll_members` in chunks and issued letters with `issue_letters`, from several client
greenthreads; then the service is left to settle (relay lag 0, projections caught up).

The rush: `--clients` concurrent callers (eventlet greenthreads, one ClusterRpcProxy each,
spread over `--client-procs` client processes) call `check_in` for every letter, in random
order. `--client lean` makes the same calls (the same messages, confirms and acks) from
deploy/lean_rpc.py's pipelined py-amqp caller, `--clients` calls in flight at once, so that the
load generator takes less of the machine's two cores from the service and the broker. `checkins_per_s` = completed check-ins / wall time of the rush; latencies are per call,
as the client sees them. Then the district statistics table, by unit and by community:
`district_table_s` is the slower of the first calls after the rush (a query first brings the
projections up to date, so this is what a user sees right after the rush); the calls after the
relay and the projections have caught up are reported as `warm`. `service_peak_rss_mb` is the
service process's VmHWM at the end.

A measurement, not a test: nothing here asserts a timing.
"""
from __future__ import annotations

import sys
import warnings

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
import eventlet  # noqa: E402

eventlet.monkey_patch()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from datetime import date, timedelta  # noqa: E402
from pathlib import Path  # noqa: E402

from deploy.broker import fresh_vhost  # noqa: E402
from bench.support import (cpu_by_program, host_cpu, log_counts, percentile,  # noqa: E402
                           prepare_postgres, proc_cpu_s, proc_status_kb, rnd)
from deploy.pg import drop_schemas  # noqa: E402

PG_URL = os.environ.get("BAODAO_BENCH_PG_URL", "postgresql://postgres@localhost:5432/")
AMQP_BASE = os.environ.get("BAODAO_BENCH_AMQP_BASE", "amqp://guest:guest@localhost:5672")
BENCH_DB = "baodao_bench"
SCHEMAS = ("registration", "notify")
DISTRICT = ("bq", "北区")
CAMPAIGN = "2026"
TARGET = {"checkins_per_s": 300, "district_table_s": 1.0}


class Projection:
    """Reads the projection checkpoint and the head of the event store straight from the
    service's database (read only), to report how far the read models lag."""

    def __init__(self, kind: str, url: str | None, data_dir: Path):
        from sqlalchemy import create_engine

        if kind == "postgres":
            self.engine = create_engine(url, connect_args={"options": "-c search_path=registration"})
        else:
            self.engine = create_engine(f"sqlite:///file:{data_dir / 'registration.db'}?mode=ro&uri=true")

    def lag(self) -> int | None:
        from sqlalchemy import text

        try:
            with self.engine.connect() as conn:
                head = conn.execute(text("SELECT coalesce(max(global_position), 0) FROM events")).scalar_one()
                pos = conn.execute(text("SELECT min(position) FROM projection_checkpoints")).scalar_one()
            return int(head) - int(pos or 0)
        except Exception:  # noqa: BLE001 - a report, not a requirement
            return None

    def analyze(self) -> None:
        with self.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")

    def setting(self, name: str) -> str | None:
        from sqlalchemy import text

        with self.engine.connect() as conn:
            return conn.execute(text("SELECT current_setting(:n)"), {"n": name}).scalar()

    def close(self) -> None:
        self.engine.dispose()


# -- the client side --------------------------------------------------------------------------
class ProxyPool:
    """Standalone RPC proxies are not safe to share between greenthreads: one per caller."""

    def __init__(self, amqp_uri: str, size: int, timeout: float):
        from nameko.standalone.rpc import ClusterRpcProxy

        self._proxies = [ClusterRpcProxy({"AMQP_URI": amqp_uri}, timeout=timeout) for _ in range(size)]
        self._free = eventlet.queue.LightQueue()
        for p in self._proxies:
            self._free.put(p.start())

    @contextmanager
    def get(self):
        proxy = self._free.get()
        try:
            yield proxy
        finally:
            self._free.put(proxy)

    def run_all(self, fn, items) -> list:
        """fn(proxy, item) for every item, as many at a time as there are proxies; results in order."""
        def one(item):
            with self.get() as proxy:
                return fn(proxy, item)

        pool = eventlet.GreenPool(len(self._proxies))
        return list(pool.imap(one, items))

    def stop(self) -> None:
        for p in self._proxies:
            try:
                p.stop()
            except Exception:  # noqa: BLE001
                pass


def client_worker() -> int:
    """`--client-worker`: one client process of the rush. Reads its spec (one JSON line) from
    stdin, connects its proxies, says `ready`, waits for `go`, checks in every letter it was
    given and prints its latencies as one JSON line."""
    from nameko.standalone.rpc import ClusterRpcProxy

    from shared.nameko_edge import CommandRejected

    import logging

    logging.getLogger("amqp").setLevel(logging.ERROR)
    spec = json.loads(sys.stdin.readline())
    letters = spec["letters"]
    if spec.get("client") == "lean":
        return lean_client_worker(spec)
    proxies = [ClusterRpcProxy({"AMQP_URI": spec["amqp_uri"]}, timeout=spec["timeout"]).start()
               for _ in range(spec["clients"])]
    for p in proxies:
        p.registration.health()  # connected, reply queue declared, routes warm
    todo = iter(range(len(letters)))
    latencies: list[float] = []
    errors: dict[str, int] = {}

    def caller(proxy):
        check_in = proxy.registration.check_in
        for i in todo:
            letter = letters[i]
            t0 = time.perf_counter()
            try:
                check_in({"member_id": letter[0], "letter_id": letter[1], "community_id": letter[2]})
            except CommandRejected as exc:
                errors[exc.code] = errors.get(exc.code, 0) + 1
                continue
            except Exception as exc:  # noqa: BLE001 - RemoteError, RpcTimeout…: counted, reported
                key = type(exc).__name__
                errors[key] = errors.get(key, 0) + 1
                continue
            latencies.append((time.perf_counter() - t0) * 1000.0)

    print("ready", flush=True)
    sys.stdin.readline()
    cpu0, t0 = time.process_time(), time.time()
    pool = eventlet.GreenPool(len(proxies))
    for p in proxies:
        pool.spawn(caller, p)
    pool.waitall()
    t1, cpu1 = time.time(), time.process_time()
    _report(t0, t1, cpu1 - cpu0, errors, latencies)
    for p in proxies:
        try:
            p.stop()
        except Exception:  # noqa: BLE001
            pass
    return 0


def _report(started: float, finished: float, cpu_s: float, errors: dict, latencies: list[float]) -> None:
    """A client worker's result: the one JSON line `rush` reads."""
    print(json.dumps({"started": started, "finished": finished, "cpu_s": cpu_s, "errors": errors,
                      "latencies_ms": [round(x, 3) for x in latencies]}), flush=True)


def lean_client_worker(spec: dict) -> int:
    """`--client lean`: the same calls from one pipelined py-amqp caller per process
    (deploy/lean_rpc.py), `clients` of them in flight at once."""
    from deploy.lean_rpc import PipelinedCaller

    caller = PipelinedCaller(spec["amqp_uri"], window=spec["clients"], timeout=spec["timeout"])
    print("ready", flush=True)
    sys.stdin.readline()
    payloads = ({"member_id": m, "letter_id": l, "community_id": c} for m, l, c in spec["letters"])
    cpu0, t0 = time.process_time(), time.time()
    latencies, errors = caller.call_all("registration", "check_in", payloads)
    t1, cpu1 = time.time(), time.process_time()
    _report(t0, t1, cpu1 - cpu0, errors, latencies)
    caller.close()
    return 0


def rush(amqp_uri: str, letters: list[tuple[str, str, str]], clients: int, procs: int, timeout: float,
         service_pid: int, py_spy: Path | None, client: str = "nameko") -> dict:
    procs = max(1, min(procs, clients))
    shares = [letters[i::procs] for i in range(procs)]
    per_proc = [clients // procs + (1 if i < clients % procs else 0) for i in range(procs)]
    workers = []
    for share, n in zip(shares, per_proc):
        w = subprocess.Popen([sys.executable, "-m", "bench.registration", "--client-worker"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                             cwd=Path(__file__).resolve().parent.parent)
        w.stdin.write(json.dumps({"amqp_uri": amqp_uri, "clients": n, "timeout": timeout, "letters": share,
                                  "client": client}) + "\n")
        w.stdin.flush()
        workers.append(w)
    for w in workers:
        line = w.stdout.readline().strip()
        if line != "ready":
            raise RuntimeError(f"client worker did not start: {line!r}")
    spy = None
    if py_spy is not None:
        fmt = {".json": "speedscope", ".txt": "raw"}.get(py_spy.suffix, "flamegraph")
        spy = subprocess.Popen(["py-spy", "record", "--pid", str(service_pid), "--rate", "200", "--nonblocking",
                                "--format", fmt, "-o", str(py_spy)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        time.sleep(1.0)
    cpu_service0, host0, progs0 = proc_cpu_s(service_pid), host_cpu(), cpu_by_program()
    for w in workers:
        w.stdin.write("go\n")
        w.stdin.flush()
    results = []
    for w in workers:
        line = w.stdout.readline()
        w.stdin.close()
        w.wait(30)
        if not line:
            raise RuntimeError("a client worker died during the rush")
        results.append(json.loads(line))
    cpu_service1, host1, progs1 = proc_cpu_s(service_pid), host_cpu(), cpu_by_program()
    if spy is not None:
        spy.send_signal(2)  # SIGINT: py-spy writes its output
        try:
            spy.wait(60)
        except subprocess.TimeoutExpired:
            spy.kill()
    started = min(r["started"] for r in results)
    finished = max(r["finished"] for r in results)
    wall = finished - started
    latencies = sorted(x for r in results for x in r["latencies_ms"])
    errors: dict[str, int] = {}
    for r in results:
        for k, v in r["errors"].items():
            errors[k] = errors.get(k, 0) + v
    busy = host1[0] - host0[0]
    total = host1[1] - host0[1]
    other = {k: round(v, 1) for k, v in sorted(
        ((k, progs1[k] - progs0.get(k, 0.0)) for k in progs1 if not k.startswith("python")),
        key=lambda kv: -kv[1]) if v >= 0.5}
    service_cpu = cpu_service1 - cpu_service0 if cpu_service0 is not None else None
    client_cpu = sum(r["cpu_s"] for r in results)
    busy_s = busy / os.sysconf("SC_CLK_TCK")
    return {
        "checkins": len(latencies),
        "errors": errors,
        "wall_s": rnd(wall),
        "checkins_per_s": rnd(len(latencies) / wall if wall else None, 1),
        "latency_ms": {"p50": rnd(percentile(latencies, 50), 1), "p90": rnd(percentile(latencies, 90), 1),
                       "p99": rnd(percentile(latencies, 99), 1), "max": rnd(latencies[-1] if latencies else None, 1)},
        "service_cpu_s": rnd(service_cpu, 1),
        "client_cpu_s": rnd(client_cpu, 1),
        "host_cpu_busy_pct": rnd(100.0 * busy / total if total else None, 1),
        "host_cpu_busy_s": rnd(busy_s, 1),
        # the broker, the database server...; the service and the clients are reported above
        "other_cpu_s": other,
        # what is left: other Python processes on the machine (not ours), the kernel
        "unaccounted_cpu_s": rnd(busy_s - (service_cpu or 0) - client_cpu - sum(other.values()), 1),
    }


# -- setup ------------------------------------------------------------------------------------
def hierarchy(n_communities: int, n_units: int):
    n_streets = max(1, min(20, n_communities // 100, n_communities)) if n_communities >= 200 else max(
        1, min(2, n_communities))
    communities = []
    for i in range(n_communities):
        s = i % n_streets
        communities.append({"community_id": f"c{i:05d}", "name": f"第{i + 1}社区", "district_id": DISTRICT[0],
                            "district_name": DISTRICT[1], "street_id": f"s{s:02d}", "street_name": f"第{s + 1}街道",
                            "card_prefix": f"C{i:05d}"})
    from shared.contracts.registration import UNIT_KINDS

    units = [{"unit_id": f"u{i:04d}", "name": f"第{i + 1}单位", "kind": UNIT_KINDS[i % len(UNIT_KINDS)],
              "district_id": DISTRICT[0], "linked_community_id": None} for i in range(n_units)]
    return communities, units, n_streets


def rosters(n_members: int, units: list[dict], communities: list[dict], seed: int) -> dict[str, list[dict]]:
    """`n_members` valid enrolment rows (EnrollMemberSchema), spread evenly over the units, living
    in random communities. Names, ages, skills… come from roster_import.sample_members."""
    from services.registration.roster_import import sample_members

    rng = random.Random(seed)
    rows = sample_members(n_members, communities=("-",), seed=seed)
    out: dict[str, list[dict]] = {u["unit_id"]: [] for u in units}
    for i, row in enumerate(rows):
        unit = units[i % len(units)]["unit_id"]
        out[unit].append({
            "person_key": row["phone"], "name": row["name"], "gender": row["gender"], "phone": row["phone"],
            "age": row["age"], "position": row["position"],
            "skills": [s for s in row["skills"].split("、") if s], "willingness": row["willingness"],
            "residence_community_id": communities[rng.randrange(len(communities))]["community_id"],
            "probationary": row["status"] == "预备", "leading_cadre": row["leading_cadre"] == "是",
        })
    return out


def setup(pool: ProxyPool, communities, units, members_by_unit, chunk: int) -> tuple[list, dict]:
    timings = {}
    t = time.perf_counter()
    pool.run_all(lambda p, c: p.registration.register_community(c), communities)
    timings["communities_s"] = time.perf_counter() - t

    t = time.perf_counter()
    deadline = (date.today() + timedelta(days=30)).isoformat()

    def unit_and_campaign(p, u):
        p.registration.register_unit(u)
        p.registration.open_campaign({"unit_id": u["unit_id"], "campaign_id": CAMPAIGN,
                                      "title": f"{CAMPAIGN}年在职党员到社区报到", "deadline": deadline})

    pool.run_all(unit_and_campaign, units)
    timings["units_campaigns_s"] = time.perf_counter() - t

    t = time.perf_counter()
    chunks = [(unit_id, rows[i:i + chunk]) for unit_id, rows in members_by_unit.items()
              for i in range(0, len(rows), chunk)]
    results = pool.run_all(lambda p, c: p.registration.enroll_members(c[0], c[1]), chunks)
    enrolled = sum(r["created"] for r in results)
    timings["enroll_s"] = time.perf_counter() - t

    t = time.perf_counter()
    issued = pool.run_all(lambda p, u: p.registration.issue_letters({"unit_id": u["unit_id"],
                                                                     "campaign_id": CAMPAIGN}), units)
    letters = [(x["member_id"], x["letter_id"], x["community_id"]) for r in issued for x in r["letters"]]
    timings["letters_s"] = time.perf_counter() - t
    counts = {"communities": len(communities), "units": len(units), "members_enrolled": enrolled,
              "letters": len(letters)}
    return letters, {**{k: rnd(v, 2) for k, v in timings.items()}, **counts}


def wait_settled(rpc, projection: Projection, timeout: float) -> dict:
    """Until the relay has published everything and the projections are at the head."""
    t0 = time.perf_counter()
    deadline = time.monotonic() + timeout
    relay_lag = proj_lag = None
    while time.monotonic() < deadline:
        relay_lag = rpc.registration.health()["relay_lag"]
        proj_lag = projection.lag()
        if relay_lag == 0 and proj_lag == 0:
            break
        time.sleep(0.2)
    return {"seconds": rnd(time.perf_counter() - t0, 2), "relay_lag": relay_lag, "projection_lag": proj_lag}


def timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t0, out


# -- one back end -----------------------------------------------------------------------------
def bench_backend(kind: str, args) -> dict:
    from nameko.standalone.rpc import ClusterRpcProxy

    from deploy.processes import ServiceProcess, service_env, wait_ready

    work = Path(tempfile.mkdtemp(prefix=f"baodao-bench-{kind}-"))
    url = prepare_postgres(args.pg_url, BENCH_DB, SCHEMAS) if kind == "postgres" else None
    communities, units, n_streets = hierarchy(args.communities, args.units)
    members_by_unit = rosters(args.members, units, communities, args.seed)
    out: dict = {}
    try:
        with fresh_vhost(args.amqp_base) as amqp_uri:
            env = service_env(amqp_uri, url, work, log_level=args.service_log_level)
            env.update(dict(kv.split("=", 1) for kv in args.service_env))
            service = ServiceProcess("registration", env, work / "registration.log").start()
            projection = None
            try:
                t_setup = time.perf_counter()
                wait_ready(amqp_uri, [service], timeout=120)
                projection = Projection(kind, url, work)
                pool = ProxyPool(amqp_uri, args.setup_concurrency, timeout=args.timeout)
                try:
                    letters, setup_detail = setup(pool, communities, units, members_by_unit, args.chunk)
                finally:
                    pool.stop()
                with ClusterRpcProxy({"AMQP_URI": amqp_uri}, timeout=args.timeout) as rpc:
                    settle = wait_settled(rpc, projection, timeout=args.timeout)
                setup_detail["settle_s"] = settle["seconds"]
                setup_s = time.perf_counter() - t_setup

                random.Random(args.seed + 1).shuffle(letters)
                rss_before = proc_status_kb(service.process.pid, "VmRSS")
                r = rush(amqp_uri, letters, args.clients, args.client_procs, args.timeout, service.process.pid,
                         Path(f"{args.py_spy}-{kind}.{args.py_spy_format}") if args.py_spy else None,
                         client=args.client)

                with ClusterRpcProxy({"AMQP_URI": amqp_uri}, timeout=args.timeout) as rpc:
                    lag_at_end = {"relay": rpc.registration.health()["relay_lag"], "projection": projection.lag()}
                    reg = rpc.registration
                    q_unit = {"group_by": "unit", "district_id": DISTRICT[0]}
                    q_comm = {"group_by": "community", "district_id": DISTRICT[0]}
                    unit_first, table_unit = timed(reg.statistics, dict(q_unit))
                    comm_first, table_comm = timed(reg.statistics, dict(q_comm))
                    settled = wait_settled(rpc, projection, timeout=args.timeout)
                    unit_warm, _ = timed(reg.statistics, dict(q_unit))
                    comm_warm, _ = timed(reg.statistics, dict(q_comm))
                    unit_warm2, _ = timed(reg.statistics, dict(q_unit))
                    comm_warm2, _ = timed(reg.statistics, dict(q_comm))
                    analyzed = None
                    if kind == "postgres":
                        # What autovacuum would have done by now (the server's setting is reported):
                        # the read models are filled from empty, and without statistics the planner
                        # picks nested loops over 100,000 members.
                        projection.analyze()
                        analyzed = {"unit_s": rnd(min(timed(reg.statistics, dict(q_unit))[0] for _ in range(2))),
                                    "community_s": rnd(min(timed(reg.statistics, dict(q_comm))[0]
                                                           for _ in range(2)))}
                pid = service.process.pid
                out = {
                    "checkins": r["checkins"],
                    "checkins_per_s": r["checkins_per_s"],
                    "latency_ms": r["latency_ms"],
                    "district_table_s": rnd(max(unit_first, comm_first)),
                    "service_peak_rss_mb": rnd((proc_status_kb(pid, "VmHWM") or 0) / 1024, 1),
                    "setup_s": rnd(setup_s, 1),
                    "rush": {"wall_s": r["wall_s"], "errors": r["errors"], "service_cpu_s": r["service_cpu_s"],
                             "client_cpu_s": r["client_cpu_s"], "host_cpu_busy_pct": r["host_cpu_busy_pct"],
                             "host_cpu_busy_s": r["host_cpu_busy_s"], "other_cpu_s": r["other_cpu_s"],
                             "unaccounted_cpu_s": r["unaccounted_cpu_s"],
                             "lag_at_end_events": lag_at_end,
                             "caught_up_after_s": settled["seconds"]},
                    "district_table": {
                        "unit_first_s": rnd(unit_first), "community_first_s": rnd(comm_first),
                        "unit_warm_s": rnd(min(unit_warm, unit_warm2)),
                        "community_warm_s": rnd(min(comm_warm, comm_warm2)),
                        "unit_rows": len(table_unit["rows"]), "community_rows": len(table_comm["rows"]),
                        "registered": table_unit["totals"]["registered"],
                        "members": table_unit["totals"]["members"],
                        **({"warm_after_analyze": analyzed} if analyzed else {}),
                    },
                    "setup": setup_detail,
                    "service_rss_mb_before_rush": rnd((rss_before or 0) / 1024, 1),
                    "database": "postgresql" if kind == "postgres" else "sqlite",
                    **({"pg_autovacuum": projection.setting("autovacuum")} if kind == "postgres" else {}),
                    "streets": n_streets,
                }
            finally:
                if projection is not None:
                    projection.close()
                code = service.stop(timeout=30)
                out["service_exit_code"] = code
                out["service_log"] = log_counts(work / "registration.log")
                if args.keep_logs:
                    kept = Path(args.keep_logs) / f"registration-{kind}.log"
                    kept.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy(work / "registration.log", kept)
    finally:
        if url and not args.keep_data:
            drop_schemas(url, SCHEMAS)
        if not args.keep_data:
            shutil.rmtree(work, ignore_errors=True)
        else:
            out["data_dir"] = str(work)
    return out


def service_max_workers() -> int | None:
    from deploy.processes import ROOT

    m = re.search(r"^max_workers:\s*(\d+)", (ROOT / "deploy" / "config" / "registration.yaml").read_text(), re.M)
    return int(m.group(1)) if m else None


# -- output -----------------------------------------------------------------------------------
def print_table(result: dict) -> None:
    p = result["params"]
    print(f"Registration deadline rush  ({p['members']} check-ins, {p['communities']} communities, "
          f"{p['units']} units, {p['clients']} {p['client']} clients in {p['client_procs']} process(es))")
    print()
    print(f"{'database':<10} {'check-ins/s':>12} {'p50 ms':>8} {'p99 ms':>8} {'table s':>8} {'warm s':>7} "
          f"{'RSS MB':>7} {'setup s':>8}")
    for kind in ("sqlite", "postgres"):
        r = result.get(kind)
        if not r:
            continue
        warm = max(r["district_table"]["unit_warm_s"], r["district_table"]["community_warm_s"])
        print(f"{kind:<10} {r['checkins_per_s']:>12,.1f} {r['latency_ms']['p50']:>8.1f} {r['latency_ms']['p99']:>8.1f}"
              f" {r['district_table_s']:>8.3f} {warm:>7.3f} {r['service_peak_rss_mb']:>7.1f} {r['setup_s']:>8.1f}")
    print()
    print(f"targets: >= {TARGET['checkins_per_s']} check-ins/s, district table < {TARGET['district_table_s']} s; "
          f"total {p['total_seconds']:.1f} s")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--client-worker" in argv:
        return client_worker()
    ap = argparse.ArgumentParser(prog="python -m bench.registration",
                                 description=" ".join(__doc__.split("\n\n")[0].split()))
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--members", type=int, default=100_000, help="members = letters = check-ins")
    ap.add_argument("--communities", type=int, default=2000)
    ap.add_argument("--units", type=int, default=500)
    ap.add_argument("--clients", type=int, default=32, help="concurrent callers in the rush")
    ap.add_argument("--client-procs", type=int, default=2, help="client processes the callers are spread over")
    ap.add_argument("--client", choices=("nameko", "lean"), default="nameko",
                    help="the rush's callers: nameko's ClusterRpcProxy (default) or deploy/lean_rpc.py's "
                         "pipelined py-amqp caller, which sends the same messages for less client CPU")
    ap.add_argument("--setup-concurrency", type=int, default=8, help="concurrent callers during set-up")
    ap.add_argument("--chunk", type=int, default=200, help="members per enroll_members call")
    ap.add_argument("--timeout", type=float, default=600.0, help="RPC timeout, seconds")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--quick", action="store_true", help="a smoke run: 2,000 check-ins, 100 communities, 20 units")
    ap.add_argument("--no-sqlite", action="store_true")
    ap.add_argument("--no-postgres", action="store_true")
    ap.add_argument("--pg-url", default=PG_URL, help="PostgreSQL server URL (the database is baodao_bench)")
    ap.add_argument("--amqp-base", default=AMQP_BASE, help="RabbitMQ URL without vhost")
    ap.add_argument("--service-log-level", default="INFO", help="BAODAO_LOG_LEVEL of the service (as deployed: INFO)")
    ap.add_argument("--py-spy", metavar="PREFIX", help="record the service with py-spy during the rush "
                    "(PREFIX-<db>.<format>); needs py-spy on PATH (pip install py-spy)")
    ap.add_argument("--py-spy-format", choices=("svg", "txt", "json"), default="svg",
                    help="flame graph, collapsed stacks, or speedscope")
    ap.add_argument("--service-env", action="append", default=[], metavar="KEY=VALUE",
                    help="extra environment of the service process (experiments)")
    ap.add_argument("--keep-logs", metavar="DIR", help="copy the service logs to DIR")
    ap.add_argument("--keep-data", action="store_true", help="leave the databases in place")
    args = ap.parse_args(argv)
    for name in ("members", "clients", "client_procs", "setup_concurrency", "chunk"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.quick:
        args.members, args.communities, args.units = 2000, 100, 20
    args.communities = max(1, args.communities)
    args.units = max(1, min(args.units, args.members))

    import logging

    from deploy.processes import check_broker
    from shared.logging import configure_logging

    configure_logging("bench", level="WARNING")
    logging.getLogger("amqp").setLevel(logging.ERROR)
    check_broker(args.amqp_base.rstrip("/") + "/")

    t_start = time.perf_counter()
    result: dict = {}
    if not args.no_sqlite:
        result["sqlite"] = bench_backend("sqlite", args)
    if not args.no_postgres:
        result["postgres"] = bench_backend("postgres", args)
    result["params"] = {
        "members": args.members, "communities": args.communities, "units": args.units,
        "members_per_unit": args.members // args.units, "clients": args.clients, "client": args.client,
        "client_procs": max(1, min(args.client_procs, args.clients)), "setup_concurrency": args.setup_concurrency,
        "enroll_chunk": args.chunk, "service_env": args.service_env, "service_max_workers": service_max_workers(), "service_log_level": args.service_log_level,
        "targets": TARGET, "quick": args.quick, "cpus": os.cpu_count(), "python": platform.python_version(),
        "total_seconds": round(time.perf_counter() - t_start, 1),
    }
    result = {"params": result.pop("params"), **result}
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print_table(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
