"""One way to open a database for every store of the project.

File-backed SQLite (the embedded default) runs in WAL mode with
``synchronous=NORMAL``: a commit no longer waits for an fsync of the whole
database, readers do not block the writer, and a killed process loses nothing
it committed (only a power cut can lose the last transactions). Writers wait
up to 30 s for the lock instead of failing at once. PostgreSQL and others get
pre-ping so a restarted server does not break the pool.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool


def create_database_engine(database_url: str) -> Engine:
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    options: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 30}}
    if url.database in (None, "", ":memory:"):
        return create_engine(url, poolclass=StaticPool, **options)
    Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, **options)
    event.listen(engine, "connect", _tune_sqlite)
    return engine


def _tune_sqlite(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
