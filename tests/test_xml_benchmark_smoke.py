"""The CAD-IN throughput benchmark runs end to end (``--quick``) on the product's entry point,
and its generated files are what users send: no speed is asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "xml_throughput.py"


def test_quick_xml_benchmark_checks_an_all_valid_file(tmp_path: Path) -> None:
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
    declarations = Path(result["file"]).read_text(encoding="utf-8").count("<Declaration>")
    assert result["declarations"] == declarations > 100
    checked = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "check", "--json", result["file"]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    documents = json.loads(checked.stdout)["documents"]
    assert len(documents) == declarations
    assert all(document["status"] == "accepted" and not document["errors"] for document in documents)
    assert len({document["reference"] for document in documents}) == declarations
    labels = [row["measurement"] for row in result["rows"]]
    assert labels == ["carm-edi check --json, valid", "carm-edi check --json, 1 % faulty", "parse + XSD alone"]
    for row in result["rows"]:  # a check's time after start-up may drown in the start-up's noise: no speed then
        assert (row["mb_per_s"] is None) == (row["seconds"] <= 0)
    assert result["rows"][2]["mb_per_s"] > 0
    (entry,) = result["rounds"]
    if entry["check_seconds"] > 0:
        assert entry["ratio"] == entry["read_seconds"] / entry["check_seconds"] == result["median_ratio"]
    else:
        assert entry["ratio"] is None and result["median_ratio"] is None
    assert "machine pace" in done.stdout
