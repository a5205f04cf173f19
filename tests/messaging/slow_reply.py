"""A registration service with one slow query, so a test can take RabbitMQ away while a worker
is busy and its reply is still to be sent. For tests/messaging/test_reply_in_broker_outage.py."""
import time

from nameko.rpc import rpc

from services.registration.service import RegistrationService


class SlowRegistration(RegistrationService):
    @rpc
    def slow_health(self, seconds):
        time.sleep(seconds)   # green: eventlet is monkey-patched by `nameko run`
        return self.app.health()
