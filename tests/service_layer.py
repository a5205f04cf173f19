"""A service's application and projections on a real database, without the broker: commands
run as the service runs them, queries read the projections after catching up."""
from shared.application import Context
from shared.projections import Projector


class ServiceLayer:
    def __init__(self, database, build_application):
        self.db = database
        self.app, projections = build_application(database)
        self.projector = Projector(database, self.app.store, self.app.codec, projections)

    def do(self, handler, *args, **kwargs):
        return self.app.execute(handler, *args, context=Context(correlation_id="test"), **kwargs)

    def query(self, fn, *args, **kwargs):
        self.projector.catch_up()
        with self.db.transaction() as conn:
            return fn(conn, *args, **kwargs)
