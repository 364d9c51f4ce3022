"""The throughput benchmark runs end to end (``--quick``); no speed is asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "edifact_throughput.py"


def test_quick_benchmark_prints_the_three_rows(tmp_path):
    report = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--dir", str(tmp_path), "--json", str(report)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for row in ("(a) full pipeline", "(b) pydifact Parser alone", "(c) read-and-count floor"):
        assert row in out
    assert "(a)/(b)" in out and "(a)/(c)" in out
    rows = json.loads(report.read_text())
    pipeline = [row for row in rows if row["measurement"].startswith("(a)")]
    assert pipeline and all(row["detail"]["declarations"] == row["detail"]["messages"] > 0 for row in pipeline)
    assert all(row["peak_rss_mib"] > 0 and row["mb_per_s"] > 0 for row in rows)
