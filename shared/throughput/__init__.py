"""Throughput helpers, each opt-in: the kernel works the same without any of them, only slower
under load. The nameko edge switches them on from the service's config (`ApplicationProvider`):

- `StreamCache` (`STREAM_CACHE_EVENTS`, default 200,000; 0 for none): decoded events of
  recently loaded streams, so a load reads only the new tail of a stream;
- `GroupCommit` (a service calls `self.app.execute_together`): the commands arriving while one
  transaction runs share the next one, each with its own reply;
- `fast_contracts.enable()` (`CONTRACT_FAST_PATH`, default on): contracts checked by a compiled
  function instead of marshmallow's machinery, falling back to marshmallow for every error;
- `cached(uow, cls, id)`: an aggregate as the stream cache has it, to name what a batched
  command will load (`handler.wants`).
"""
from shared.throughput import fast_contracts
from shared.throughput.group_commit import GroupCommit
from shared.throughput.stream_cache import StreamCache, cached

__all__ = ["GroupCommit", "StreamCache", "cached", "enable"]


def enable(application, stream_cache_events: int = 200_000, contract_fast_path: bool = True) -> None:
    """What a service process switches on (the nameko edge calls this with the service's config;
    a benchmark driving an `Application` directly calls it to measure what the service runs)."""
    if contract_fast_path:
        fast_contracts.enable()
    if stream_cache_events and application.streams is None:
        application.streams = StreamCache(stream_cache_events)
