"""Servers of our own beside the machine's (deploy.local_nodes): a crash and a restart keep what
was confirmed or committed, and the session check of tests/conftest.py sees a restarted or
re-opened server (it would fail the session had it been the machine's own)."""
import kombu
from sqlalchemy import create_engine, text

from deploy.local_nodes import PostgresCluster, RabbitNode, listener
from tests.conftest import servers_changed


def test_a_postgres_cluster_of_our_own_survives_a_crash_and_the_check_sees_the_restart():
    pg = PostgresCluster.fresh("test-pg")
    try:
        pg.start()
        assert listener(5432) is None or listener(pg.port) != listener(5432)
        before = {"PostgreSQL": listener(pg.port)}
        assert before["PostgreSQL"][0] == pg.pid
        engine = create_engine(pg.url())
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE kept (n int)"))
            conn.execute(text("INSERT INTO kept VALUES (1), (2)"))
        engine.dispose()
        assert servers_changed(before, {"PostgreSQL": listener(pg.port)}) == {}

        pg.kill()
        assert listener(pg.port) is None
        pg.start()
        engine = create_engine(pg.url())
        with engine.connect() as conn:
            assert conn.execute(text("SELECT sum(n) FROM kept")).scalar() == 3
        engine.dispose()
        changed = servers_changed(before, {"PostgreSQL": listener(pg.port)})
        assert set(changed) == {"PostgreSQL"} and changed["PostgreSQL"]["after"][0] == pg.pid != before["PostgreSQL"][0]
    finally:
        pg.stop("immediate")
        pg.remove()


def test_a_rabbitmq_node_of_our_own_keeps_confirmed_messages_over_a_crash_and_the_check_sees_an_app_restart():
    node = RabbitNode.fresh("test")
    try:
        node.start()
        assert node.port != 5672 and listener(node.port)[0] == node.pid
        with kombu.Connection(node.amqp_uri(), transport_options={"confirm_publish": True}) as conn:
            queue = kombu.Queue("kept", durable=True)
            queue(conn.default_channel).declare()
            conn.Producer().publish({"n": 1}, routing_key="kept", delivery_mode=2)
        first_pid = node.pid

        node.kill()
        node.start()
        assert node.pid != first_pid
        assert node.ctl("list_queues", "name", "messages").split() == ["name", "messages", "kept", "1"]

        # stop_app / start_app keeps the Erlang VM (same pid) but re-opens the listener
        before = {"RabbitMQ": listener(node.port)}
        node.ctl("stop_app", timeout=120)
        node.ctl("start_app", timeout=120)
        after = {"RabbitMQ": listener(node.port)}
        assert after["RabbitMQ"][0] == before["RabbitMQ"][0]
        assert set(servers_changed(before, after)) == {"RabbitMQ"}
    finally:
        node.stop()
        node.remove()
