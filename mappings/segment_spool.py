"""A disk-backed list of outbound segments, so that an acknowledgement whose
header depends on the end of the input (CONTRL's UCI) can be built while the
input streams, without holding one entry per message in memory."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from typing import IO

from pydifact.segments import Segment as OutSegment

from mappings.edifact_writer import segment


class SegmentSpool:
    def __init__(self, memory_limit: int = 1 << 20) -> None:
        # the spool owns the file until close(): no with block can span its life
        self._file: IO[str] = tempfile.SpooledTemporaryFile(  # noqa: SIM115  # closed by close()
            max_size=memory_limit, mode="w+", encoding="utf-8"
        )
        self.count = 0

    def append(self, item: OutSegment, mark: str = "") -> None:
        """Keep a segment; ``mark`` tags it so a reader can leave groups out."""
        self._file.write(json.dumps([mark, item.tag, *item.elements]) + "\n")
        self.count += 1

    def __iter__(self) -> Iterator[OutSegment]:
        return self.read()

    def read(self, skip_mark: str | None = None) -> Iterator[OutSegment]:
        """The segments in order, without those marked ``skip_mark``."""
        self._file.seek(0)
        for row in self._file:
            mark, tag, *elements = json.loads(row)
            if skip_mark is None or mark != skip_mark:
                yield segment(tag, *elements)

    def close(self) -> None:
        self._file.close()
