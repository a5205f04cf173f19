"""A service's application and projections without the broker: commands and events run as the
service runs them (`do`, `deliver`), queries read the projections after catching up.

On `MemoryDatabase()` (the service-layer tests, `tests/<service>/test_handlers.py`) there are no
read models: tests read the events a handler appended (`events`, `new_events`) and its reply.
On a real database (`database` fixture) the read models are there too (`query`)."""
from shared.application import Context
from shared.projections import Projector


class ServiceLayer:
    def __init__(self, database, build_application):
        self.db = database
        self.app, projections = build_application(database)
        self.projector = None if database.is_memory else Projector(database, self.app.store, self.app.codec,
                                                                   projections)
        self._seen = 0

    def do(self, handler, *args, **kwargs):
        return self.app.execute(handler, *args, context=Context(correlation_id="test"), **kwargs)

    def deliver(self, event, handler, name=None, **kwargs) -> bool:
        """An event from another service through the inbox, as `@subscribe` hands it over."""
        return self.app.handle_once(event, handler, name or handler.__qualname__, **kwargs)

    def query(self, fn, *args, **kwargs):
        if self.projector is None:
            raise RuntimeError("read models need a SQL database: use the `database` fixture")
        self.projector.catch_up()
        with self.db.transaction() as conn:
            return fn(conn, *args, **kwargs)

    def events(self, stream_id: str | None = None) -> list:
        """The stored events (of one stream), decoded to the service's domain events."""
        stored = self.app.store.read_stream(stream_id) if stream_id else self.app.store.read_all(0, limit=10**6)
        return [self.app.codec.decode(e) for e in stored]

    def new_events(self) -> list:
        """The events appended since the last call, decoded."""
        stored = self.app.store.read_all(self._seen, limit=10**6)
        if stored:
            self._seen = stored[-1].global_position
        return [self.app.codec.decode(e) for e in stored]

    def types(self, events) -> list[str]:
        return [e.event_type for e in events]
