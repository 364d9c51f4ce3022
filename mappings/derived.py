"""What a guide's rules compile to (read plans, field tables), made once per guide.

Guides are frozen but not hashable (they hold mappings), so the cache is keyed by
identity; it keeps the guide itself beside what it made, so an identity is never
reused by another object while its entry lives.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class PerObject:
    """``derive(obj, make)``: ``make(obj)`` the first time, the same result after."""

    def __init__(self) -> None:
        self._made: dict[int, tuple[Any, Any]] = {}

    def derive(self, obj: Any, make: Callable[[Any], T]) -> T:
        found = self._made.get(id(obj))
        if found is None or found[0] is not obj:
            found = self._made[id(obj)] = (obj, make(obj))
        result: T = found[1]
        return result
