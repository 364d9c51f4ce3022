"""The local cache of fetched reference tables: ``<data_dir>/reference/``.

Each table is a CSV in the gateway's own shape next to a JSON file saying where it came
from, its version and when it was fetched (``tariff.csv`` + ``tariff.json``,
``exchange_rates.csv`` + ``exchange_rates.json``). A table is written to a ``.partial``
file, loaded back with the gateway's own reader (so a cache that does not load is never
installed), then renamed into place. Without a cached table the shipped excerpt
(``fixtures/reference/``) is used.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TextIO

from duties.tariff import Tariff
from reference_sources.http import SourceError
from validators.reference_data import DEFAULT_DIRECTORY, ReferenceData

TABLES = ("tariff", "exchange_rates")


@dataclass(frozen=True)
class CacheInfo:
    """Where a cached table came from: the URL or file, its version, when it was fetched, its
    rows, and for the rates the latest effective date they hold (for a tariff schedule, the date
    its rates apply from); for a schedule also what was counted while reading it and its warnings."""

    table: str
    source: str
    version: str
    fetched_at: str  # ISO 8601, UTC
    rows: int
    rate_date: str | None = None
    counts: dict[str, int] | None = None
    warnings: list[str] | None = None


class ReferenceCache:
    """The cached tables under ``root`` (``settings.data_dir / "reference"``)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def csv_path(self, table: str) -> Path:
        return self.root / f"{table}.csv"

    def partial_path(self, table: str) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        return self.root / f"{table}.csv.partial"

    def info(self, table: str) -> CacheInfo | None:
        """The metadata of a cached table; None when it is not cached."""
        meta = self.root / f"{table}.json"
        if not (meta.is_file() and self.csv_path(table).is_file()):
            return None
        return CacheInfo(**json.loads(meta.read_text(encoding="utf-8")))

    def install(self, info: CacheInfo) -> None:
        """Move the checked ``.partial`` file into place, then write its metadata."""
        os.replace(self.partial_path(info.table), self.csv_path(info.table))
        meta = self.root / f"{info.table}.json"
        partial_meta = meta.with_suffix(".json.partial")
        partial_meta.write_text(json.dumps(asdict(info), indent=2) + "\n", encoding="utf-8")
        os.replace(partial_meta, meta)

    @contextmanager
    def writing(self, table: str) -> Iterator[TextIO]:
        """The ``.partial`` file of ``table``, open for writing; when the block ends it is
        checked (``check``), and whatever fails, the block or the check, discards it."""
        try:
            with self.partial_path(table).open("w", encoding="utf-8", newline="") as out:
                yield out
            self.check(table)
        except BaseException:
            self.discard(table)
            raise

    def check(self, table: str) -> str | None:
        """Load the ``.partial`` file with the gateway's own reader (a table it refuses is not
        installed); the version the table names."""
        partial = self.partial_path(table)
        try:
            if table == "tariff":
                return Tariff.load(partial).version
            return ReferenceData.load(DEFAULT_DIRECTORY, exchange_rates_path=partial).versions["exchange_rates.csv"]
        except ValueError as error:
            raise SourceError(f"the {table} table does not load: {error}") from error

    def copy_in(self, table: str, path: Path) -> int:
        """Copy a table file in our CSV shape to the ``.partial`` file; its data rows."""
        rows = 0
        try:
            with path.open(encoding="utf-8") as source, self.partial_path(table).open("w", encoding="utf-8") as out:
                for line in source:
                    out.write(line)
                    rows += bool(line.strip()) and not line.startswith("#")
        except (OSError, UnicodeDecodeError) as error:
            raise SourceError(f"{path}: cannot read it ({error})") from error
        return rows - 1

    def discard(self, table: str) -> None:
        self.partial_path(table).unlink(missing_ok=True)

    def load_reference(self) -> ReferenceData:
        """The reference tables with the cached tariff and rates where present, the shipped ones otherwise."""
        cached = {table: self.csv_path(table) for table in TABLES if self.info(table) is not None}
        return ReferenceData.load(
            DEFAULT_DIRECTORY, tariff_path=cached.get("tariff"), exchange_rates_path=cached.get("exchange_rates")
        )


def now_utc() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
