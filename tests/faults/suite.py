"""The fault suite: under a steady load of the city's flow, crash services, cut broker and
database connections, restart RabbitMQ and PostgreSQL (long form), feed malformed messages;
then reconcile.

    python -m tests.faults            # the long form: two instances each, every fault, repeated
    python -m tests.faults --short    # what `make test` runs (tests/faults/test_faults.py)

Everything runs on a RabbitMQ node and a PostgreSQL cluster the suite starts itself
(`own_servers`: deploy.local_nodes, free ports, temporary data directories, stopped and removed
at the end), never on the machine's own broker (5672) or database (5432), which other programs
use. Connection cuts close the connections of the suite's vhost (`rabbitmqctl -n <node>
list_connections` + `close_connection`) and terminate the backends of its database
(`pg_terminate_backend`).

The load is the flow of deploy.flow from greenthread clients: check-ins and whole order
lifecycles. A client whose call fails in an unknown way (timeout, connection lost: the command
may or may not have been applied) asks the service for the order's state and goes on from
there, as a real caller would; a refusal is an error of the run. Afterwards:
- every accepted check-in is one MemberCheckedIn, in dispatch's directory once and in notify's
  unit inbox once; every finished lifecycle is each of its six events once (deploy.flow.reconcile);
- no event is parked in a dead-letter queue except the malformed messages fed on purpose, each
  of which is there;
- evaluation's points ledgers equal the same read models replayed from its event store.

The server faults, each round: the suite's RabbitMQ node is SIGKILLed and started again (durable
queues and confirmed persistent messages survive; every connection drops without a close), and
its PostgreSQL cluster is SIGKILLed (the postmaster; its backends follow) and started again
(crash recovery from the WAL).
"""
from __future__ import annotations

import random
import subprocess
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field

import eventlet

from deploy import flow
from deploy.local_nodes import PostgresCluster, RabbitNode

STATE_STEPS = {  # order state in dispatch's read model -> the next step of the lifecycle
    None: "record_demand", "recorded": "dispatch_order", "dispatched": "accept_order",
    "accepted": "complete_service", "completed": "verify_service", "verified": "rate_service",
}


@dataclass
class FaultLog:
    injected: list = field(default_factory=list)
    malformed: dict = field(default_factory=dict)  # queue -> count fed

    def add(self, kind: str, target: str) -> None:
        self.injected.append({"at": round(time.time(), 2), "fault": kind, "target": target})


def vhost_of(amqp_uri: str) -> str:
    return amqp_uri.rsplit("/", 1)[1]


@dataclass
class OwnServers:
    """The suite's own broker node and database cluster, and the vhost and database on them."""
    broker: RabbitNode
    postgres: PostgresCluster
    amqp_uri: str
    database_url: str

    def server_faults(self) -> list:
        """(name, fault) pairs: each fault returns what to log about it."""
        return [("rabbitmq_restarted", lambda: f"away {restart_broker(self.broker):.1f} s"),
                ("postgres_restarted", lambda: f"away {restart_postgres(self.postgres):.1f} s")]


@dataclass
class ClusterServers:
    """The three-node RabbitMQ cluster and the PostgreSQL primary with its standby of
    `make cluster` (deploy.cluster), with a vhost and a database for the run: clients list every
    broker node and both database servers."""
    cluster: object            # deploy.cluster.LocalCluster
    amqp_uri: str
    database_url: str

    @property
    def broker(self) -> RabbitNode:
        return self.cluster.nodes[0]

    def server_faults(self) -> list:
        nodes = self.cluster.nodes
        return [("rabbitmq_node_killed", lambda: _kill_and_restart_node(nodes[0])),
                ("rabbitmq_node_partitioned", lambda: _cut_off_node(nodes[1])),
                ("postgres_primary_killed_standby_promoted", lambda: _fail_over(self.cluster))]


def _kill_and_restart_node(node: RabbitNode) -> str:
    """SIGKILL one node of the cluster (the first every client tries) and start it again."""
    started = time.monotonic()
    node.kill()
    eventlet.sleep(3.0)                      # the load runs on the other two nodes meanwhile
    node.start(timeout=180)
    return f"{node.node} away {time.monotonic() - started:.1f} s"


def _cut_off_node(node: RabbitNode) -> str:
    """A node cut off from its peers and clients: its RabbitMQ application stopped (its
    connections close, its quorum queue members drop out) and started again (it rejoins and
    catches up)."""
    started = time.monotonic()
    node.ctl("stop_app", timeout=180)
    eventlet.sleep(3.0)
    for attempt in range(5):   # seen once: start_app exiting 78 while the other nodes were busy
        try:
            node.ctl("start_app", timeout=300)
            break
        except subprocess.CalledProcessError as exc:
            if attempt == 4:
                raise RuntimeError(f"start_app of {node.node} failed: {exc.stderr or exc.output}") from exc
            eventlet.sleep(5.0)
    return f"{node.node} away {time.monotonic() - started:.1f} s"


def _fail_over(cluster) -> str:
    """SIGKILL the PostgreSQL primary, promote the standby (the clients' multi-host URL finds
    it), then rebuild the old primary as the new standby."""
    started = time.monotonic()
    old, new = cluster.failover()
    promoted = time.monotonic() - started
    standby = next(pg for pg in cluster.postgres if pg.port == old)
    primary = next(pg for pg in cluster.postgres if pg.port == new)
    cluster.make_standby(standby, primary)
    standby.start()
    return f"primary {old} killed, {new} promoted after {promoted:.1f} s, {old} rebuilt as standby"


@contextmanager
def cluster_servers(label: str = "faults"):
    """`make cluster`'s servers (started if needed, left running), with a vhost and a database
    of the run (removed at the end)."""
    from deploy.cluster import LocalCluster
    from deploy.pg import drop_database, ensure_database

    cluster = LocalCluster().start(out=lambda *a: None)
    vhost = f"{label}-{uuid.uuid4().hex[:6]}"
    database = f"baodao_{label}_{uuid.uuid4().hex[:6]}"
    cluster.nodes[0].ctl("add_vhost", vhost, timeout=120)
    cluster.nodes[0].ctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*", timeout=120)
    ensure_database(cluster.primary().url(""), database)
    try:
        yield ClusterServers(cluster, cluster.amqp_uri(vhost), cluster.database_url(database))
    finally:
        try:
            cluster.nodes[0].ctl("delete_vhost", vhost, timeout=120)
        except subprocess.SubprocessError:
            pass
        primary = cluster.primary()
        if primary is not None:
            drop_database(primary.url("").rstrip("/"), database)


@contextmanager
def own_servers(label: str = "faults"):
    """Start a RabbitMQ node and a PostgreSQL cluster of our own (free ports, temporary data
    directories; deploy.local_nodes), with a vhost and a database for the run; stop and remove
    both at the end, whatever happened."""
    from deploy.pg import ensure_database

    broker = RabbitNode.fresh(label)
    postgres = None
    try:
        broker.start()
        broker.ctl("add_vhost", label)
        broker.ctl("set_permissions", "-p", label, "guest", ".*", ".*", ".*")
        postgres = PostgresCluster.fresh(f"{label}-pg")
        postgres.start()
        url = ensure_database(postgres.url(""), f"baodao_{label}")
        yield OwnServers(broker, postgres, broker.amqp_uri(label), url)
    finally:
        broker.stop()
        broker.remove()
        if postgres is not None:
            postgres.stop("immediate")
            postgres.remove()


def close_vhost_connections(amqp_uri: str, broker: RabbitNode | None = None) -> int:
    """Close every connection of this vhost (and only of it), on `broker` (the suite's own node)
    or the machine's default node."""
    from deploy.broker import rabbitmqctl

    ctl = broker.ctl if broker is not None else rabbitmqctl
    vhost = vhost_of(amqp_uri)
    closed = 0
    for line in ctl("list_connections", "-p", vhost, "vhost", "pid").splitlines():
        parts = line.split("\t")
        if len(parts) == 2 and parts[0] == vhost:
            try:
                ctl("close_connection", parts[1], "fault suite: connection cut")
                closed += 1
            except subprocess.CalledProcessError:
                pass  # already gone
    return closed


def terminate_backends(database_url: str) -> int:
    """pg_terminate_backend for every other connection to this database (and only it)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.begin() as conn:
            return len(conn.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()")).all())
    finally:
        engine.dispose()


def restart_broker(broker: RabbitNode) -> float:
    """SIGKILL the suite's RabbitMQ node and start it again (every connection drops without a
    close; durable queues and confirmed persistent messages survive); returns the seconds it
    was away."""
    started = time.monotonic()
    broker.kill()
    broker.start(timeout=180)
    return time.monotonic() - started


def restart_postgres(postgres: PostgresCluster) -> float:
    """SIGKILL the suite's PostgreSQL postmaster (its backends end with it) and start the cluster
    again (crash recovery); returns the seconds it was away."""
    started = time.monotonic()
    postgres.kill()
    postgres.start(timeout=120)
    return time.monotonic() - started


def ledgers_match_a_fresh_replay(database_url: str, prefix: str) -> dict:
    """Evaluation's points ledgers and totals as the running service left them, against the same
    read models emptied and replayed from evaluation's event store (deploy.ops rebuild)."""
    from sqlalchemy import select, text

    from deploy.ops import rebuild
    from services.evaluation import readmodels
    from shared.db import Database

    db = Database(database_url, schema=f"{prefix}evaluation")

    def snapshot():
        with db.transaction() as conn:
            lines = sorted(tuple(r) for r in conn.execute(select(
                readmodels.ledger.c.member_id, readmodels.ledger.c.year, readmodels.ledger.c.period,
                readmodels.ledger.c.points, readmodels.ledger.c.item, readmodels.ledger.c.rule_id,
                readmodels.ledger.c.source_event_id)))
            totals = sorted(tuple(r) for r in conn.execute(select(readmodels.totals)))
        return lines, totals

    def quiet() -> bool:   # the store stopped growing and the projection has applied all of it
        with db.transaction() as conn:
            head = conn.execute(text("SELECT coalesce(max(global_position), 0) FROM events")).scalar()
            at = conn.execute(text("SELECT position FROM projection_checkpoints WHERE name = 'evaluation'")).scalar()
        return head, at

    try:
        before, deadline = None, time.monotonic() + 60
        while time.monotonic() < deadline:
            now = quiet()
            if now == before and now[0] == now[1]:
                break
            before = now
            eventlet.sleep(1.0)
        live = snapshot()
        rebuild("evaluation", database=db, stream=open("/dev/null", "w"))
        replayed = snapshot()
    finally:
        db.dispose()
    return {"ledger_lines": len(live[0]), "members_with_totals": len(live[1]),
            "equal": live == replayed, "lines_only_live": len(set(live[0]) - set(replayed[0])),
            "lines_only_replayed": len(set(replayed[0]) - set(live[0]))}


def feed_malformed(amqp_uri: str, queue: str) -> None:
    """A message no contract can decode, straight into a consumer queue."""
    import kombu

    with kombu.Connection(amqp_uri) as conn:
        producer = conn.Producer()
        producer.publish({"not": "an event"}, exchange="", routing_key=queue, serializer="json",
                         delivery_mode=2, retry=True)


def dead_letters(amqp_uri: str, subscriptions) -> dict:
    from shared.topology import dead_letter_queue_name
    from tests.messaging.helpers import queue_depth

    return {s.queue_name: queue_depth(amqp_uri, dead_letter_queue_name(s.queue_name)) for s in subscriptions}


class Load:
    """Steady load: `clients` greenthreads, each with its own RPC proxy (rebuilt after a broken
    connection), running check-ins and lifecycles until stopped."""

    def __init__(self, amqp_uri: str, city: flow.City, members: list[dict], specs: list[dict], clients: int = 6,
                 timeout: float = 8.0):
        self.amqp_uri, self.city, self.timeout = amqp_uri, city, timeout
        self.members = list(members)           # checked in before the load: lifecycles use them
        self.pending_specs = list(specs)       # members checked in during the load
        self.checked_in: list[dict] = list(members)
        self.lifecycles: list[flow.Lifecycle] = []
        self.refused: list[str] = []
        self.stuck: list[str] = []             # lifecycles dispatch stopped answering about
        self.uncertain = 0
        self.uncertain_check_ins = 0
        self.settled_refusals = 0
        self._stop = False
        self._n = 0
        self._pool = eventlet.GreenPool(clients)
        self._threads = [self._pool.spawn(self._client, i) for i in range(clients)]

    def _proxy(self):
        from nameko.standalone.rpc import ClusterRpcProxy

        while True:
            try:
                runner = ClusterRpcProxy({"AMQP_URI": self.amqp_uri}, timeout=self.timeout)
                return runner, runner.start()
            except Exception:  # noqa: BLE001 - broker connection cut: try again
                eventlet.sleep(0.5)

    def _client(self, i: int) -> None:
        rng = random.Random(i)
        runner, rpc = self._proxy()
        while not self._stop:
            try:
                if self.pending_specs and rng.random() < 0.3:
                    self._check_in(rpc, self.pending_specs.pop())
                else:
                    self._lifecycle(rpc, rng)
            except _NoAnswer as exc:
                self.stuck.append(str(exc))
                return
            except _Reconnect:
                try:
                    runner.stop()
                except Exception:  # noqa: BLE001
                    pass
                runner, rpc = self._proxy()
        try:
            runner.stop()
        except Exception:  # noqa: BLE001
            pass

    def _check_in(self, rpc, spec) -> None:
        """Check-ins are not retried blindly: an unknown outcome is settled by reading the member."""
        from shared.nameko_edge import CommandRejected

        try:
            self.checked_in.append(flow.check_in(rpc, spec))
        except CommandRejected as exc:
            self.refused.append(f"check_in:{exc.code}")
        except Exception:  # noqa: BLE001 - unknown outcome: not counted as accepted either way
            self.uncertain += 1
            self.uncertain_check_ins += 1
            raise _Reconnect from None

    def _lifecycle(self, rpc, rng) -> None:
        self._n += 1
        m = self.members[rng.randrange(len(self.members))]
        job = flow.Lifecycle(f"{self.city.tag}-f{self._n:05d}", f"{self.city.tag}-fr{self._n:05d}", m["member_id"])
        job.started = time.time()
        self.lifecycles.append(job)
        self._drive(rpc, job, m["community_id"], rng)

    def _drive(self, rpc, job: flow.Lifecycle, community_id: str, rng) -> None:
        from shared.nameko_edge import CommandRejected

        who = {"kind": "member", "id": job.member_id}
        state, unsure = None, False
        history = job.steps_ms.setdefault("history", [])  # what the client saw, for a refusal's report
        while not self._stop or state is not None or unsure:
            step = STATE_STEPS.get(state)
            if step is None:
                job.finished = time.time()
                return
            payload = {
                "record_demand": lambda: flow.demand_payload(rng, job.demand_id, community_id, job.resident_id),
                "dispatch_order": lambda: {"demand_id": job.demand_id, "by": "staff", "candidates": [who]},
                "accept_order": lambda: {"demand_id": job.demand_id, "who": who},
                "complete_service": lambda: {"demand_id": job.demand_id, "who": who, "hours": 1.0,
                                             "content": "已上门完成服务"},
                "verify_service": lambda: {"demand_id": job.demand_id, "by": "staff"},
                "rate_service": lambda: {"demand_id": job.demand_id, "resident_id": job.resident_id, "rating": 5},
            }[step]()
            try:
                flow._call(getattr(rpc.dispatch, step), payload, retry_for=60)
                unsure = False
                state = {"record_demand": "recorded", "dispatch_order": "dispatched", "accept_order": "accepted",
                         "complete_service": "completed", "verify_service": "verified",
                         "rate_service": None}[step]
                if step == "rate_service":
                    job.finished = time.time()
                    return
            except CommandRejected as exc:
                # Either an earlier attempt whose answer was lost was applied after all (it was
                # still queued when we asked), or this very request was delivered twice: the
                # instance that applied it died before acking it, RabbitMQ redelivered it, and
                # the second delivery's refusal ("already rated") is the answer that came back.
                # Either way the order's state says whether the step happened.
                unsure = False
                state = self._state_of(job.demand_id)
                history.append((step, exc.code, state))
                if state == "rated" or STATE_STEPS.get(state) != step:
                    self.settled_refusals += 1
                    if state == "rated":
                        job.finished = time.time()
                        return
                    continue
                job.error = f"{step}:{exc.code}"
                history.append((step, exc.code, state))
                self.refused.append(f"{job.demand_id} {job.error} after {history}")
                return
            except Exception:  # noqa: BLE001 - unknown outcome: ask the service where the order is
                self.uncertain += 1
                unsure = True
                state = self._state_of(job.demand_id)
                history.append((step, "uncertain", state))
                if state == "rated":
                    job.finished = time.time()
                    return

    def _state_of(self, demand_id: str):
        """The order's state as dispatch knows it (with a fresh proxy, retried until it answers)."""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            runner, rpc = self._proxy()
            try:
                order = rpc.dispatch.order(demand_id)
                if order is None:
                    return None
                return "rated" if order["rating"] is not None else order["state"]
            except Exception:  # noqa: BLE001
                eventlet.sleep(0.5)
            finally:
                try:
                    runner.stop()
                except Exception:  # noqa: BLE001
                    pass
        raise _NoAnswer(f"dispatch did not answer about {demand_id} for 120 s")

    def stop(self) -> None:
        """Stop starting new work; let every lifecycle in flight finish."""
        self._stop = True
        self._pool.waitall()


class _Reconnect(Exception):
    pass


class _NoAnswer(Exception):
    pass


def process_report(cluster, tail: int = 0) -> dict:
    """Each service process: alive or its exit code; with `tail`, the last warnings and errors of
    its log (what an operator would read first when something was lost or stuck)."""
    report = {}
    for name, procs in cluster.processes.items():
        for i, proc in enumerate(procs):
            entry = {"alive": proc.alive(), "returncode": None if proc.alive() else proc.process.returncode}
            if tail:
                try:
                    lines = proc.log_path.read_text(errors="replace").splitlines()
                except OSError:
                    lines = []
                noteworthy = [ln for ln in lines if '"level": "info"' not in ln and '"level": "debug"' not in ln]
                entry["log_tail"] = [ln[:400] for ln in noteworthy[-tail:]]
            report[f"{name}-{i}"] = entry
    return report


def run(servers: "OwnServers | ClusterServers", log_dir, *, instances: int = 1, rounds: int = 1,
        pause: float = 2.0, members: int = 4, restarts: bool = True, out=print) -> dict:
    """Start the services on the suite's own servers (`own_servers`), put them under load,
    inject every fault `rounds` times, reconcile. `restarts`: also crash and restart the broker
    node and the database cluster each round."""
    from deploy.processes import SERVICE_CLASSES, Cluster
    from deploy.topology import all_subscriptions
    from nameko.standalone.rpc import ClusterRpcProxy

    amqp_uri, database_url = servers.amqp_uri, servers.database_url
    prefix = "f" + uuid.uuid4().hex[:6] + "_"
    city = flow.City(tag="f" + uuid.uuid4().hex[:4], districts=2, communities=2, units=2, members=members)
    faults = FaultLog()
    cluster = Cluster(amqp_uri, database_url, log_dir, instances=instances, schema_prefix=prefix)
    t_start = time.time()
    try:
        cluster.start(timeout=180)
        with ClusterRpcProxy({"AMQP_URI": amqp_uri}, timeout=60) as rpc:
            flow.setup_city(rpc, city)
            specs = city.member_specs()
            first = [flow.check_in(rpc, s) for s in specs[: len(specs) // 2]]
        load = Load(amqp_uri, city, first, specs[len(specs) // 2:])
        eventlet.sleep(pause)
        subs = all_subscriptions()
        for r in range(rounds):
            for name in SERVICE_CLASSES:
                for i in range(instances):
                    cluster.kill(name, i)
                    faults.add("sigkill", f"{name}-{i}")
                    eventlet.sleep(0.5 + random.random())
                    cluster.restart(name, i)
                    eventlet.sleep(pause)
            n = close_vhost_connections(amqp_uri, servers.broker)
            faults.add("broker_connections_closed", f"{n} connections")
            eventlet.sleep(pause)
            n = terminate_backends(database_url)
            faults.add("postgres_backends_terminated", f"{n} backends")
            eventlet.sleep(pause)
            if restarts:
                for kind, fault in servers.server_faults():
                    progress = len(load.lifecycles)
                    what = fault()
                    faults.add(kind, what)
                    eventlet.sleep(pause * 2)
                    faults.injected[-1]["lifecycles_started_meanwhile"] = len(load.lifecycles) - progress
            for s in subs:
                feed_malformed(amqp_uri, s.queue_name)
                faults.malformed[s.queue_name] = faults.malformed.get(s.queue_name, 0) + 1
            faults.add("malformed_messages", f"{len(subs)} queues")
            eventlet.sleep(pause)
        load.stop()
        # settle: every relay published everything, every check-in reached its consumers
        outcomes = flow.observable_outcomes(SERVICE_CLASSES)
        deadline = time.monotonic() + 120
        report = None
        while time.monotonic() < deadline:
            report = flow.reconcile(database_url, prefix, checked_in=load.checked_in,
                                    lifecycles=[j for j in load.lifecycles if j.finished], outcomes=outcomes)
            if report["lost"] == 0:
                break
            eventlet.sleep(1.0)
        # a malformed message waits behind its queue's backlog (evaluation's events keep notify busy)
        deadline = time.monotonic() + 90
        while True:
            dlq = dead_letters(amqp_uri, subs)
            unexpected_dlq = {q: n - faults.malformed.get(q, 0) for q, n in dlq.items()
                              if n != faults.malformed.get(q, 0)}
            if not unexpected_dlq or any(v > 0 for v in unexpected_dlq.values()) or time.monotonic() > deadline:
                break
            eventlet.sleep(1.0)
        finished = [j for j in load.lifecycles if j.finished]
        troubled = bool(unexpected_dlq or report["lost"] or report["duplicated"] or load.stuck)
        processes = process_report(cluster, tail=25 if troubled else 0)
        replay = ledgers_match_a_fresh_replay(database_url, prefix)
        result = {
            "instances_per_service": instances, "rounds": rounds, "seconds": round(time.time() - t_start, 1),
            "faults_injected": len(faults.injected), "faults": faults.injected,
            "commands_accepted": 3 * len(load.checked_in) + 6 * len(finished),
            "check_ins": len(load.checked_in), "lifecycles_finished": len(finished),
            "lifecycles_unfinished": len(load.lifecycles) - len(finished) - len([j for j in load.lifecycles if j.error]),
            "refused": load.refused, "stuck": load.stuck, "processes": processes, "uncertain_calls_settled": load.uncertain,
            "events_checked": sum(v.get("expected", 0) for v in report.values() if isinstance(v, dict)),
            "malformed_fed": sum(faults.malformed.values()), "dead_letters": sum(dlq.values()),
            "unexpected_dead_letters": unexpected_dlq,
            "reconciliation": report, "lost": report["lost"], "duplicated": report["duplicated"],
            "points_ledgers_vs_replay": replay,
            "uncertain_check_ins": load.uncertain_check_ins,
            "refusals_of_applied_steps": load.settled_refusals,
        }
        out(result)
        return result
    finally:
        cluster.stop()
        from deploy.pg import drop_schemas

        drop_schemas(database_url, [f"{prefix}{s}" for s in SERVICE_CLASSES])
