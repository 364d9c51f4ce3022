"""A set of keys whose memory stays bounded, for duplicate checks over a whole interchange or file.

The envelope check remembers every message reference of the interchange it reads (UNH 0062 must
be unique in it) and every interchange of the file. In memory that is about 100 bytes a key: a
single interchange of a million messages would hold 100 MB. ``SeenKeys`` keeps up to ``limit``
keys in a set; past that it moves them to a private temporary SQLite database on disk (deleted
when closed) and asks it instead, so a file of any length costs the same memory. The database is
never committed: it only outlives nothing.
"""

from __future__ import annotations

import sqlite3

MEMORY_LIMIT = 50_000
"""Keys kept in memory before they move to disk (about 5 MB)."""


class SeenKeys:
    """``add(key)`` remembers a key and says whether it was new."""

    __slots__ = ("_disk", "_limit", "_memory")

    def __init__(self, limit: int | None = None) -> None:
        self._memory: set[str] = set()
        self._limit = MEMORY_LIMIT if limit is None else limit
        self._disk: sqlite3.Connection | None = None

    def add(self, key: str) -> bool:
        """Remember ``key``; False when it was already remembered."""
        disk = self._disk
        if disk is not None:
            return disk.execute("INSERT OR IGNORE INTO seen VALUES (?)", (key,)).rowcount == 1
        if key in self._memory:
            return False
        self._memory.add(key)
        if len(self._memory) > self._limit:
            self._spill()
        return True

    @property
    def on_disk(self) -> bool:
        return self._disk is not None

    def _spill(self) -> None:
        # "": a private temporary database on disk; its page cache is bounded (2 MiB) and it keeps no journal
        disk = sqlite3.connect("", check_same_thread=False)
        disk.execute("PRAGMA journal_mode=OFF")
        disk.execute("PRAGMA cache_size=-2048")
        disk.execute("CREATE TABLE seen (key TEXT PRIMARY KEY) WITHOUT ROWID")
        disk.executemany("INSERT INTO seen VALUES (?)", ((key,) for key in self._memory))
        self._memory = set()
        self._disk = disk

    def close(self) -> None:
        """Forget every key (the temporary database is deleted)."""
        if self._disk is not None:
            self._disk.close()
            self._disk = None
        self._memory = set()
