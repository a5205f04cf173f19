"""`python -m tests.faults`: the long form of the fault suite (see tests/faults/suite.py).

    python -m tests.faults                      # 2 instances per service, 3 rounds of every fault,
                                                # the broker node and the database crashed and
                                                # restarted each round
    python -m tests.faults --instances 1 --rounds 1 --json
    python -m tests.faults --cluster --instances 1 --rounds 1   # on `make cluster`, quorum queues

It runs on a RabbitMQ node and a PostgreSQL cluster of its own (free ports, temporary data
directories, removed at the end), never on the machine's own broker or database.
"""
from __future__ import annotations

import warnings

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
import eventlet  # noqa: E402

eventlet.monkey_patch()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402


def main(argv=None) -> int:
    from shared.logging import configure_logging, quiet_amqp_client
    from tests.faults import suite

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--instances", type=int, default=2)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--pause", type=float, default=3.0, help="seconds of load between faults")
    p.add_argument("--members", type=int, default=6, help="members per unit (8 units)")
    p.add_argument("--no-restarts", action="store_true", help="do not crash and restart the broker and the database")
    p.add_argument("--cluster", action="store_true",
                   help="on the three-node RabbitMQ cluster (quorum queues) and the PostgreSQL primary with a "
                        "standby of `make cluster`: a node killed, a node cut off, the primary killed and the "
                        "standby promoted")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    configure_logging("faults", level="WARNING")
    quiet_amqp_client()
    if args.cluster:
        os.environ["QUEUE_TYPE"] = "quorum"
    servers_of = suite.cluster_servers if args.cluster else suite.own_servers
    with servers_of() as servers, tempfile.TemporaryDirectory(prefix="faults-") as tmp:
        result = suite.run(servers, Path(tmp), instances=args.instances, rounds=args.rounds, pause=args.pause,
                           members=args.members, restarts=not args.no_restarts, out=lambda r: None)
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=1))
    else:
        print(f"faults injected: {result['faults_injected']}  commands accepted: {result['commands_accepted']}  "
              f"events checked: {result['events_checked']}  lost: {result['lost']}  "
              f"duplicated: {result['duplicated']}  dead letters: {result['dead_letters']} "
              f"(malformed fed: {result['malformed_fed']})  refused: {len(result['refused'])}  "
              f"points ledgers equal a fresh replay: {result['points_ledgers_vs_replay']['equal']}")
    ok = (result["lost"] == 0 and result["duplicated"] == 0 and not result["unexpected_dead_letters"]
          and not result["refused"] and result["points_ledgers_vs_replay"]["equal"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
