"""The embedded SQLite stores (ledger, portal) opened by several workers at once.

A new database file is switched to WAL mode by the first connection of each engine. SQLite
answers a connection that loses that race "database is locked" at once, without waiting out the
busy timeout: the switch must be retried, not fail a worker's start (it did, in about 3 % of
starts of six workers on a new ledger).
"""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import text

from storage.engines import create_database_engine

WORKERS = 6
ROUNDS = 200  # one round in ~30 failed before the retry: 200 rounds missed it with a chance of about 0.2 %


def _start_together(url: str) -> tuple[list[str], list[BaseException]]:
    """Each worker's journal mode, and what failed, when ``WORKERS`` open ``url`` at the same moment."""
    modes: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(WORKERS)

    def start() -> None:
        engine = create_database_engine(url)
        try:
            barrier.wait()
            with engine.connect() as connection:
                modes.append(connection.execute(text("PRAGMA journal_mode")).scalar_one())
        except BaseException as error:
            errors.append(error)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=start) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return modes, errors


def test_workers_opening_a_new_sqlite_file_together_all_start_in_wal_mode(tmp_path: Path) -> None:
    for round_ in range(ROUNDS):
        modes, errors = _start_together(f"sqlite:///{tmp_path / f'store-{round_}.sqlite'}")
        assert errors == [], f"round {round_}"
        assert modes == ["wal"] * WORKERS
