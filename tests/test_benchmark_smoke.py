"""The CUSDEC throughput benchmark runs end to end (``--quick``) on the product's entry point,
and its generated files are what users send: no speed is asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "edifact_throughput.py"


def test_quick_benchmark_checks_an_all_valid_file_against_pydifact(tmp_path):
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
    result = json.loads(report.read_text())
    generated = Path(result["file"]).read_text(encoding="latin-1")
    messages = generated.count("\nUNH+")
    assert result["declarations"] == messages > 100  # every message of the file checked
    # carm-edi check, run here on its own, accepts every declaration with no finding
    checked = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "check", "--json", result["file"]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    documents = json.loads(checked.stdout)["documents"]
    assert len(documents) == messages
    assert all(document["status"] == "accepted" and not document["errors"] for document in documents)
    # transaction numbers are fresh: no two declarations the same
    assert len({document["reference"] for document in documents}) == messages
    rows = {row["measurement"]: row for row in result["rows"]}
    assert set(rows) == {
        "carm-edi check --json, valid",
        "carm-edi check --json, 1 % faulty",
        "carm-edi check --json, pure Python",
        "pydifact Parser alone",
        "read_edifact alone, C tokenizer",
        "read_edifact alone, pure Python",
    }
    assert rows["read_edifact alone, pure Python"]["accelerated"] is False
    for (
        row
    ) in rows.values():  # a check's time after start-up may drown in the start-up's noise on 0.1 MB: no speed then
        assert (row["mb_per_s"] is None) == (row["seconds"] <= 0)
        assert row["mb_per_s"] is None or row["mb_per_s"] > 0
    assert all(rows[label]["mb_per_s"] > 0 for label in rows if not label.startswith("carm-edi"))
    (entry,) = result["rounds"]
    if entry["check_seconds"] > 0:
        assert entry["ratio"] == entry["pydifact_seconds"] / entry["check_seconds"] == result["median_ratio"]
    else:
        assert entry["ratio"] is None and result["median_ratio"] is None
    assert result["startup_seconds"] > 0 and len(result["pace_seconds"]) == 2
    assert "check / pydifact: median" in done.stdout and "machine pace" in done.stdout
