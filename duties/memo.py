"""A bounded memo for the reference tables' look-ups (``Tariff.row``, ``Charges.surtax_order``).

A file's lines name a few HS codes, treatments, origins and release dates, so each look-up's
answers are remembered; a run over many dates must not make the memory grow, so a full memo
starts again rather than grow (``LIMIT`` entries).

A ``dict`` whose ``__missing__`` computes the answer: a remembered key costs one subscript,
no Python call, as a plain dict's look-up does (every line asks).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

LIMIT = 65_536
"""Entries a memo holds before it starts again."""


class BoundedMemo(dict[K, V]):
    """``memo[key]``: the remembered answer, else ``compute(key)``, remembered (the memo
    cleared first when it holds ``LIMIT`` entries)."""

    __slots__ = ("_compute",)

    def __init__(self, compute: Callable[[K], V]) -> None:
        super().__init__()
        self._compute = compute

    def __missing__(self, key: K) -> V:
        if len(self) >= LIMIT:
            self.clear()
        value = self[key] = self._compute(key)
        return value
