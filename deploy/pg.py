"""PostgreSQL housekeeping for the demo, the benchmarks and the tools: a database of their own,
and the services' schemas dropped for a fresh start."""
from __future__ import annotations

from typing import Iterable


def ensure_database(base_url: str, name: str) -> str:
    """Create database `name` on the server at `base_url` if missing; return its URL."""
    from sqlalchemy import create_engine, text

    admin = create_engine(base_url.rstrip("/") + "/postgres", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": name}).first():
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return base_url.rstrip("/") + f"/{name}"


def drop_schemas(url: str, schemas: Iterable[str]) -> None:
    """Drop each service schema (and everything in it) if it exists."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            for schema in schemas:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        engine.dispose()


def drop_database(base_url: str, name: str) -> None:
    """Drop database `name` (closing what is still connected to it) if it exists."""
    from sqlalchemy import create_engine, text

    admin = create_engine(base_url.rstrip("/") + "/postgres", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
