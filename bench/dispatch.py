"""Dispatch benchmark: a city's directory, ranked shortlists and whole orders through the RUNNING
dispatch service.

    python -m bench.dispatch --json            # 500,000 members in 5,000 communities (PostgreSQL)
    python -m bench.dispatch --quick --json    # a smoke run: 20,000 members, 200 communities, 200 orders
    python -m bench.dispatch --members 100000 --communities 1000 --orders 2000 --clients 64

The dispatch service runs as its own `nameko run` process (deploy.processes, as in the demo) on a
fresh RabbitMQ vhost (made with `rabbitmqctl`, deleted after) and a fresh database: for
PostgreSQL the dedicated database `baodao_bench_dispatch` with the service's schema dropped
first; with `--database sqlite` a temporary BAODAO_DATA_DIR.

Setup (timed as `setup_s`): the directory (`rm_directory`, the read model dispatch keeps from
registration's MemberCheckedIn events) is BULK-LOADED straight into the service's database before
the service starts (COPY on PostgreSQL, executemany on SQLite): `--members` registered members,
`--members / --communities` per community, each with a grid of its community, 0-3 skill tags
and 1-5 weekly availability slots outside working hours. It is NOT fed through registration's
events (500,000 check-ins through registration would take far longer than the measurement);
the rows are what `readmodels.member_registered` writes. Then the service is started and the
demands of the shortlist phase are recorded through RPC.

Shortlist: `--shortlist-n` demands, one each in distinct random communities (as many as there
are), various categories, grids and windows, recorded with `record_demand`. Then, one call at a
time (a single client, after a warm-up), `shortlist(demand_id, 10)` round trips through
RabbitMQ (`shortlist_rpc_ms`), and the service-side work alone on a direct database connection
in this process: `readmodels.candidates_in` + `matching.rank_candidates` (`shortlist_ms`;
the order lookup the service also does is reported apart).

Orders: `--orders` whole lifecycles, `record_demand` -> `dispatch_order` (to the top of the
suggested shortlist by default, `--dispatch explicit` names a member) -> `accept_order` (by the
assignee) -> `complete_service`, from `--clients` concurrent callers (eventlet greenthreads, one
ClusterRpcProxy each) spread over `--client-procs` client processes. `orders_per_s` = completed
lifecycles / wall time; `order_latency_ms` per lifecycle as the client sees it; per-step
latencies and the CPU used by the service, the clients, the broker and the database are reported
so one can see who is the bottleneck. `--py-spy PREFIX` records the service with py-spy during
both phases.

Shortlist under open load: the orders phase completes every order, so the city has no open
orders when the shortlist is first timed. Afterwards `--open-orders` synthetic open orders
(dispatched or accepted to random members all over the city; default 5 per community) are
written straight into the orders projection, and the shortlist is timed again, in process and
by RPC (`shortlist_with_open_load_ms`): the open load is part of the ranking's query.

A measurement, not a test: nothing here asserts a timing.
"""
from __future__ import annotations

import sys
import warnings

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
import eventlet  # noqa: E402

eventlet.monkey_patch()

import argparse  # noqa: E402
import csv  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from datetime import datetime, timedelta, timezone  # noqa: E402
from pathlib import Path  # noqa: E402

from deploy.broker import fresh_vhost  # noqa: E402
from bench.support import (cpu_by_program, host_cpu, log_counts, prepare_postgres,  # noqa: E402
                           proc_cpu_s, proc_status_kb, rnd, summary)
from deploy.pg import drop_schemas  # noqa: E402

PG_URL = os.environ.get("BAODAO_BENCH_PG_URL", "postgresql://postgres@localhost:5432/")
AMQP_BASE = os.environ.get("BAODAO_BENCH_AMQP_BASE", "amqp://guest:guest@localhost:5672")
BENCH_DB = "baodao_bench_dispatch"
TARGET = {"shortlist_p99_ms": 20.0, "orders_per_s": 200.0}
ROOT = Path(__file__).resolve().parent.parent
TZ = timezone(timedelta(hours=8))  # Asia/Shanghai (no DST)

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国志红文斌宇浩凯鹏晨阳欣怡子涵梓萱"
# Skill tags as members write them on their cards (roster_import's samples plus common others).
SKILLS = ("法律咨询", "医疗保健", "政策宣传", "文艺表演", "书法", "摄影", "水电维修", "心理咨询", "电脑维修",
          "家电维修", "教育辅导", "环境卫生", "矛盾调解", "理发", "助老", "陪护", "家政", "绿化", "志愿服务",
          "护士", "中医", "社保", "律师", "手语", "康复", "就业指导")
WEEKDAY_SLOTS = tuple(d + "晚上" for d in ("周一", "周二", "周三", "周四", "周五"))
WEEKEND_SLOTS = tuple(d + p for d in ("周六", "周日") for p in ("上午", "下午", "晚上"))
SLOTS = WEEKDAY_SLOTS + WEEKEND_SLOTS
SLOT_WEIGHTS = (1,) * len(WEEKDAY_SLOTS) + (2,) * len(WEEKEND_SLOTS)
GRIDS_PER_COMMUNITY = 6
MEMBERS_PER_UNIT = 250
DESCRIPTIONS = {
    "爱心认领": "为困难家庭孩子认领新书包和文具", "义务劳动": "楼道堆放杂物需要清理，组织义务劳动",
    "信息咨询": "咨询医保异地报销和社保转移办理流程", "矛盾调处": "楼上楼下漏水引发邻里矛盾需要调解",
    "助老": "独居老人需要有人陪同去医院复查", "助学": "孩子初二数学跟不上，希望有人辅导功课",
    "助孤": "孤儿周末需要有人陪伴和课业关心", "助残": "轮椅老人需要有人推送去社区康复站",
    "助贫": "失业人员希望了解再就业培训和帮扶政策", "法律援助": "工资被拖欠半年需要法律咨询",
    "健康义诊": "老人血压偏高希望有医生上门量血压", "维修": "厨房水龙头漏水和电灯不亮需要维修",
    "其他": "社区活动室需要人帮忙布置",
}
CATEGORIES = tuple(DESCRIPTIONS)
URGENCIES = ("一般", "一般", "一般", "较急", "紧急")


class CpuWatch:
    """CPU used between start() and stop() by the service, the broker, the database, the host."""

    def __init__(self, service_pid: int):
        self.pid = service_pid

    def start(self) -> "CpuWatch":
        self.service0, self.host0, self.progs0 = proc_cpu_s(self.pid), host_cpu(), cpu_by_program()
        self.own0 = time.process_time()
        return self

    def stop(self, wall_s: float, client_cpu_s: float | None = None) -> dict:
        service1, host1, progs1 = proc_cpu_s(self.pid), host_cpu(), cpu_by_program()
        own = time.process_time() - self.own0
        busy_s = (host1[0] - self.host0[0]) / os.sysconf("SC_CLK_TCK")
        total = host1[1] - self.host0[1]
        other = {k: round(v, 1) for k, v in sorted(
            ((k, progs1[k] - self.progs0.get(k, 0.0)) for k in progs1 if not k.startswith("python")),
            key=lambda kv: -kv[1]) if v >= 0.3}
        service = (service1 - self.service0) if self.service0 is not None and service1 is not None else None
        clients = (client_cpu_s or 0.0) + own
        return {
            "service_cpu_s": rnd(service, 1),
            "service_cpu_pct_of_one_core": rnd(100.0 * service / wall_s if service is not None and wall_s else None, 1),
            "client_cpu_s": rnd(clients, 1),
            "host_cpu_busy_pct": rnd(100.0 * (host1[0] - self.host0[0]) / total if total else None, 1),
            "host_cpu_busy_s": rnd(busy_s, 1),
            "other_cpu_s": other,  # the broker (beam.smp), the database (postgres), ...
            # what is left: other Python processes on the machine (not ours), the kernel
            "unaccounted_cpu_s": rnd(busy_s - (service or 0) - clients - sum(other.values()), 1),
        }


class ForeignWatch:
    """Samples every few seconds for other benchmarks, test runs or services on the machine (not
    this run's processes), so a result says whether the machine was quiet."""

    PATTERNS = ("bench.", "pytest", "nameko run", "deploy.demo")

    def __init__(self, interval: float = 2.0):
        self.seen: dict[str, int] = {}
        self.interval = interval
        self.ours: set[int] = {os.getpid()}
        self._stop = False
        self._thread = eventlet.spawn(self._run)

    def _sample(self) -> None:
        for d in Path("/proc").iterdir():
            if not d.name.isdigit() or int(d.name) in self.ours:
                continue
            try:
                cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if ppid in self.ours or "bench.dispatch" in cmd:
                continue
            if any(p in cmd for p in self.PATTERNS):
                key = cmd[:160]
                self.seen[key] = self.seen.get(key, 0) + 1

    def _run(self) -> None:
        while not self._stop:
            self._sample()
            eventlet.sleep(self.interval)

    def stop(self) -> dict:
        self._stop = True
        return {"machine_quiet": not self.seen, "other_processes_seen": self.seen}


class PySpy:
    """`py-spy record` of the service during a phase (flame graph, collapsed stacks or speedscope)."""

    def __init__(self, pid: int, path: Path | None):
        self.proc = None
        if path is not None:
            fmt = {".json": "speedscope", ".txt": "raw"}.get(path.suffix, "flamegraph")
            self.proc = subprocess.Popen(["py-spy", "record", "--pid", str(pid), "--rate", "200", "--nonblocking",
                                          "--format", fmt, "-o", str(path)], stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
            time.sleep(1.0)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(2)  # SIGINT: py-spy writes its output
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class ProjectionLag:
    """Head of the event store minus the projection checkpoint, read straight from the database."""

    def __init__(self, db):
        self.db = db

    def __call__(self) -> int | None:
        from sqlalchemy import text

        try:
            with self.db.transaction() as conn:
                head = conn.execute(text("SELECT coalesce(max(global_position), 0) FROM events")).scalar_one()
                pos = conn.execute(text("SELECT min(position) FROM projection_checkpoints")).scalar_one()
            return int(head) - int(pos or 0)
        except Exception:  # noqa: BLE001 - a report, not a requirement
            return None


def wait_settled(rpc, lag: ProjectionLag, timeout: float) -> dict:
    """Until the relay has published everything and the projections are at the head."""
    t0 = time.perf_counter()
    deadline = time.monotonic() + timeout
    relay_lag = proj_lag = None
    while time.monotonic() < deadline:
        relay_lag = rpc.dispatch.health()["relay_lag"]
        proj_lag = lag()
        if relay_lag == 0 and proj_lag == 0:
            break
        time.sleep(0.1)
    return {"seconds": rnd(time.perf_counter() - t0, 2), "relay_lag": relay_lag, "projection_lag": proj_lag}


# -- the city -------------------------------------------------------------------------------
def community_id(c: int) -> str:
    return f"c{c:05d}"


def grid_id(c: int, g: int) -> str:
    return f"c{c:05d}-g{g}"


def member_id(i: int) -> str:
    return str(uuid.UUID(int=0xBA0DA0 << 96 | i))


def members_of(c: int, n_members: int, n_communities: int) -> list[str]:
    """Member i lives (and is registered) in community i % n_communities."""
    return [member_id(i) for i in range(c, n_members, n_communities)]


def directory_rows(n_members: int, n_communities: int, seed: int):
    """(member_id, name, unit_id, unit_name, community_id, grid_id, skills, availability, registered,
    source_version), as readmodels.member_registered writes them for a MemberCheckedIn."""
    rng = random.Random(seed)
    n_units = max(1, n_members // MEMBERS_PER_UNIT)
    for i in range(n_members):
        c = i % n_communities
        u = rng.randrange(n_units)
        name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
        skills = rng.sample(SKILLS, rng.choice((0, 1, 1, 2, 2, 3)))
        avail = sorted(set(rng.choices(SLOTS, SLOT_WEIGHTS, k=rng.randint(1, 5))), key=SLOTS.index)
        yield (member_id(i), name, f"u{u:05d}", f"第{u + 1}单位", community_id(c),
               grid_id(c, rng.randrange(GRIDS_PER_COMMUNITY)), json.dumps(skills, ensure_ascii=False),
               json.dumps(avail, ensure_ascii=False), True, 1)


DIRECTORY_COLUMNS = ("member_id", "name", "unit_id", "unit_name", "community_id", "grid_id", "skills",
                     "availability", "registered", "source_version")


def bulk_load_directory(db, n_members: int, n_communities: int, seed: int, batch: int = 50_000) -> dict:
    """Create dispatch's directory tables and fill rm_directory directly (not through events)."""
    from sqlalchemy import text

    from services.dispatch import readmodels

    t0 = time.perf_counter()
    readmodels.directory_metadata.create_all(db.engine)
    rows = directory_rows(n_members, n_communities, seed)
    if db.is_postgres:
        import psycopg2.extensions

        # COPY is refused on a green (wait-callback) psycopg2 connection: plain blocking COPY here,
        # before anything else runs in this process; the callback is put back afterwards.
        callback = psycopg2.extensions.get_wait_callback()
        psycopg2.extensions.set_wait_callback(None)
        try:
            raw = psycopg2.connect(db.url.render_as_string(hide_password=False).replace("+psycopg2", ""),
                                   options=f"-c search_path={db.schema}")
            try:
                with raw.cursor() as cur:
                    while True:
                        buf = io.StringIO()
                        writer = csv.writer(buf)
                        n = 0
                        for row in rows:
                            writer.writerow(row[:8] + ("t", row[9]))
                            n += 1
                            if n == batch:
                                break
                        if not n:
                            break
                        buf.seek(0)
                        cur.copy_expert(f"COPY rm_directory ({', '.join(DIRECTORY_COLUMNS)}) FROM STDIN "
                                        "WITH (FORMAT csv)", buf)
                    cur.execute("ANALYZE rm_directory")
                raw.commit()
            finally:
                raw.close()
        finally:
            psycopg2.extensions.set_wait_callback(callback)
        method = "COPY"
    else:
        from services.dispatch.readmodels import directory

        while True:
            chunk = [dict(zip(DIRECTORY_COLUMNS, r)) for _, r in zip(range(batch), rows)]
            if not chunk:
                break
            with db.transaction() as conn:
                conn.execute(directory.insert(), chunk)
        with db.transaction() as conn:
            conn.execute(text("ANALYZE"))
        method = "executemany"
    with db.transaction() as conn:
        loaded = conn.execute(text("SELECT count(*) FROM rm_directory")).scalar_one()
    return {"directory_rows": int(loaded), "load_method": method, "load_s": rnd(time.perf_counter() - t0, 2)}


def demand_payload(rng: random.Random, demand_id: str, c: int, n: int) -> dict:
    """A resident's demand in community c, in a window outside working hours 1-14 days ahead."""
    category = rng.choice(CATEGORIES)
    today = datetime.now(TZ).replace(hour=0, minute=0, second=0, microsecond=0)
    day = today + timedelta(days=rng.randint(1, 14))
    if day.weekday() >= 5:
        start = day.replace(hour=rng.choice((9, 10, 14, 15, 19)))
    else:
        start = day.replace(hour=19)
    end = start + timedelta(hours=rng.choice((1, 2, 3)))
    return {
        "demand_id": demand_id, "community_id": community_id(c), "grid_id": grid_id(c, rng.randrange(GRIDS_PER_COMMUNITY)),
        "resident_id": f"r{c:05d}-{n}", "resident_name": rng.choice(SURNAMES) + rng.choice(("大爷", "阿姨", "女士", "先生")),
        "category": category, "description": f"{DESCRIPTIONS[category]}（{rng.randint(1, 30)}号楼{rng.randint(1, 6)}单元"
                                                f"{rng.randint(101, 2603)}室）",
        "address": f"第{c + 1}社区{rng.randint(1, 30)}号楼", "window_start": start.isoformat(),
        "window_end": end.isoformat(), "urgency": rng.choice(URGENCIES), "public": rng.random() < 0.8,
        "channel": rng.choice(("上门", "网格员", "微信群", "电话", "网上")), "recorded_by": f"staff-c{c:05d}",
    }


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


STEPS = ("record_demand", "dispatch_order", "accept_order", "complete_service")


def client_worker() -> int:
    """`--client-worker`: one client process of the orders phase. Reads its spec (one JSON line)
    from stdin, connects its proxies, says `ready`, waits for `go`, runs every lifecycle it was
    given and prints its latencies as one JSON line."""
    import logging

    from nameko.standalone.rpc import ClusterRpcProxy

    from shared.nameko_edge import CommandRejected

    logging.getLogger("amqp").setLevel(logging.ERROR)
    spec = json.loads(sys.stdin.readline())
    jobs = spec["jobs"]
    explicit = spec["dispatch"] == "explicit"
    proxies = [ClusterRpcProxy({"AMQP_URI": spec["amqp_uri"]}, timeout=spec["timeout"]).start()
               for _ in range(spec["clients"])]
    for p in proxies:
        p.dispatch.health()  # connected, reply queue declared, routes warm
    todo = iter(range(len(jobs)))
    lifecycles: list[float] = []
    steps: dict[str, list[float]] = {s: [] for s in STEPS}
    errors: dict[str, int] = {}

    def caller(proxy):
        d = proxy.dispatch
        for i in todo:
            demand, candidate = jobs[i]
            demand_id = demand["demand_id"]
            t0 = time.perf_counter()
            step = STEPS[0]
            try:
                d.record_demand(demand)
                t1 = time.perf_counter()
                step = STEPS[1]
                if explicit:
                    out = d.dispatch_order({"demand_id": demand_id, "by": demand["recorded_by"],
                                            "candidates": [{"kind": "member", "id": candidate}]})
                else:
                    out = d.dispatch_order({"demand_id": demand_id, "by": demand["recorded_by"], "suggested": 1})
                t2 = time.perf_counter()
                who = {"kind": out["assignee"]["kind"], "id": out["assignee"]["id"]}
                step = STEPS[2]
                d.accept_order({"demand_id": demand_id, "who": who})
                t3 = time.perf_counter()
                step = STEPS[3]
                d.complete_service({"demand_id": demand_id, "who": who, "hours": 1.5, "participants": 1,
                                    "content": "已上门完成服务，居民满意"})
                t4 = time.perf_counter()
            except CommandRejected as exc:
                key = f"{step}:{exc.code}"
                errors[key] = errors.get(key, 0) + 1
                continue
            except Exception as exc:  # noqa: BLE001 - counted, reported
                key = f"{step}:{type(exc).__name__}"
                errors[key] = errors.get(key, 0) + 1
                continue
            lifecycles.append((t4 - t0) * 1000.0)
            for s, a, b in zip(STEPS, (t0, t1, t2, t3), (t1, t2, t3, t4)):
                steps[s].append((b - a) * 1000.0)

    print("ready", flush=True)
    sys.stdin.readline()
    cpu0, t0 = time.process_time(), time.time()
    pool = eventlet.GreenPool(len(proxies))
    for p in proxies:
        pool.spawn(caller, p)
    pool.waitall()
    t1, cpu1 = time.time(), time.process_time()
    print(json.dumps({"started": t0, "finished": t1, "cpu_s": cpu1 - cpu0, "errors": errors,
                      "lifecycles_ms": [round(x, 3) for x in lifecycles],
                      "steps_ms": {s: [round(x, 3) for x in v] for s, v in steps.items()}}), flush=True)
    for p in proxies:
        try:
            p.stop()
        except Exception:  # noqa: BLE001
            pass
    return 0


def db_transactions(db) -> int | None:
    """Transactions committed or rolled back in the benchmark's database so far (PostgreSQL)."""
    from sqlalchemy import text

    if not db.is_postgres:
        return None
    with db.transaction() as conn:
        row = conn.execute(text("SELECT xact_commit + xact_rollback FROM pg_stat_database "
                                "WHERE datname = current_database()")).first()
    return int(row[0]) if row else None


def orders_phase(amqp_uri: str, db, jobs: list, args, service_pid: int, spy_path: Path | None) -> dict:
    procs = max(1, min(args.client_procs, args.clients))
    shares = [jobs[i::procs] for i in range(procs)]
    per_proc = [args.clients // procs + (1 if i < args.clients % procs else 0) for i in range(procs)]
    workers = []
    for share, n in zip(shares, per_proc):
        w = subprocess.Popen([sys.executable, "-m", "bench.dispatch", "--client-worker"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        w.stdin.write(json.dumps({"amqp_uri": amqp_uri, "clients": n, "timeout": args.timeout, "jobs": share,
                                  "dispatch": args.dispatch}) + "\n")
        w.stdin.flush()
        workers.append(w)
    for w in workers:
        line = w.stdout.readline().strip()
        if line != "ready":
            raise RuntimeError(f"client worker did not start: {line!r}")
    spy = PySpy(service_pid, spy_path)
    tx0 = db_transactions(db)
    watch = CpuWatch(service_pid).start()
    for w in workers:
        w.stdin.write("go\n")
        w.stdin.flush()
    results = []
    for w in workers:
        line = w.stdout.readline()
        w.stdin.close()
        w.wait(30)
        if not line:
            raise RuntimeError("a client worker died during the orders phase")
        results.append(json.loads(line))
    started = min(r["started"] for r in results)
    finished = max(r["finished"] for r in results)
    wall = finished - started
    cpu = watch.stop(wall, sum(r["cpu_s"] for r in results))
    spy.stop()
    time.sleep(1.5)  # PostgreSQL publishes backends' statistics at most once a second
    tx1 = db_transactions(db)
    lifecycles = [x for r in results for x in r["lifecycles_ms"]]
    errors: dict[str, int] = {}
    for r in results:
        for k, v in r["errors"].items():
            errors[k] = errors.get(k, 0) + v
    steps = {s: summary([x for r in results for x in r["steps_ms"][s]], 1) for s in STEPS}
    for s in steps.values():
        s.pop("n", None)
    calls = 4 * len(lifecycles)
    done = len(lifecycles) or 1
    per_order = {  # CPU milliseconds one whole order costs, by process: what bounds orders/s on this host
        "service": rnd((cpu["service_cpu_s"] or 0) * 1000 / done, 1),
        "postgres": rnd(cpu["other_cpu_s"].get("postgres", 0.0) * 1000 / done, 1),
        "broker": rnd(cpu["other_cpu_s"].get("beam.smp", 0.0) * 1000 / done, 1),
        "clients": rnd(cpu["client_cpu_s"] * 1000 / done, 1),
        "host_total": rnd(cpu["host_cpu_busy_s"] * 1000 / done, 1),
    }
    return {
        "completed": len(lifecycles),
        "errors": errors,
        "wall_s": rnd(wall, 2),
        "orders_per_s": rnd(len(lifecycles) / wall if wall else None, 1),
        "rpc_calls_per_s": rnd(calls / wall if wall else None, 1),
        "latency_ms": summary(lifecycles, 1),
        "step_latency_ms": steps,
        "cpu_ms_per_order": per_order,
        # every transaction of the service (commands, queries, catch-ups, relay) and of this
        # process's checks, per completed order (approximate: PostgreSQL's statistics)
        "db_transactions_per_order": rnd((tx1 - tx0) / done, 1) if tx0 is not None and tx1 is not None else None,
        "client_cpu_pct_of_one_core_per_proc": rnd(100.0 * max(r["cpu_s"] for r in results) / wall if wall else None, 1),
        **cpu,
    }


# -- the shortlist phase ----------------------------------------------------------------------
def time_shortlist_rpc(amqp_uri: str, demand_ids: list[str], args, service_pid: int,
                       spy_path: Path | None) -> dict:
    """`shortlist(demand_id, 10)` through RabbitMQ, one call at a time, after a warm-up."""
    from nameko.standalone.rpc import ClusterRpcProxy

    warm = min(args.warmup, len(demand_ids))
    rpc_ms: list[float] = []
    sizes: list[int] = []
    with ClusterRpcProxy({"AMQP_URI": amqp_uri}, timeout=args.timeout) as rpc:
        shortlist = rpc.dispatch.shortlist
        for demand_id in demand_ids[:warm]:
            shortlist(demand_id, 10)
        spy = PySpy(service_pid, spy_path)
        watch = CpuWatch(service_pid).start()
        t_start = time.perf_counter()
        for demand_id in demand_ids:
            t0 = time.perf_counter()
            ranked = shortlist(demand_id, 10)
            rpc_ms.append((time.perf_counter() - t0) * 1000.0)
            sizes.append(len(ranked))
        wall = time.perf_counter() - t_start
        cpu = watch.stop(wall)
        spy.stop()
    return {"rpc": summary(rpc_ms), "shortlist_sizes": {"min": min(sizes), "max": max(sizes)},
            "rpc_phase": {"wall_s": rnd(wall, 2), **cpu}}


def time_shortlist_in_process(db, demand_ids: list[str], args) -> dict:
    """The service's query and ranking on a direct database connection in this process, without
    RabbitMQ, nameko and the projector catch-up in front of it."""
    from services.dispatch import matching, readmodels

    year = datetime.now(timezone.utc).year
    warm = min(args.warmup, len(demand_ids))
    orders = {}
    lookup_ms: list[float] = []
    for demand_id in demand_ids:
        t0 = time.perf_counter()
        with db.transaction() as conn:
            orders[demand_id] = readmodels.order_view(conn, demand_id)
        lookup_ms.append((time.perf_counter() - t0) * 1000.0)
    for demand_id in demand_ids[:warm]:
        with db.transaction() as conn:
            matching.rank_candidates(orders[demand_id], readmodels.candidates_in(
                conn, orders[demand_id]["community_id"], year), limit=10)
    total_ms, query_ms, rank_ms, n_candidates, loaded = [], [], [], [], 0
    for demand_id in demand_ids:
        order = orders[demand_id]
        t0 = time.perf_counter()
        with db.transaction() as conn:
            candidates = readmodels.candidates_in(conn, order["community_id"], year)
        t1 = time.perf_counter()
        matching.rank_candidates(order, candidates, limit=10)
        t2 = time.perf_counter()
        total_ms.append((t2 - t0) * 1000.0)
        query_ms.append((t1 - t0) * 1000.0)
        rank_ms.append((t2 - t1) * 1000.0)
        n_candidates.append(len(candidates))
        loaded += sum(1 for c in candidates if c["open_orders"])
    return {
        "service_side": summary(total_ms),
        "breakdown_ms": {"candidates_in": summary(query_ms), "rank_candidates": summary(rank_ms),
                         "order_lookup_not_included": summary(lookup_ms)},
        "candidates_per_demand": {"min": min(n_candidates), "max": max(n_candidates),
                                  "mean": rnd(sum(n_candidates) / len(n_candidates), 1)},
        "candidates_with_open_orders_per_demand": rnd(loaded / len(demand_ids), 2),
    }


def shortlist_phase(amqp_uri: str, db, demand_ids: list[str], args, service_pid: int,
                    spy_path: Path | None) -> dict:
    out = time_shortlist_rpc(amqp_uri, demand_ids, args, service_pid, spy_path)
    out.update(time_shortlist_in_process(db, demand_ids, args))
    return out


def add_open_load(db, n: int, n_members: int, n_communities: int, run_id: str, seed: int) -> dict:
    """`n` synthetic open orders (half dispatched, half accepted) assigned to random members all
    over the city, written straight into the orders projection (no events behind them): the
    load a busy city has while residents wait. Only the shortlist is timed again after this."""
    from sqlalchemy import text

    from services.dispatch import readmodels as rm

    rng = random.Random(seed + 7)
    t0 = time.perf_counter()
    start = datetime.now(TZ).replace(microsecond=0) + timedelta(days=2)
    batch = []

    def flush():
        if batch:
            with db.transaction() as conn:
                conn.execute(rm.orders.insert(), batch)
            batch.clear()

    for j in range(n):
        i = rng.randrange(n_members)
        c = i % n_communities
        batch.append(dict(
            demand_id=f"synthetic-{run_id}-{j}", community_id=community_id(c), grid_id=grid_id(c, 0),
            resident_id=f"r-synthetic-{j}", resident_name="居民", category=rng.choice(CATEGORIES), description="（合成）",
            address="（合成）", window_start=start.isoformat(), window_end=(start + timedelta(hours=2)).isoformat(),
            urgency="一般", public=True, state=rng.choice(("dispatched", "accepted")), possible_duplicates="[]",
            assignee_kind="member", assignee_id=member_id(i), assignee_name="党员", overdue=False,
            recorded_at=datetime.now(timezone.utc).isoformat()))
        if len(batch) >= 5000:
            flush()
    flush()
    with db.transaction() as conn:
        conn.execute(text("ANALYZE rm_orders"))
    return {"synthetic_open_orders": n, "insert_s": rnd(time.perf_counter() - t0, 2)}


def count_open_load(db) -> int:
    from sqlalchemy import func, select

    from services.dispatch import readmodels as rm

    with db.transaction() as conn:
        return int(conn.execute(select(func.count()).select_from(rm.orders)
                                .where(rm.orders.c.state.in_(rm.LOAD_STATES))).scalar_one())


# -- one run ----------------------------------------------------------------------------------
def run(args) -> dict:
    from nameko.standalone.rpc import ClusterRpcProxy

    from deploy.processes import ServiceProcess, service_env, wait_ready
    from shared.db import Database

    schema = f"{args.schema_prefix}dispatch"
    work = Path(tempfile.mkdtemp(prefix="baodao-bench-dispatch-"))
    kind = args.database
    url = prepare_postgres(args.pg_url, BENCH_DB, (schema,)) if kind == "postgres" else None
    db_url = url if url else f"sqlite:///{work / 'dispatch.db'}"
    rng = random.Random(args.seed)
    run_id = uuid.uuid4().hex[:6]
    out: dict = {}
    db = None
    try:
        t_setup = time.perf_counter()
        db = Database(db_url, schema=schema)
        load = bulk_load_directory(db, args.members, args.communities, args.seed)

        # demands of the shortlist phase: distinct random communities (as many as there are)
        n_short = args.shortlist_n
        picks = rng.sample(range(args.communities), min(n_short, args.communities))
        while len(picks) < n_short:
            picks.append(rng.randrange(args.communities))
        short_demands = [demand_payload(rng, f"bench-{run_id}-s{k}", c, k) for k, c in enumerate(picks)]
        # lifecycles of the orders phase, over random communities
        jobs = []
        for k in range(args.orders):
            c = rng.randrange(args.communities)
            jobs.append((demand_payload(rng, f"bench-{run_id}-o{k}", c, 100_000 + k),
                         rng.choice(members_of(c, args.members, args.communities)) if args.dispatch == "explicit"
                         else None))

        with fresh_vhost(args.amqp_base, "baodao-bench-dispatch-") as amqp_uri:
            env = service_env(amqp_uri, url, work, schema_prefix=args.schema_prefix,
                              log_level=args.service_log_level)
            env.update(dict(kv.split("=", 1) for kv in args.service_env))
            log_path = work / "dispatch.log"
            service = ServiceProcess("dispatch", env, log_path).start()
            try:
                t_ready = time.perf_counter()
                wait_ready(amqp_uri, [service], timeout=120)
                ready_s = time.perf_counter() - t_ready
                lag = ProjectionLag(db)
                t_rec = time.perf_counter()
                pool = ProxyPool(amqp_uri, args.setup_concurrency, timeout=args.timeout)
                try:
                    recorded = pool.run_all(lambda p, d: p.dispatch.record_demand(d), short_demands)
                finally:
                    pool.stop()
                record_s = time.perf_counter() - t_rec
                with ClusterRpcProxy({"AMQP_URI": amqp_uri}, timeout=args.timeout) as rpc:
                    settle = wait_settled(rpc, lag, args.timeout)
                setup_s = time.perf_counter() - t_setup
                pid = service.process.pid
                spy = (lambda phase: Path(f"{args.py_spy}-{phase}.{args.py_spy_format}")) if args.py_spy else (
                    lambda phase: None)

                s = shortlist_phase(amqp_uri, db, [d["demand_id"] for d in short_demands], args, pid,
                                    spy("shortlist"))
                open_at_shortlist = count_open_load(db)

                o = orders_phase(amqp_uri, db, jobs, args, pid, spy("orders"))
                with ClusterRpcProxy({"AMQP_URI": amqp_uri}, timeout=args.timeout) as rpc:
                    lag_end = {"relay": rpc.dispatch.health()["relay_lag"], "projection": lag()}
                    settled = wait_settled(rpc, lag, args.timeout)
                o["lag_at_end_events"] = lag_end
                o["caught_up_after_s"] = settled["seconds"]

                loaded = None
                if args.open_orders:
                    ids = [d["demand_id"] for d in short_demands]
                    added = add_open_load(db, args.open_orders, args.members, args.communities, run_id, args.seed)
                    loaded = {**added, "open_orders_in_load_states": count_open_load(db),
                              **time_shortlist_in_process(db, ids, args)}
                    r = time_shortlist_rpc(amqp_uri, ids, args, pid, None)
                    loaded["rpc"] = r["rpc"]
                out = {
                    "shortlist_ms": {k: s["service_side"][k] for k in ("p50", "p99", "n")},
                    "shortlist_rpc_ms": {k: s["rpc"][k] for k in ("p50", "p99", "n")},
                    "orders_per_s": o["orders_per_s"],
                    "order_latency_ms": {k: o["latency_ms"][k] for k in ("p50", "p99")},
                    "setup_s": rnd(setup_s, 1),
                    "database": "postgresql" if kind == "postgres" else "sqlite",
                    "targets": {**TARGET,
                                "shortlist_p99_met": s["service_side"]["p99"] < TARGET["shortlist_p99_ms"],
                                "shortlist_rpc_p99_met": s["rpc"]["p99"] < TARGET["shortlist_p99_ms"],
                                "orders_per_s_met": (o["orders_per_s"] or 0) >= TARGET["orders_per_s"]},
                    "shortlist_with_open_load_ms": ({"service_side": {k: loaded["service_side"][k] for k in ("p50", "p99", "n")},
                                                     "rpc": {k: loaded["rpc"][k] for k in ("p50", "p99", "n")},
                                                     "open_orders": loaded["open_orders_in_load_states"]}
                                                    if loaded else None),
                    "shortlist": {**s, "open_orders_in_load_states": open_at_shortlist},
                    "shortlist_with_open_load": loaded,
                    "orders": o,
                    "setup": {**load, "service_ready_s": rnd(ready_s, 2),
                              "shortlist_demands_recorded": len(recorded), "record_demands_s": rnd(record_s, 2),
                              "settle_s": settle["seconds"]},
                    "service_peak_rss_mb": rnd((proc_status_kb(pid, "VmHWM") or 0) / 1024, 1),
                }
            finally:
                code = service.stop(timeout=30)
                out["service_exit_code"] = code
                out["service_log"] = log_counts(log_path)
                if args.keep_logs:
                    kept = Path(args.keep_logs) / "dispatch.log"
                    kept.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy(log_path, kept)
    finally:
        if db is not None:
            db.dispose()
        if url and not args.keep_data:
            drop_schemas(url, (schema,))
        if not args.keep_data:
            shutil.rmtree(work, ignore_errors=True)
        else:
            out["data_dir"] = str(work)
    return out


# -- output -----------------------------------------------------------------------------------
def print_table(result: dict) -> None:
    p = result["params"]
    print(f"Dispatch benchmark  ({p['members']:,} members in {p['communities']:,} communities, directory bulk-loaded; "
          f"{result['database']})")
    print()
    s, r, o = result["shortlist_ms"], result["shortlist_rpc_ms"], result["orders"]
    print(f"shortlist (service side: candidates_in + rank_candidates)  p50 {s['p50']:.2f} ms  p99 {s['p99']:.2f} ms"
          f"  (n={s['n']})")
    print(f"shortlist RPC round trip                                   p50 {r['p50']:.2f} ms  p99 {r['p99']:.2f} ms")
    if result.get("shortlist_with_open_load_ms"):
        w = result["shortlist_with_open_load_ms"]
        print(f"shortlist with {w['open_orders']:,} open orders: service side p50 {w['service_side']['p50']:.2f} ms "
              f"p99 {w['service_side']['p99']:.2f} ms; RPC p50 {w['rpc']['p50']:.2f} ms p99 {w['rpc']['p99']:.2f} ms")
    print(f"orders (demand→dispatch→accept→complete)  {result['orders_per_s']:.1f}/s  latency p50 "
          f"{result['order_latency_ms']['p50']:.1f} ms  p99 {result['order_latency_ms']['p99']:.1f} ms  "
          f"({o['completed']} completed, errors {o['errors'] or 'none'})")
    print(f"service CPU {o['service_cpu_pct_of_one_core']}% of a core, host busy {o['host_cpu_busy_pct']}%, "
          f"other {o['other_cpu_s']}")
    print()
    m = result.get("machine", {})
    print("machine quiet during the run" if m.get("machine_quiet") else
          f"machine NOT quiet: {', '.join(m.get('other_processes_seen', {})) or '?'}")
    print(f"targets: shortlist p99 < {TARGET['shortlist_p99_ms']} ms, >= {TARGET['orders_per_s']} orders/s; "
          f"setup {result['setup_s']} s, total {p['total_seconds']:.1f} s")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--client-worker" in argv:
        return client_worker()
    ap = argparse.ArgumentParser(prog="python -m bench.dispatch",
                                 description=" ".join(__doc__.split("\n\n")[0].split()))
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--members", type=int, help="registered members in the directory (default 500,000)")
    ap.add_argument("--communities", type=int, help="communities (default 5,000)")
    ap.add_argument("--orders", type=int, help="whole lifecycles in the orders phase (default 4,000)")
    ap.add_argument("--shortlist-n", type=int, help="timed shortlists, one demand each (default 1,000)")
    ap.add_argument("--open-orders", type=int, help="synthetic open orders written into the orders projection "
                    "after the orders phase, then the shortlist is timed again (default 5 per community; 0: skip)")
    ap.add_argument("--warmup", type=int, default=50, help="untimed shortlists first")
    ap.add_argument("--clients", type=int, default=48, help="concurrent callers in the orders phase")
    ap.add_argument("--client-procs", type=int, default=1, help="client processes the callers are spread over")
    ap.add_argument("--dispatch", choices=("suggested", "explicit"), default="suggested",
                    help="dispatch_order to the top of the shortlist (suggested=1) or to a named member")
    ap.add_argument("--setup-concurrency", type=int, default=16, help="concurrent callers recording demands")
    ap.add_argument("--database", choices=("postgres", "sqlite"), default="postgres")
    ap.add_argument("--timeout", type=float, default=300.0, help="RPC timeout, seconds")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--quick", action="store_true",
                    help="a smoke run: 20,000 members, 200 communities, 200 orders, 300 shortlists")
    ap.add_argument("--pg-url", default=PG_URL, help=f"PostgreSQL server URL (the database is {BENCH_DB})")
    ap.add_argument("--amqp-base", default=AMQP_BASE, help="RabbitMQ URL without vhost")
    ap.add_argument("--schema-prefix", default=os.environ.get("BAODAO_SCHEMA_PREFIX", ""),
                    help="BAODAO_SCHEMA_PREFIX of the service (default: the environment's)")
    ap.add_argument("--service-log-level", default="INFO", help="BAODAO_LOG_LEVEL of the service (as deployed: INFO)")
    ap.add_argument("--py-spy", metavar="PREFIX", help="record the service with py-spy in both phases "
                    "(PREFIX-shortlist.<format>, PREFIX-orders.<format>); needs py-spy on PATH")
    ap.add_argument("--py-spy-format", choices=("svg", "txt", "json"), default="svg",
                    help="flame graph, collapsed stacks, or speedscope")
    ap.add_argument("--service-env", action="append", default=[], metavar="KEY=VALUE",
                    help="extra environment of the service process (experiments)")
    ap.add_argument("--keep-logs", metavar="DIR", help="copy the service log to DIR")
    ap.add_argument("--keep-data", action="store_true", help="leave the database in place")
    args = ap.parse_args(argv)
    defaults = ((20_000, 200, 200, 300) if args.quick else (500_000, 5000, 4000, 1000))
    for name, value in zip(("members", "communities", "orders", "shortlist_n"), defaults):
        if getattr(args, name) is None:  # --quick sets the scale; explicit options still win
            setattr(args, name, value)
    args.communities = max(1, min(args.communities, args.members))
    if args.open_orders is None:
        args.open_orders = 5 * args.communities
    args.shortlist_n = max(1, args.shortlist_n)

    import logging

    logging.getLogger("amqp").setLevel(logging.ERROR)
    t0 = time.perf_counter()
    watch = ForeignWatch()
    try:
        result = run(args)
    finally:
        foreign = watch.stop()
    result["machine"] = foreign
    result["params"] = {
        "members": args.members, "communities": args.communities,
        "members_per_community": round(args.members / args.communities, 1),
        "directory": "bulk-loaded into rm_directory (not fed by registration events)",
        "orders": args.orders, "shortlist_n": args.shortlist_n,
        "open_orders_for_second_shortlist": args.open_orders, "shortlist_limit": 10, "warmup": args.warmup,
        "clients": args.clients, "client_procs": max(1, min(args.client_procs, args.clients)),
        "dispatch": args.dispatch, "database": args.database, "quick": args.quick, "seed": args.seed,
        "service_log_level": args.service_log_level, "service_env": args.service_env,
        "python": platform.python_version(), "cpus": os.cpu_count(),
        "total_seconds": round(time.perf_counter() - t0, 1),
    }
    ordered = {"params": result.pop("params")}
    ordered.update(result)
    if args.json:
        print(json.dumps(ordered, ensure_ascii=False))
    else:
        print_table(ordered)
    return 0


if __name__ == "__main__":
    sys.exit(main())
