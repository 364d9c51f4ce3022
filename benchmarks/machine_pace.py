"""How fast this machine runs Python right now: a yardstick printed beside every benchmark.

The machine's speed swings two- to threefold within an hour (other tenants on
the same host): the same pipeline on the same file takes 0.37 s or 0.6 s. A
benchmark's MB/s means little without knowing which phase it ran in, so each
benchmark times this fixed loop (5 million additions, best of three) before
and after it runs and prints both. docs/performance.md compares numbers taken
at a similar pace.
"""

from __future__ import annotations

import time

STEPS = 5_000_000


def reference_loop_seconds(rounds: int = 3) -> float:
    """Best of ``rounds`` timings of ``STEPS`` additions in a Python loop."""
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        total = 0
        for step in range(STEPS):
            total += step
        best = min(best, time.perf_counter() - started)
    return best


def describe(before: float, after: float) -> str:
    return f"machine pace (5 M-step Python loop, best of 3): {before:.3f} s before, {after:.3f} s after"
