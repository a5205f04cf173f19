"""The whole RabbitMQ topology, declared before any relay publishes.

`python -m deploy.topology` declares every exchange and every consumer queue (with its retry
and dead-letter queues) of every service; each relay also does it at start-up. The list is
read from the service classes' `@subscribe` methods, so it cannot drift from the code.
"""
from __future__ import annotations

import argparse
import os

from shared import topology

from deploy.processes import SERVICE_CLASSES

EVENT_SOURCES = tuple(SERVICE_CLASSES)


def service_classes():
    import importlib

    for path in SERVICE_CLASSES.values():
        module, _, attr = path.partition(":")
        yield getattr(importlib.import_module(module), attr)


def all_subscriptions() -> list[topology.Subscription]:
    return [sub for cls in service_classes() for sub in topology.subscriptions_of(cls)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--amqp-uri", default=os.environ.get("AMQP_URI", "amqp://guest:guest@localhost:5672/"))
    args = parser.parse_args()
    subs = all_subscriptions()
    topology.declare(args.amqp_uri, subs, sources=EVENT_SOURCES)
    for sub in subs:
        print(f"declared {sub.queue_name} (+ .retry, .dlq)")


if __name__ == "__main__":
    main()
