"""The operator's command line: services, queues, lags, dead letters, projection rebuilds.

    python -m deploy.ops status                    # every service (instances, health) and every queue
    python -m deploy.ops lag                       # relay and projection lag per service, from the databases
    python -m deploy.ops dead-letters              # what is parked on the dead-letter queues, and why
    python -m deploy.ops replay [--queue Q] [--event-id ID]   # send parked events back to their queue
    python -m deploy.ops rebuild SERVICE [PROJECTION ...]     # replay read models, with a progress bar
    python -m deploy.ops migrate-queues            # change queues to QUEUE_TYPE (services stopped)
    python -m deploy.ops regrade DISTRICT YEAR [--reload]   # regrade a graded year under the current rules

It needs only AMQP and the databases: queues are inspected with passive declares (the
RabbitMQ management API may not be there), services through their `health` RPC and the
consumer count of their `rpc-<service>` queue (one consumer per running instance).
Configuration from the environment, as the services: AMQP_URI, DATABASE_URL,
BAODAO_SCHEMA_PREFIX, QUEUE_TYPE.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass

import kombu
from amqp.exceptions import NotFound, PreconditionFailed

from shared import topology

DEFAULT_AMQP_URI = "amqp://guest:guest@localhost:5672/"


# -- queues -------------------------------------------------------------------------------------
@dataclass
class QueueState:
    name: str
    kind: str  # consumer | retry | dead-letter | rpc
    exists: bool
    messages: int = 0
    consumers: int = 0
    type_ok: bool | None = None  # None: not checked


def topology_queues(subscriptions) -> list[tuple[str, str, kombu.Queue]]:
    out = []
    for sub in subscriptions:
        out.append((sub.queue_name, "consumer", topology.consumer_queue(sub.source, sub.event_type, sub.service, sub.method)))
        out.append((topology.retry_queue_name(sub.queue_name), "retry", topology.retry_queue(sub.queue_name)))
        out.append((topology.dead_letter_queue_name(sub.queue_name), "dead-letter",
                    topology.dead_letter_queue(sub.queue_name)))
    return out


def inspect_queue(conn: kombu.Connection, name: str, kind: str, expected: kombu.Queue | None = None) -> QueueState:
    """Messages and consumers by a passive declare; with `expected`, whether an active declare
    with the expected arguments (type) would be accepted."""
    channel = conn.channel()
    try:
        _, messages, consumers = channel.queue_declare(name, passive=True)
    except NotFound:
        return QueueState(name, kind, exists=False)
    finally:
        _close(channel)
    state = QueueState(name, kind, True, messages, consumers)
    if expected is not None:
        channel = conn.channel()
        try:
            expected(channel).queue_declare()
            state.type_ok = True
        except PreconditionFailed:
            state.type_ok = False
        finally:
            _close(channel)
    return state


def _close(channel) -> None:
    try:
        channel.close()
    except Exception:  # noqa: BLE001 - a channel the broker already closed
        pass


def queue_states(amqp_uri: str, subscriptions, check_type: bool = True) -> list[QueueState]:
    with kombu.Connection(amqp_uri) as conn:
        return [inspect_queue(conn, name, kind, expected if check_type else None)
                for name, kind, expected in topology_queues(subscriptions)]


# -- services -----------------------------------------------------------------------------------
def service_states(amqp_uri: str, services, timeout: float = 3.0) -> list[dict]:
    """Per service: running instances (consumers of its RPC queue) and its `health` answer."""
    from nameko.exceptions import RpcTimeout, UnknownService
    from nameko.standalone.rpc import ClusterRpcProxy

    states = []
    with kombu.Connection(amqp_uri) as conn:
        for service in services:
            rpc_queue = inspect_queue(conn, f"rpc-{service}", "rpc")
            states.append({"service": service, "instances": rpc_queue.consumers,
                           "rpc_backlog": rpc_queue.messages, "health": None})
    live = [s for s in states if s["instances"]]
    if live:
        with ClusterRpcProxy({"AMQP_URI": amqp_uri}, timeout=timeout) as rpc:
            for state in live:
                try:
                    state["health"] = getattr(rpc, state["service"]).health()
                except (RpcTimeout, UnknownService) as exc:
                    state["health"] = {"status": f"no answer ({type(exc).__name__})"}
                except Exception as exc:  # noqa: BLE001 - report, do not crash the status
                    state["health"] = {"status": f"error: {exc}"[:200]}
    return states


# -- lags ---------------------------------------------------------------------------------------
def lags(service: str, database=None) -> dict:
    """Relay and projection lag of `service`, read from its database."""
    from sqlalchemy import inspect as sa_inspect, select

    from deploy.migrate import database_for_service
    from shared.eventstore import EventStore
    from shared.projections import checkpoints_table
    from shared.relay import relay_state_table

    own = database is None
    database = database or database_for_service(service)
    try:
        tables = set(sa_inspect(database.engine).get_table_names())
        if "events" not in tables:
            return {"service": service, "head": None, "relay_lag": None, "projections": {}}
        head = EventStore(database).max_position()
        with database.transaction() as conn:
            relay = (conn.execute(select(relay_state_table.c.position).where(relay_state_table.c.name == service))
                     .scalar_one_or_none() if "relay_state" in tables else None)
            checkpoints = (dict(conn.execute(select(checkpoints_table.c.name, checkpoints_table.c.position)).all())
                           if "projection_checkpoints" in tables else {})
        return {"service": service, "head": head, "relay_lag": None if relay is None else head - relay,
                "projections": {name: head - pos for name, pos in sorted(checkpoints.items())}}
    finally:
        if own:
            database.dispose()


# -- dead letters -------------------------------------------------------------------------------
def _describe(message, queue: str) -> dict:
    headers = dict(message.headers or {})
    try:
        body = json.loads(message.body) if isinstance(message.body, (bytes, str)) else message.body
    except ValueError:
        body = None
    body = body if isinstance(body, dict) else {}
    return {"queue": queue, "origin": headers.get(topology.ORIGIN_QUEUE_HEADER, queue.removesuffix(".dlq")),
            "event_id": body.get("event_id") or message.properties.get("message_id"),
            "event_type": body.get("event_type") or headers.get("event_type"),
            "attempts": headers.get(topology.RETRY_ATTEMPTS_HEADER), "error": headers.get(topology.ERROR_HEADER)}


def dead_letters(amqp_uri: str, dlq_names, limit: int = 100) -> list[dict]:
    """The messages on the dead-letter queues, left where they are (read, then returned)."""
    found = []
    with kombu.Connection(amqp_uri) as conn:
        for name in dlq_names:
            channel = conn.channel()
            try:
                queue = kombu.Queue(name, no_declare=True)(channel)
                held = []
                try:
                    while len(found) < limit:
                        message = queue.get(no_ack=False)
                        if message is None:
                            break
                        held.append(message)
                        found.append(_describe(message, name))
                finally:
                    for message in held:
                        message.requeue()
            except NotFound:
                pass
            finally:
                _close(channel)
    return found


def replay(amqp_uri: str, dlq_names, event_id: str | None = None) -> int:
    """Move parked messages (all, or the one with `event_id`) back to the queue they failed on,
    with their attempt count reset; each is acked on the dead-letter queue only after the broker
    confirmed the re-publish, so a crash repeats a replay (harmless: the inbox) and loses none."""
    moved = 0
    with kombu.Connection(amqp_uri) as conn:
        producer = kombu.Producer(conn.channel())
        producer.channel.confirm_select()
        for name in dlq_names:
            channel = conn.channel()
            try:
                queue = kombu.Queue(name, no_declare=True)(channel)
                skipped = []
                try:
                    while True:
                        message = queue.get(no_ack=False)
                        if message is None:
                            break
                        info = _describe(message, name)
                        if event_id is not None and info["event_id"] != event_id:
                            skipped.append(message)
                            continue
                        if not inspect_queue(conn, info["origin"], "consumer").exists:
                            # The default exchange would confirm and drop it: leave it parked.
                            skipped.append(message)
                            continue
                        headers = {k: v for k, v in (message.headers or {}).items()
                                   if k not in (topology.RETRY_ATTEMPTS_HEADER, topology.ERROR_HEADER)}
                        # On a confirm-selected channel py-amqp's basic_publish waits for the
                        # broker's ack (and raises on a nack) before the next line acks the original.
                        producer.channel.basic_publish(
                            _amqp_message(message, headers), exchange="", routing_key=info["origin"], mandatory=True)
                        message.ack()
                        moved += 1
                finally:
                    for message in skipped:
                        message.requeue()
            except NotFound:
                pass
            finally:
                _close(channel)
    return moved


def _amqp_message(message, headers: dict, keep_expiration: bool = False):
    """A copy of a received message to re-publish. A message replayed to a consumer queue loses
    its retry-queue expiration (it would otherwise expire there); one moved between holding
    queues keeps it."""
    import amqp

    kept = ("content_type", "content_encoding", "message_id", "correlation_id", "type", "timestamp", "priority")
    props = {k: v for k, v in message.properties.items()
             if k in kept or (keep_expiration and k == "expiration")}
    return amqp.Message(message.body, application_headers=headers, delivery_mode=2, **props)


# -- queue type migration -----------------------------------------------------------------------
def migrate_queues(amqp_uri: str, subscriptions, out=print) -> int:
    """Re-create every topology queue whose type differs from QUEUE_TYPE, keeping its messages:
    they are moved to a holding queue of the new type, the queue is re-created (and bound), and
    they are moved back. Refuses while a queue has consumers: stop the services first (their
    relays then publish nothing; events wait in the event stores). Safe to run again after a
    crash: a holding queue left behind is emptied back into its queue."""
    changed = 0
    with kombu.Connection(amqp_uri) as conn:
        states = [(inspect_queue(conn, name, kind, expected), expected) for name, kind, expected in
                  topology_queues(subscriptions)]
        busy = [s.name for s, _ in states if s.type_ok is False and s.consumers]
        if busy:
            raise RuntimeError(f"{len(busy)} queue(s) to migrate still have consumers (e.g. {busy[0]}): "
                               "stop every service first")
        for state, expected in states:
            holding = f"{state.name}.migrating"
            if state.type_ok is False:
                channel = conn.channel()
                kombu.Queue(holding, durable=True, queue_arguments=topology.queue_arguments())(channel).declare()
                moved_out = _move(conn, state.name, holding)
                channel.queue_delete(state.name)
                _close(channel)
                changed += 1
                out(f"{state.name}: re-created as {topology.queue_type()} ({moved_out} message(s) kept)")
            channel = conn.channel()
            expected(channel).declare()  # creates (and binds) it when missing; no-op otherwise
            _close(channel)
            if inspect_queue(conn, holding, "holding").exists:
                _move(conn, holding, state.name)
                conn.channel().queue_delete(holding)
    return changed


def _move(conn, source: str, target: str) -> int:
    moved = 0
    channel = conn.channel()
    publish_channel = conn.channel()
    publish_channel.confirm_select()
    queue = kombu.Queue(source, no_declare=True)(channel)
    while True:
        message = queue.get(no_ack=False)
        if message is None:
            break
        publish_channel.basic_publish(_amqp_message(message, dict(message.headers or {}), keep_expiration=True),
                                      exchange="",
                                      routing_key=target, mandatory=True)
        message.ack()
        moved += 1
    _close(channel)
    _close(publish_channel)
    return moved


# -- projections --------------------------------------------------------------------------------
class ProgressBar:
    """`[#########...........]  4521/10000  45%  1234 ev/s` on one line of `stream`."""

    def __init__(self, label: str, stream=None, width: int = 30):
        self.label, self.stream, self.width = label, stream or sys.stderr, width
        self.started = time.monotonic()
        self.last = ""

    def __call__(self, done: int, total: int) -> None:
        total = max(total, 1)
        filled = min(self.width, int(self.width * done / total))
        rate = done / max(time.monotonic() - self.started, 1e-6)
        self.last = (f"{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {done}/{total} "
                     f"{100 * done // total:3d}%  {rate:,.0f} ev/s")
        self.stream.write("\r" + self.last)
        self.stream.flush()

    def finish(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


def projector_for(service: str, database):
    import importlib

    from deploy.processes import SERVICE_CLASSES
    from shared.projections import Projector

    module = importlib.import_module(SERVICE_CLASSES[service].partition(":")[0])
    application, projections = module.build_application(database)
    return Projector(database, application.store, application.codec, projections)


def rebuild(service: str, names=(), database=None, stream=None) -> dict:
    """Empty and replay projections of `service` (all, or `names`); returns events per projection."""
    from deploy.migrate import database_for_service

    own = database is None
    database = database or database_for_service(service)
    try:
        projector = projector_for(service, database)
        names = list(names) or [p.name for p in projector.projections]
        unknown = set(names) - {p.name for p in projector.projections}
        if unknown:
            raise SystemExit(f"unknown projection(s) of {service}: {', '.join(sorted(unknown))} "
                             f"(known: {', '.join(p.name for p in projector.projections)})")
        done = {}
        for name in names:
            bar = ProgressBar(f"{service}.{name}", stream)
            bar(0, projector.store.max_position())
            done[name] = projector.rebuild(name, progress=bar)
            bar(projector.store.max_position(), projector.store.max_position())
            bar.finish()
        return done
    finally:
        if own:
            database.dispose()


# -- the command line ---------------------------------------------------------------------------
def _subscriptions(args):
    from deploy.topology import all_subscriptions

    return all_subscriptions()


def _services(args) -> list[str]:
    from deploy.processes import SERVICE_CLASSES

    return args.service or list(SERVICE_CLASSES)


def _dlqs(args) -> list[str]:
    if getattr(args, "queue", None):
        return [q if q.endswith(".dlq") else topology.dead_letter_queue_name(q) for q in args.queue]
    return [topology.dead_letter_queue_name(s.queue_name) for s in _subscriptions(args)]


def _table(rows, headers) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)])


def cmd_status(args) -> int:
    services = service_states(args.amqp_uri, _services(args))
    if args.json:
        from dataclasses import asdict

        queues = queue_states(args.amqp_uri, _subscriptions(args))
        print(json.dumps({"services": services, "queues": [asdict(q) for q in queues]}, ensure_ascii=False, indent=1))
        return 1 if any(not s["instances"] for s in services) or any(
            not q.exists or q.type_ok is False or (q.kind == "dead-letter" and q.messages) for q in queues) else 0
    print(_table([[s["service"], s["instances"], s["rpc_backlog"], (s["health"] or {}).get("status", "down"),
                   (s["health"] or {}).get("relay_lag", "-")] for s in services],
                 ["service", "instances", "rpc backlog", "health", "relay lag"]))
    queues = queue_states(args.amqp_uri, _subscriptions(args))
    print()
    print(_table([[q.name, q.kind, "missing" if not q.exists else q.messages, q.consumers if q.exists else "-",
                   {True: topology.queue_type(), False: "MISMATCH", None: "-"}[q.type_ok]] for q in queues],
                 ["queue", "kind", "messages", "consumers", "type"]))
    problems = [q for q in queues if not q.exists or q.type_ok is False or (q.kind == "dead-letter" and q.messages)]
    down = [s for s in services if not s["instances"]]
    print(f"\n{len(services) - len(down)}/{len(services)} services up; {len(queues)} queues, "
          f"{sum(q.messages for q in queues if q.kind == 'dead-letter')} dead letter(s), "
          f"{sum(1 for q in queues if q.type_ok is False)} type mismatch(es), "
          f"{sum(1 for q in queues if not q.exists)} missing")
    return 1 if problems or down else 0


def cmd_lag(args) -> int:
    rows = []
    for service in _services(args):
        info = lags(service)
        projections = ", ".join(f"{k}={v}" for k, v in info["projections"].items()) or "-"
        rows.append([service, "-" if info["head"] is None else info["head"],
                     "-" if info["relay_lag"] is None else info["relay_lag"], projections])
    print(_table(rows, ["service", "events", "relay lag", "projection lag"]))
    return 0


def cmd_dead_letters(args) -> int:
    found = dead_letters(args.amqp_uri, _dlqs(args), limit=args.limit)
    if args.json:
        print(json.dumps(found, ensure_ascii=False, indent=1))
    else:
        print(_table([[f["origin"], f["event_type"], f["event_id"], f["attempts"], (f["error"] or "")[:80]]
                      for f in found], ["queue", "event", "event id", "attempts", "error"]) if found
              else "no dead letters")
    return 0


def cmd_replay(args) -> int:
    moved = replay(args.amqp_uri, _dlqs(args), event_id=args.event_id)
    print(f"replayed {moved} message(s)")
    return 0 if moved or args.event_id is None else 1


def cmd_rebuild(args) -> int:
    done = rebuild(args.service, args.projection)
    for name, events in done.items():
        print(f"{args.service}.{name}: {events} events replayed")
    return 0


def cmd_migrate_queues(args) -> int:
    running = [s["service"] for s in service_states(args.amqp_uri, _services(args)) if s["instances"]]
    if running:
        # A running relay would publish into an exchange whose queue is being re-created.
        print(f"error: stop every service first; still running: {', '.join(running)}", file=sys.stderr)
        return 1
    changed = migrate_queues(args.amqp_uri, _subscriptions(args))
    print(f"{changed} queue(s) re-created as {topology.queue_type()}")
    return 0


def evaluation_rpc(amqp_uri: str, timeout: float = 600.0):
    """A context manager giving the cluster's RPC proxy (the regrade of a large district takes time)."""
    from nameko.standalone.rpc import ClusterRpcProxy

    return ClusterRpcProxy({"AMQP_URI": amqp_uri}, timeout=timeout)


def cmd_regrade(args) -> int:
    """Regrade a district's graded year from the members' histories under the current rules
    (`--reload` first loads the rules files again, refusing an invalid one): each changed grade
    is recorded by evaluation with the old and the new grade and rules (GradeRevised)."""
    with evaluation_rpc(args.amqp_uri) as rpc:
        try:
            if args.reload:
                reloaded = rpc.evaluation.reload_rules(args.district)
                print(f"rules reloaded: {reloaded['corrections']} open-period correction(s) "
                      f"for {reloaded['members']} member(s)")
            done = rpc.evaluation.regrade({"district_id": args.district, "year": args.year, "by": args.by})
        except Exception as exc:  # noqa: BLE001 - a refused command (invalid rules, bad input) is reported
            print(f"error: {exc}", file=sys.stderr)
            return 1
    if args.json:
        print(json.dumps(done, ensure_ascii=False, indent=1))
        return 0
    if done["changes"]:
        print(_table([[c["member_id"], f"{c['old_grade']} ({c['old_points']})", f"{c['new_grade']} ({c['new_points']})",
                       c["old_rules"] or "-", c["new_rules"] or "-", "、".join(c["titles_withdrawn"]) or "-",
                       "、".join(c.get("titles_awarded", [])) or "-"]
                      for c in done["changes"]],
                     ["member", "old grade (points)", "new grade (points)", "old rules", "new rules",
                      "titles withdrawn", "titles awarded"]))
    print(f"{done['district_id']} {done['year']}: {done['members']} member(s), {done['revised']} grade(s) revised, "
          f"{done['titles_withdrawn']} title(s) withdrawn, {done.get('titles_awarded', 0)} title(s) awarded")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.ops", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--amqp-uri", default=os.environ.get("AMQP_URI", DEFAULT_AMQP_URI))
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("status", help="services and queues")
    p.add_argument("--service", action="append", help="only these services (repeatable)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_status)
    p = sub.add_parser("lag", help="relay and projection lag per service")
    p.add_argument("--service", action="append")
    p.set_defaults(fn=cmd_lag)
    p = sub.add_parser("dead-letters", help="list parked messages (they stay parked)")
    p.add_argument("--queue", action="append", help="a consumer or dead-letter queue (repeatable); default all")
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_dead_letters)
    p = sub.add_parser("replay", help="send parked messages back to their queue")
    p.add_argument("--queue", action="append")
    p.add_argument("--event-id")
    p.set_defaults(fn=cmd_replay)
    p = sub.add_parser("rebuild", help="empty and replay a service's projections")
    p.add_argument("service")
    p.add_argument("projection", nargs="*")
    p.set_defaults(fn=cmd_rebuild)
    p = sub.add_parser("migrate-queues", help="re-create queues whose type differs from QUEUE_TYPE")
    p.add_argument("--service", action="append", help=argparse.SUPPRESS)
    p.set_defaults(fn=cmd_migrate_queues)
    p = sub.add_parser("regrade", help="regrade a district's graded year under the current rules")
    p.add_argument("district")
    p.add_argument("year", type=int)
    p.add_argument("--reload", action="store_true", help="load the rules files again first")
    p.add_argument("--by", default="ops", help="who asked (recorded on each revision)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_regrade)
    args = parser.parse_args(argv)
    from shared.logging import configure_logging, logging_configured

    if not logging_configured():
        configure_logging("ops", level=os.environ.get("BAODAO_LOG_LEVEL", "WARNING"))
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
