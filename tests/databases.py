"""Throw-away databases for tests: SQLite files, or PostgreSQL databases
created on the machine's server (CARM_TEST_POSTGRES_URL, default the local
server on 127.0.0.1 with trust auth) and dropped afterwards."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ADMIN_URL = os.environ.get("CARM_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
BACKENDS = ("sqlite", "postgresql")


@contextmanager
def database(backend: str, folder: Path, name: str) -> Iterator[str]:
    """A fresh, empty database URL on ``backend``."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / (name + '.sqlite')}"
        return
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    database_name = f"carm_test_{name}_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{database_name}"'))
    try:
        yield make_url(ADMIN_URL).set(database=database_name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{database_name}" WITH (FORCE)'))
        admin.dispose()
