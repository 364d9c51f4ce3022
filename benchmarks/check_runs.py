"""``carm-edi check --json FILE`` run as a user runs it, timed from outside: the product's entry point.

Each run is a fresh interpreter (``python -m gateway.cli check --json FILE``, from the repository
root, stdout to a file), so its time includes the start-up (imports, reference data, the XSD):
``startup_seconds`` measures that on a one-declaration file, and benchmarks subtract it. Peak RSS
is the child's own (``os.wait4``). The JSON report is read back so that a benchmark can assert what
the check said (every declaration accepted, or exactly the faulty ones refused).
"""

from __future__ import annotations

import collections
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class CheckRun:
    seconds: float  # wall time of the whole process
    peak_rss_mib: float
    report: dict

    @property
    def statuses(self) -> collections.Counter[str]:
        return collections.Counter(document["status"] for document in self.report["documents"])

    @property
    def codes(self) -> collections.Counter[str]:
        return collections.Counter(
            error["code"] for document in self.report["documents"] for error in document["errors"]
        )


def run_check(path: Path, env: dict[str, str] | None = None) -> CheckRun:
    """``carm-edi check --json path`` in a fresh process."""
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        child = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "check", "--json", str(path)],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.PIPE,
            env={**os.environ, **(env or {})},
        )
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        stderr = child.stderr.read().decode() if child.stderr else ""
        out.seek(0)
        text = out.read().decode()
    if not text.strip():
        raise SystemExit(f"carm-edi check {path} printed nothing (exit {child.returncode}): {stderr[-2000:]}")
    return CheckRun(seconds, usage.ru_maxrss / 1024, json.loads(text))


def startup_seconds(path: Path, runs: int = 3) -> float:
    """The best of ``runs`` checks of a one-declaration file: the process's fixed cost."""
    return min(run_check(path).seconds for _ in range(runs))


def assert_all_valid(run: CheckRun, declarations: int) -> None:
    """Every one of the file's ``declarations`` accepted, with no finding at all."""
    report = run.report
    problems = [
        f"{document['message_ref'] or document['reference']}: {[error['code'] for error in document['errors']]}"
        for document in report["documents"]
        if document["status"] != "accepted" or document["errors"]
    ]
    assert report["accepted"] and not report["errors"] and not problems, (
        f"the generated file is not all valid: {problems[:5]} {report['errors'][:3]}"
    )
    assert run.statuses["accepted"] == declarations, (run.statuses, declarations)


def assert_faulty(run: CheckRun, declarations: int, faulty_every: int) -> None:
    """Exactly every ``faulty_every``-th declaration refused, for its transaction number only."""
    faulty = declarations // faulty_every
    expected = collections.Counter(accepted=declarations - faulty, rejected=faulty)
    assert run.statuses == +expected, run.statuses  # (+: without a zero count)
    assert run.codes == +collections.Counter({"ID-TXN": faulty}), run.codes


# The tables both throughput benchmarks print ----------------------------------------------------


def row(label: str, size: int, declarations: int, seconds: float, **detail: object) -> dict:
    """One table row; no speed when the time after start-up is not positive (a file so small that
    the start-up's noise exceeds the work: use a larger one)."""
    positive = seconds > 0
    return {
        "measurement": label,
        "file_mb": round(size / 1e6, 2),
        "seconds": round(seconds, 3),
        "mb_per_s": round(size / 1e6 / seconds, 2) if positive else None,
        "decl_per_s": round(declarations / seconds) if positive else None,
        **detail,
    }


def times(ratio: float | None) -> str:
    return f"{ratio:.2f}x" if ratio is not None else "n/a (start-up noise exceeds the work)"


def median_ratio(results: list[dict]) -> float | None:
    """The median of the rounds' ratios (a round too short to measure has none)."""
    ratios = [entry["ratio"] for entry in results if entry["ratio"] is not None]
    return statistics.median(ratios) if ratios else None


@dataclass(frozen=True)
class Summary:
    """What a throughput benchmark measured, printed as one table and saved as JSON."""

    file: Path
    declarations: int
    startup_seconds: float
    rounds: list[dict]  # each with its "ratio"
    rows: list[dict]
    pace_seconds: tuple[float, float]  # the machine's pace loop before and after

    def print(self, ratio_label: str, describe_pace: Callable[[float, float], str]) -> None:
        size = self.file.stat().st_size
        print(
            f"\n{self.declarations} declarations, {size / 1e6:.1f} MB; start-up (one-declaration file) "
            f"{self.startup_seconds:.2f} s, subtracted from every check"
        )
        print(f"{'measurement':38} {'MB':>6} {'seconds':>8} {'MB/s':>7} {'decl/s':>8} {'peak RSS MiB':>13}")
        for entry in self.rows:
            print(
                f"{entry['measurement']:38} {entry['file_mb']:>6} {entry['seconds']:>8} {entry['mb_per_s']!s:>7} "
                f"{entry['decl_per_s']!s:>8} {entry.get('peak_rss_mib', ''):>13}"
            )
        shown = ", ".join(times(entry["ratio"]) for entry in self.rounds)
        print(
            f"{ratio_label}: median {times(median_ratio(self.rounds))} over {len(self.rounds)} "
            f"alternated round(s) ({shown})"
        )
        print(describe_pace(*self.pace_seconds))
        load = os.getloadavg()
        print(
            f"load average (1/5/15 min) at the end: {load[0]:.2f}/{load[1]:.2f}/{load[2]:.2f} on {os.cpu_count()} CPUs"
        )

    def save(self, path: Path) -> None:
        body = {
            "file": str(self.file),
            "declarations": self.declarations,
            "startup_seconds": self.startup_seconds,
            "rounds": self.rounds,
            "median_ratio": median_ratio(self.rounds),
            "rows": self.rows,
            "pace_seconds": list(self.pace_seconds),
        }
        path.write_text(json.dumps(body, indent=2))
