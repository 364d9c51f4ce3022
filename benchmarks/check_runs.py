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
import subprocess
import sys
import tempfile
import time
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
