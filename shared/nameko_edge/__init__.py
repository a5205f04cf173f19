"""The nameko edge of the kernel: everything that knows nameko is here.

- `entrypoints`: `@command` (an RPC command: payload validated, refusals as `CommandRejected`,
  its reply stored with its effects), `@subscribe` / `@subscribe_batch` (events through the
  inbox; retries and dead letters instead of nameko's ack-on-error), `@config_timer`;
- `dependencies`: `ApplicationProvider` (a service's database, application, projector and
  relay; a worker sees it as `self.app`, a `BoundApplication`), `WorkLogging`,
  `EventSourcedService` (the `health` RPC);
- `patches`: every change to nameko's, kombu's and py-amqp's internals, applied by
  `patches.install()` when a container sets up, guarded by the library versions.

A service class only turns RPC calls and events into handler calls.
"""
from shared.nameko_edge.dependencies import ApplicationProvider, BoundApplication, EventSourcedService, WorkLogging
from shared.nameko_edge.entrypoints import (CommandRejected, command, config_timer, subscribe,
                                            subscribe_batch)

__all__ = ["ApplicationProvider", "BoundApplication", "CommandRejected", "EventSourcedService", "WorkLogging",
           "command", "config_timer", "subscribe", "subscribe_batch"]
