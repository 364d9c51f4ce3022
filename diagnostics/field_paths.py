"""Domain field paths (``lines[2].hs_code``) and where each came from in a file.

Every channel's mapper records, per path, where it read the value (in the
channel's own compact form); errors that only know a path (pydantic's, a
rule's, the portal's pointer) are placed through it.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from typing import TypeVar

from pydantic import ValidationError

S = TypeVar("S")


def parent_path(path: str) -> str:
    """``lines[2].hs_code`` → ``lines[2]`` → ``lines`` → ``""``."""
    if path.endswith("]"):
        return path[: path.rindex("[")]
    return path.rpartition(".")[0]


def path_from_loc(loc: tuple[int | str, ...]) -> str:
    """pydantic's ``('lines', 0, 'hs_code')`` → ``lines[0].hs_code``."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def nearest_source(sources: Mapping[str, S], path: str | None) -> S | None:
    """The source of ``path``, or of its nearest recorded parent, or None."""
    while path:
        if path in sources:
            return sources[path]
        path = parent_path(path)
    return None


def covered(path: str, reported: Collection[str]) -> bool:
    """Whether ``path`` or one of its parents is in ``reported``."""
    while path:
        if path in reported:
            return True
        path = parent_path(path)
    return False


_NESTED_LINE = re.compile(r"^invoices\[(\d+)\]\.lines\[(\d+)\]")
_FLAT_LINE = re.compile(r"^lines\[(\d+)\]")


def line_starts(counts: Sequence[int]) -> list[int]:
    """Where each invoice's lines start in the declaration's ``lines``, from the invoices' line counts."""
    starts, total = [], 0
    for count in counts:
        starts.append(total)
        total += count
    return starts


def flat_line_path(path: str, starts: Sequence[int]) -> str:
    """A line's path under its invoice as its path in the declaration's ``lines``:
    ``invoices[1].lines[0].hs_code`` → ``lines[3].hs_code`` (invoice 1's lines start at 3)."""
    match = _NESTED_LINE.match(path)
    if match is None or int(match.group(1)) >= len(starts):
        return path
    return f"lines[{starts[int(match.group(1))] + int(match.group(2))}]{path[match.end() :]}"


def nested_line_path(path: str, starts: Sequence[int]) -> str:
    """The inverse of ``flat_line_path``: ``lines[3].hs_code`` → ``invoices[1].lines[0].hs_code``."""
    match = _FLAT_LINE.match(path)
    if match is None or not starts:
        return path
    index = int(match.group(1))
    invoice = bisect.bisect_right(starts, index) - 1
    return f"invoices[{invoice}].lines[{index - starts[invoice]}]{path[match.end() :]}"


def pydantic_complaints(
    error: ValidationError, reported: Collection[str], translate: Callable[[str], str] = str
) -> Iterator[tuple[str, bool, str]]:
    """pydantic's complaints about paths not ``covered`` by ``reported`` (a mapper
    has already said something there), each as (path, whether the field is
    missing, what to say after the field's name); ``translate`` turns pydantic's
    path into the mapper's (``flat_line_path``)."""
    for item in error.errors(include_url=False):
        path = translate(path_from_loc(item["loc"]))
        if covered(path, reported):
            continue
        missing = item["type"] == "missing"
        yield path, missing, "is missing" if missing else f"{item['msg']} (got {item.get('input')!r})"
