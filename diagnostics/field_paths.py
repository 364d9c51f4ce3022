"""Domain field paths (``lines[2].hs_code``) and where each came from in a file.

Every channel's mapper records, per path, where it read the value (in the
channel's own compact form); errors that only know a path (pydantic's, a
rule's, the portal's pointer) are placed through it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
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


def pydantic_complaints(error: ValidationError, reported: Collection[str]) -> Iterator[tuple[str, bool, str]]:
    """pydantic's complaints about paths not ``covered`` by ``reported`` (a mapper
    has already said something there), each as (path, whether the field is
    missing, what to say after the field's name)."""
    for item in error.errors(include_url=False):
        path = path_from_loc(item["loc"])
        if covered(path, reported):
            continue
        missing = item["type"] == "missing"
        yield path, missing, "is missing" if missing else f"{item['msg']} (got {item.get('input')!r})"
