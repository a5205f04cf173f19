"""Alembic migrations on the real PostgreSQL: upgrading an empty schema gives exactly the
schema of the code's SQLAlchemy metadata, for every service. When a branch changes a model
without a new revision, this fails and says which command writes it."""
import pytest
from sqlalchemy import inspect, text

from deploy import migrate
from deploy.processes import SERVICE_CLASSES
from shared.db import Database
from tests.conftest import PG_URL, fresh_schema

pytestmark = pytest.mark.postgres  # (the SQLite test at the end needs none)


@pytest.fixture
def empty_pg():
    db = Database(PG_URL, schema=fresh_schema())
    yield db
    db.drop_schema()
    db.dispose()


def test_every_service_has_a_migration_history():
    missing = [s for s in [*SERVICE_CLASSES, "gateway"] if s not in migrate.services_with_history()]
    assert not missing, f"no migrations for {missing}: run `python -m deploy.migrate new-service <name>`"


@pytest.mark.parametrize("service", migrate.services_with_history())
def test_upgrade_from_empty_equals_the_models(empty_pg, service):
    assert migrate.current(service, empty_pg) is None
    assert migrate.upgrade(service, empty_pg) == "upgraded to head"
    diff = migrate.schema_diff(empty_pg, service)
    assert diff == [], (f"{service}: migrations are stale, run "
                        f"`python -m deploy.migrate revision {service} -m '<what changed>'`:\n{diff}")
    assert migrate.current(service, empty_pg) is not None
    tables = set(inspect(empty_pg.engine).get_table_names())
    kernel = {"events", "inbox", "projection_checkpoints", "relay_state"}
    assert "alembic_version" in tables
    assert kernel <= tables if service in SERVICE_CLASSES else not kernel & tables
    # Running again is a no-op.
    migrate.upgrade(service, empty_pg)
    assert migrate.schema_diff(empty_pg, service) == []


def test_a_drifted_schema_is_reported(empty_pg):
    migrate.upgrade("notify", empty_pg)
    with empty_pg.transaction() as conn:
        conn.execute(text("ALTER TABLE rm_inbox_messages DROP COLUMN title"))
        conn.execute(text("ALTER TABLE inbox ADD COLUMN stray integer"))
    diff = migrate.schema_diff(empty_pg, "notify")
    kinds = {(d[0], d[2]) if d[0] in ("add_column", "remove_column") else d[0] for d in diff}
    assert ("add_column", "rm_inbox_messages") in kinds and ("remove_column", "inbox") in kinds


def test_a_database_made_by_create_all_is_adopted(empty_pg):
    """Databases that predate migrations (tables made at service start) are stamped, not re-created."""
    from services.notify.service import build_application
    from shared.projections import Projector

    application, projections = build_application(empty_pg)
    Projector(empty_pg, application.store, application.codec, projections)
    from shared.relay import Relay
    Relay("notify", application.store, "amqp://unused/")  # creates relay_state
    assert migrate.upgrade("notify", empty_pg) == "adopted (stamped at head)"
    assert migrate.current("notify", empty_pg) is not None
    assert migrate.schema_diff(empty_pg, "notify") == []


def test_a_differing_unversioned_database_is_refused(empty_pg):
    with empty_pg.transaction() as conn:
        conn.execute(text("CREATE TABLE events (global_position bigint PRIMARY KEY)"))
    with pytest.raises(migrate.MigrationError, match="no migration history"):
        migrate.upgrade("notify", empty_pg)


def test_the_command_line_upgrades_and_checks(monkeypatch, capsys):
    prefix = fresh_schema() + "_"
    monkeypatch.setenv("DATABASE_URL", PG_URL)
    monkeypatch.setenv("BAODAO_SCHEMA_PREFIX", prefix)
    try:
        assert migrate.main(["notify", "dispatch"]) == 0
        assert migrate.main(["--check", "notify", "dispatch"]) == 0
        out = capsys.readouterr().out
        assert "notify: upgraded to head" in out and "in line with the code" in out
    finally:
        for service in ("notify", "dispatch"):
            db = Database(PG_URL, schema=prefix + service)
            db.drop_schema()
            db.dispose()


def test_replicas_starting_together_migrate_one_at_a_time():
    """Several processes upgrading the same empty schema at once: all succeed, one history."""
    import subprocess
    import sys

    from deploy.processes import ROOT

    prefix = fresh_schema() + "_"
    schema = prefix + "dispatch"
    code = ("from deploy import migrate; "
            f"print(migrate.upgrade('dispatch', migrate.database_for_service('dispatch', {PG_URL!r}, {prefix!r})))")
    procs = [subprocess.Popen([sys.executable, "-W", "ignore", "-c", code], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    results = [p.communicate(timeout=120) for p in procs]
    db = Database(PG_URL, schema=schema)
    try:
        assert [p.returncode for p in procs] == [0, 0, 0], [err[-2000:] for _, err in results]
        outcomes = sorted(out.strip() for out, _ in results)
        assert outcomes.count("upgraded to head") == 3
        assert migrate.schema_diff(db, "dispatch") == []
    finally:
        db.drop_schema()
        db.dispose()


@pytest.mark.parametrize("service", migrate.services_with_history())
def test_upgrade_from_empty_equals_the_models_on_sqlite(tmp_path, service):
    db = Database(f"sqlite:///{tmp_path / service}.db")
    try:
        migrate.upgrade(service, db)
        assert migrate.schema_diff(db, service) == []
    finally:
        db.dispose()


def test_new_service_is_one_command_that_writes_a_working_history(tmp_path, monkeypatch, empty_pg):
    """What `python -m deploy.migrate new-service evaluation` does, here for notify in a scratch folder."""
    import shutil

    shutil.copy(migrate.MIGRATIONS / "script.py.mako", tmp_path / "script.py.mako")
    monkeypatch.setattr(migrate, "MIGRATIONS", tmp_path)
    assert migrate.main(["new-service", "notify"]) == 0
    [revision] = list((tmp_path / "notify" / "versions").glob("*.py"))
    assert "notify: initial schema" in revision.read_text() and "create_table('rm_inbox_messages'" in revision.read_text()
    assert migrate.upgrade("notify", empty_pg) == "upgraded to head"
    assert migrate.schema_diff(empty_pg, "notify") == []
    assert migrate.main(["new-service", "notify"]) == 1   # not twice


def test_upgrading_a_database_with_rows_from_the_first_revision(empty_pg):
    """A revision that adds a NOT NULL column must work on a table that has rows."""
    from alembic import command

    histories = {"notify": "f1e65fc94dc1"}   # notify's first revision: rm_inbox_messages without `important`
    for service, first in histories.items():
        command.upgrade(migrate.alembic_config(service, empty_pg), first)
        with empty_pg.transaction() as conn:
            conn.execute(text("INSERT INTO rm_inbox_messages (message_id, recipient_kind, recipient_id, template, "
                              "title, body, delivered_at, read) VALUES ('m1', 'unit', 'u1', 't', '标题', '正文', "
                              "'2026-11-29T00:00:00+00:00', false)"))
        migrate.upgrade(service, empty_pg)
        assert migrate.schema_diff(empty_pg, service) == []
        with empty_pg.transaction() as conn:
            assert conn.execute(text("SELECT important FROM rm_inbox_messages")).scalar_one() is False


# -- the kernel's tables: one history of their own ---------------------------------------------

KERNEL_TABLES = ("events", "inbox", "inbox_streams", "command_replies", "projection_checkpoints", "relay_state")


def test_the_kernel_tables_are_written_once_in_the_kernel_history():
    """A kernel change is one revision in deploy/migrations/kernel, not one per service."""
    for path in migrate.MIGRATIONS.glob("*/versions/*.py"):
        text_ = path.read_text(encoding="utf-8")
        made = [t for t in KERNEL_TABLES if f"op.create_table('{t}'" in text_]
        assert (path.parent.parent.name == migrate.KERNEL) == bool(made), (path, made)


@pytest.mark.parametrize("stopped_at", ["head", "first"])
def test_a_database_migrated_before_the_kernel_had_its_own_history_upgrades_cleanly(empty_pg, stopped_at):
    """Databases whose kernel tables were made by the services' own histories: at head (all of
    them), or stopped at the first revision (before command_replies and inbox_streams existed)."""
    from alembic import command

    first = {"head": "head", "first": "4554a150e293"}[stopped_at]
    wanted = KERNEL_TABLES if stopped_at == "head" else ("events", "inbox", "projection_checkpoints", "relay_state")
    metadata = migrate.kernel_metadata()
    metadata.create_all(empty_pg.engine, tables=[metadata.tables[t] for t in wanted])
    command.upgrade(migrate.alembic_config("registration", empty_pg), first)
    with empty_pg.transaction() as conn:
        conn.execute(text("INSERT INTO events (event_id, stream_id, stream_version, event_type, schema_version, "
                          "occurred_at, data) VALUES ('e1', 'unit-u1', 1, 'UnitRegistered', 1, '2026-01-01', '{}')"))
    assert migrate.current(migrate.KERNEL, empty_pg) is None
    assert migrate.upgrade("registration", empty_pg) == "upgraded to head"
    assert migrate.current(migrate.KERNEL, empty_pg) is not None
    assert migrate.schema_diff(empty_pg, "registration") == []
    with empty_pg.transaction() as conn:   # the events are still there
        assert conn.execute(text("SELECT count(*) FROM events")).scalar_one() == 1
