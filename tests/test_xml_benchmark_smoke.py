"""The XML throughput benchmark runs end to end (``--quick``); no speed is asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "xml_throughput.py"


def test_quick_xml_benchmark(tmp_path: Path) -> None:
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
    labels = (
        "(a) parse + XSD + domain model",
        "(b) (a) + business rules",
        "(c) pull parser alone",
        "(d) parse + XSD alone",
    )
    for label in labels:
        assert label in done.stdout
    result = json.loads(report.read_text())
    rows = result["rows"]
    assert [row["measurement"] for row in rows] == list(labels)
    assert len(result["pace_seconds"]) == 2 and all(seconds > 0 for seconds in result["pace_seconds"])
    assert "machine pace (5 M-step Python loop, best of 3): " in done.stdout
    for row in rows:
        assert row["mb_per_s"] > 0 and row["peak_rss_mib"] > 0
        assert row["detail"]["declarations"] > 0 and row["detail"]["errors"] == 0
    assert rows[0]["detail"]["lines"] > rows[0]["detail"]["declarations"]
    pipeline = rows[0]["detail"]
    assert 0 < pipeline["pydantic_seconds"] < pipeline["mapping_seconds"] < pipeline["seconds"]
