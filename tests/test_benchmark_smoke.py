"""The throughput benchmark runs end to end (``--quick``); no speed is asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "edifact_throughput.py"


def _run_quick(tmp_path: Path, report: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """The benchmark with --quick and ``options``, its files and JSON report in ``tmp_path``."""
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", *options, "--dir", str(tmp_path), "--json", str(report)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done


def test_quick_benchmark_prints_the_three_rows(tmp_path):
    report = tmp_path / "bench.json"
    done = _run_quick(tmp_path, report)
    out = done.stdout
    for row in ("(a) full pipeline", "(b) pydifact Parser alone", "(c) read-and-count floor"):
        assert row in out
    assert "(a)/(b)" in out and "(a)/(c)" in out
    result = json.loads(report.read_text())
    rows = result["rows"]
    assert len(result["pace_seconds"]) == 2 and all(seconds > 0 for seconds in result["pace_seconds"])
    assert "machine pace (5 M-step Python loop, best of 3): " in out
    pipeline = [row for row in rows if row["measurement"].startswith("(a)")]
    assert pipeline and all(row["detail"]["declarations"] == row["detail"]["messages"] > 0 for row in pipeline)
    assert all(row["peak_rss_mib"] > 0 and row["mb_per_s"] > 0 for row in rows)


def test_quick_paired_rounds_report_each_ratio_and_their_median(tmp_path):
    report = tmp_path / "paired.json"
    done = _run_quick(tmp_path, report, "--paired", "3")
    result = json.loads(report.read_text())
    rounds = result["rounds"]
    assert len(rounds) == 3
    for number, entry in enumerate(rounds, 1):
        assert entry["ratio"] == entry["pydifact_seconds"] / entry["pipeline_seconds"]
        assert f"round {number}: " in done.stdout
    assert result["median_ratio"] == sorted(entry["ratio"] for entry in rounds)[1]
    assert f"(a)/(b) median {result['median_ratio']:.2f}x" in done.stdout
    assert len(result["pace_seconds"]) == 2 and "machine pace" in done.stdout
