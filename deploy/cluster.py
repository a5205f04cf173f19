"""A local cluster: three clustered RabbitMQ nodes and a PostgreSQL primary with a streaming
standby, on this machine, beside (never instead of) its own RabbitMQ and PostgreSQL.

    make cluster                              # python -m deploy.cluster start
    python -m deploy.cluster status [--json]  # nodes, cluster membership, PostgreSQL roles, lag
    python -m deploy.cluster env              # AMQP_URI and DATABASE_URL for the services
    python -m deploy.cluster failover         # kill the primary, promote the standby
    python -m deploy.cluster standby          # make the stopped server a new standby
    python -m deploy.cluster stop [--remove]  # stop everything (and delete its data)

Ports (each overridable): RabbitMQ nodes `baodao-c1..3@localhost` on AMQP 5681-5683
(`BAODAO_CLUSTER_AMQP_PORT`, the first), Erlang distribution 25681-25683
(`BAODAO_CLUSTER_DIST_PORT`); PostgreSQL on 5441 and 5442 (`BAODAO_CLUSTER_PG_PORT`). Data
under `var/cluster/` (`BAODAO_CLUSTER_DIR`). Each node is a deploy.local_nodes.RabbitNode: own
node name, ports, config file, mnesia and log directories, started as the `rabbitmq` user; nodes
2 and 3 `join_cluster` the first. The standby is `pg_basebackup -R` of the primary.

Clients list every broker node and both database servers, so a node lost or a promoted standby
is found without reconfiguration:

    AMQP_URI=amqp://guest:guest@localhost:5681/v;amqp://guest:guest@localhost:5682/v;amqp://...:5683/v
    DATABASE_URL=postgresql://postgres@/baodao?host=localhost:5441&host=localhost:5442&target_session_attrs=read-write

(kombu fails over along the `;` list; libpq tries the hosts in order and keeps the one that
accepts writes.)
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from deploy.local_nodes import PostgresCluster, RabbitNode

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "baodao"

# A node that loses sight of the majority pauses instead of going on alone (split brain); the
# recommended setting for three nodes. Quorum queue leaders spread over the nodes: by default a
# leader goes to the node the declaring client is connected to, and every client tries the
# first node of its list first.
CLUSTER_CONFIG = "cluster_partition_handling = pause_minority\nqueue_leader_locator = balanced\n"


class LocalCluster:
    def __init__(self, base_dir: Path | None = None, *, nodes: int = 3, amqp_port: int | None = None,
                 dist_port: int | None = None, pg_port: int | None = None):
        env = os.environ
        self.base_dir = Path(base_dir or env.get("BAODAO_CLUSTER_DIR") or ROOT / "var" / "cluster")
        amqp_port = amqp_port or int(env.get("BAODAO_CLUSTER_AMQP_PORT", 5681))
        dist_port = dist_port or int(env.get("BAODAO_CLUSTER_DIST_PORT", 25681))
        pg_port = pg_port or int(env.get("BAODAO_CLUSTER_PG_PORT", 5441))
        self.nodes = [RabbitNode(f"baodao-c{i + 1}", amqp_port + i, dist_port + i, self.base_dir / f"rabbit-{i + 1}",
                                 extra_config=CLUSTER_CONFIG) for i in range(nodes)]
        self.postgres = [PostgresCluster(self.base_dir / "pg-a", pg_port),
                         PostgresCluster(self.base_dir / "pg-b", pg_port + 1)]

    # -- addresses ----------------------------------------------------------------------------
    def amqp_uri(self, vhost: str = "") -> str:
        """Every node, in order: kombu connects to the first that answers."""
        return ";".join(n.amqp_uri(vhost) for n in self.nodes)

    def database_url(self, database: str = DATABASE) -> str:
        hosts = "&".join(f"host=localhost:{pg.port}" for pg in self.postgres)
        return f"postgresql://postgres@/{database}?{hosts}&target_session_attrs=read-write"

    # -- PostgreSQL roles ---------------------------------------------------------------------
    def primary(self) -> PostgresCluster | None:
        for pg in self.postgres:
            if pg.running() and not pg.is_in_recovery():
                return pg
        return None

    def standby(self) -> PostgresCluster | None:
        for pg in self.postgres:
            if pg.running() and pg.is_in_recovery():
                return pg
        return None

    # -- life cycle ---------------------------------------------------------------------------
    def start(self, out=print) -> "LocalCluster":
        first_start = not (self.nodes[0].data_dir / "mnesia").exists()
        for n in self.nodes:      # together: a stopped cluster's nodes wait for their peers
            n.start(wait=False)
        for n in self.nodes:
            n.wait_ready(180)
        if first_start:
            for n in self.nodes[1:]:
                n.ctl("stop_app", timeout=120)
                n.ctl("join_cluster", self.nodes[0].node, timeout=120)
                n.ctl("start_app", timeout=180)
        out(f"RabbitMQ: {', '.join(f'{n.node} on {n.port}' for n in self.nodes)}")

        a, b = self.postgres
        if not a.data.exists() and not b.data.exists():
            a.init()
        for pg in self.postgres:
            if pg.data.exists():
                pg.start()
        primary = self.primary()
        if primary is None:
            raise RuntimeError("no PostgreSQL primary among the cluster's servers (see `status`)")
        self._ensure_database(primary)
        other = b if primary is a else a
        if not other.data.exists():
            self.make_standby(other, primary)
            other.start()
        out(f"PostgreSQL: primary on {primary.port}, standby on {other.port}")
        return self

    def _ensure_database(self, primary: PostgresCluster) -> None:
        from deploy.pg import ensure_database

        ensure_database(primary.url(""), DATABASE)

    def make_standby(self, pg: PostgresCluster, primary: PostgresCluster) -> None:
        """(Re)make `pg` as a streaming standby of `primary`: its old data goes."""
        import shutil

        if pg.running():
            pg.stop("immediate")
        shutil.rmtree(pg.base_dir, ignore_errors=True)
        made = primary.standby(pg.base_dir, pg.port)
        made.settings = pg.settings
        made._write_settings()

    def failover(self) -> tuple[int, int]:
        """Kill the primary (SIGKILL of its postmaster) and promote the standby: (old, new) port."""
        old, new = self.primary(), self.standby()
        if old is None or new is None:
            raise RuntimeError("failover needs a running primary and standby")
        old.kill()
        new.promote()
        return old.port, new.port

    def stop(self, remove: bool = False) -> None:
        for n in reversed(self.nodes):
            n.stop()
        for pg in self.postgres:
            pg.stop("fast")
        if remove:
            for n in self.nodes:
                n.remove()
            for pg in self.postgres:
                pg.remove()

    def status(self) -> dict:
        nodes = []
        for n in self.nodes:
            entry = {"node": n.node, "port": n.port, "running": n.alive(), "pid": n.pid if n.alive() else None}
            if entry["running"]:
                try:
                    cs = json.loads(n.ctl("cluster_status", "--formatter", "json", timeout=30))
                    entry["running_nodes"] = cs.get("running_nodes")
                    entry["partitions"] = cs.get("partitions")
                except (subprocess.SubprocessError, ValueError) as exc:
                    entry["error"] = str(exc)[:200]
            nodes.append(entry)
        servers = []
        for pg in self.postgres:
            entry = {"port": pg.port, "data": str(pg.data), "running": pg.running()}
            if entry["running"]:
                entry["role"] = "standby" if pg.is_in_recovery() else "primary"
                entry["pid"] = pg.pid
            servers.append(entry)
        primary = self.primary()
        if primary is not None:
            rows = primary._run("psql", "-h", str(primary.base_dir), "-p", str(primary.port), "-U", "postgres",
                                "-Atc", "SELECT client_port, state, pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) "
                                "FROM pg_stat_replication").stdout.split()
            servers.append({"replication": rows})
        return {"rabbitmq": nodes, "postgres": servers, "AMQP_URI": self.amqp_uri(),
                "DATABASE_URL": self.database_url()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=["start", "stop", "status", "env", "failover", "standby"])
    p.add_argument("--remove", action="store_true", help="stop: also delete the data directories")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    cluster = LocalCluster()
    if args.command == "start":
        cluster.start()
        print(f"AMQP_URI='{cluster.amqp_uri()}'\nDATABASE_URL='{cluster.database_url()}'")
    elif args.command == "stop":
        cluster.stop(remove=args.remove)
        print("stopped" + (" and removed" if args.remove else ""))
    elif args.command == "env":
        print(f"export AMQP_URI='{cluster.amqp_uri()}'\nexport DATABASE_URL='{cluster.database_url()}'")
    elif args.command == "failover":
        old, new = cluster.failover()
        print(f"primary on {old} killed; standby on {new} promoted")
    elif args.command == "standby":
        primary = cluster.primary()
        if primary is None:
            print("no running primary", file=sys.stderr)
            return 1
        other = next(pg for pg in cluster.postgres if pg is not primary)
        cluster.make_standby(other, primary)
        other.start()
        print(f"standby on {other.port} of the primary on {primary.port}")
    else:
        status = cluster.status()
        if args.json:
            print(json.dumps(status, indent=1))
        else:
            for n in status["rabbitmq"]:
                print(f"rabbitmq {n['node']:<22} port {n['port']}  "
                      f"{'running pid ' + str(n['pid']) if n['running'] else 'stopped'}  "
                      f"cluster: {','.join(n.get('running_nodes') or [])}")
            for s in status["postgres"]:
                if "replication" in s:
                    print(f"replication (standby port, state, bytes behind): {s['replication']}")
                else:
                    print(f"postgres port {s['port']}  {s.get('role', 'stopped')}")
        ok = all(n["running"] for n in status["rabbitmq"]) and any(s.get("role") == "primary" for s in status["postgres"])
        return 0 if ok else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
