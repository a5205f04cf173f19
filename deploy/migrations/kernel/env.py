"""Alembic environment of the kernel's tables (event store, inbox, command replies, checkpoints,
relay lease), applied to every event-sourced service's schema by `python -m deploy.migrate`."""
from deploy.migrate import run_environment

run_environment("kernel")
