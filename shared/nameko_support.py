"""Moved to `shared.nameko_edge` (kept only while the callers are converted)."""
from shared.nameko_edge import *  # noqa: F401,F403
from shared.nameko_edge import ApplicationProvider as EventSourcedApp  # noqa: F401
from shared.nameko_edge import BoundApplication as WorkerApp  # noqa: F401
from shared.nameko_edge.entrypoints import (DEFAULT_RETRY_DELAYS, REQUEST_ID, CommandRpc, ConfigTimer,  # noqa: F401
                                            Subscribe, SubscribeBatch)
from shared.nameko_edge.patches import ReplySender as _ReplySender  # noqa: F401
