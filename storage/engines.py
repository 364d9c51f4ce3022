"""One way to open a database for every store of the project.

File-backed SQLite (the embedded default) runs in WAL mode with
``synchronous=NORMAL``: a commit no longer waits for an fsync of the whole
database, readers do not block the writer, and a killed process loses nothing
it committed (only a power cut can lose the last transactions). Writers wait
up to 30 s for the lock instead of failing at once. PostgreSQL and others get
pre-ping so a restarted server does not break the pool.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

SQLITE_LOCK_WAIT = 30.0
"""Seconds a SQLite connection waits for a lock another connection holds."""


def create_database_engine(database_url: str) -> Engine:
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    options: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": SQLITE_LOCK_WAIT}}
    if url.database in (None, "", ":memory:"):
        return create_engine(url, poolclass=StaticPool, **options)
    Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, **options)
    event.listen(engine, "connect", _tune_sqlite)
    return engine


def _tune_sqlite(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    try:
        _switch_to_wal(cursor)
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def _switch_to_wal(cursor: sqlite3.Cursor) -> None:
    """Put the database file in WAL mode (it stays so for every later connection).

    Connections opening a new file together (workers starting at once on a new ledger) each
    ask for the switch; SQLite answers the ones that lose the race "database is locked" at
    once, without waiting out the busy timeout. So the switch is asked again, briefly spaced,
    until it has been made (by this connection or another) or ``SQLITE_LOCK_WAIT`` has passed.
    """
    deadline = time.monotonic() + SQLITE_LOCK_WAIT
    pause = 0.001
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.05)
