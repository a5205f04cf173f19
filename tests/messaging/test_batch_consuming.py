"""Batch consumers (`@subscribe_batch`) keep every promise of `@subscribe`: nothing lost,
nothing applied twice, a bad event retried and dead-lettered alone, while the rest of its
batch commits — with one commit per batch instead of one per event."""
import pytest
from sqlalchemy import Column, MetaData, String, Table, create_engine, select

from services.notify import domain as notify_domain
from shared import topology
from shared.application import Application
from shared.codec import EventCodec
from shared.nameko_edge import ApplicationProvider, subscribe_batch
from shared.relay import Relay
from tests.messaging.helpers import campaign_event, drain_queue, queue_depth, running, unique, wait_for
from tests.messaging.test_consuming import config, publish


effects_metadata = MetaData()
effects = Table("effects", effects_metadata, Column("event_id", String(36), nullable=False))


class Effects:
    """The effects the consumer committed, read from its own database (no key: a duplicate
    would show as two rows)."""

    def __init__(self, db_path):
        self.db_path = db_path

    def read(self) -> list[str]:
        if not self.db_path.exists():
            return []
        engine = create_engine(f"sqlite:///{self.db_path}")
        try:
            effects_metadata.create_all(engine)
            with engine.connect() as conn:
                return list(conn.execute(select(effects.c.event_id)).scalars())
        finally:
            engine.dispose()


def make_batch_consumer(behaviour, tmp_path):
    batches = []
    seen = Effects(tmp_path / "b.db")

    def build(database):
        effects_metadata.create_all(database.engine)
        return Application(database, EventCodec("notify", notify_domain.EVENTS)), []

    def effect(uow, event):
        behaviour(event)
        uow.conn.execute(effects.insert().values(event_id=event.event_id))

    class Consumer:
        name = unique("batcher")
        app = ApplicationProvider(build)

        @subscribe_batch("registration", "CampaignOpened")
        def on_campaign_opened(self, events):
            batches.append(len(events))
            return self.app.handle_batch(events, effect, name="record")

    return Consumer, seen, batches


def batch_config(amqp_uri, tmp_path, **extra):
    return {**config(amqp_uri, tmp_path, "b"), "INBOX_BATCH_SIZE": 50, "INBOX_BATCH_WAIT": 0.05, **extra}


def test_many_events_arrive_in_few_batches_each_applied_once_even_when_redelivered(database, amqp_uri, tmp_path):
    Consumer, seen, batches = make_batch_consumer(lambda event: None, tmp_path)
    topology.declare(amqp_uri, topology.subscriptions_of(Consumer), sources=["registration"])
    store = publish(database, amqp_uri, [campaign_event(i) for i in range(200)])
    with running(Consumer, config=batch_config(amqp_uri, tmp_path)):
        wait_for(lambda: len(seen.read()) == 200)
        assert max(batches) > 1 and len(batches) < 200
        # the relay crashes and publishes everything again: the inbox recognises every event
        relay = Relay("registration", store, amqp_uri)
        assert relay.acquire_lease()
        relay._save_checkpoint(0)
        assert relay.run_once() == 200
        relay.close()
        queue = topology.consumer_queue_name("registration", "CampaignOpened", Consumer.name, "on_campaign_opened")
        wait_for(lambda: queue_depth(amqp_uri, queue) == 0 and sum(batches) >= 400)
    assert sorted(seen.read()) == sorted(e.event_id for e in store.read_all(0))


def test_a_poison_event_is_retried_and_dead_lettered_alone_while_its_batch_commits(database, amqp_uri, tmp_path):
    def poison(event):
        if event.data["unit_id"] == "u3":
            raise ValueError("无法处理 u3")

    Consumer, seen, batches = make_batch_consumer(poison, tmp_path)
    topology.declare(amqp_uri, topology.subscriptions_of(Consumer), sources=["registration"])
    queue = topology.consumer_queue_name("registration", "CampaignOpened", Consumer.name, "on_campaign_opened")
    store = publish(database, amqp_uri, [campaign_event(i) for i in range(1, 7)])
    with running(Consumer, config=batch_config(amqp_uri, tmp_path)):
        wait_for(lambda: len(seen.read()) == 5)
        wait_for(lambda: queue_depth(amqp_uri, topology.dead_letter_queue_name(queue)) == 1)
    [(body, headers)] = drain_queue(amqp_uri, topology.dead_letter_queue_name(queue))
    assert body["data"]["unit_id"] == "u3"
    assert headers[topology.RETRY_ATTEMPTS_HEADER] == 4  # first try + three retries
    assert "ValueError: 无法处理 u3" in headers[topology.ERROR_HEADER]
    good = {e.event_id for e in store.read_all(0) if e.data["unit_id"] != "u3"}
    assert sorted(seen.read()) == sorted(good)  # each good event once, though its first batch rolled back


@pytest.mark.parametrize("body", ["not an event"])
def test_an_undecodable_message_goes_straight_to_the_dead_letter_queue(amqp_uri, tmp_path, database, body):
    import kombu

    Consumer, seen, batches = make_batch_consumer(lambda event: None, tmp_path)
    topology.declare(amqp_uri, topology.subscriptions_of(Consumer), sources=["registration"])
    queue = topology.consumer_queue_name("registration", "CampaignOpened", Consumer.name, "on_campaign_opened")
    with running(Consumer, config=batch_config(amqp_uri, tmp_path)):
        with kombu.Connection(amqp_uri) as conn:
            conn.Producer().publish(body, exchange=topology.event_exchange("registration"),
                                    routing_key="CampaignOpened", serializer="json")
        wait_for(lambda: queue_depth(amqp_uri, topology.dead_letter_queue_name(queue)) == 1)
    assert seen.read() == [] and batches == []
