"""The mutation fuzzer (benchmarks/fuzz_check.py) on a short budget: CI's share
of the million-input run recorded in docs/reliability.md. Every fixture and
every sample, mutated; no input may raise out of the check path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = Path(os.environ.get("CARM_SAMPLES_DIR", ROOT.parent / "shared" / "samples"))


def test_a_short_fuzz_run_finds_no_crash(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "fuzz_check.py"), "--inputs", "4000", "--seconds", "120",
         "--samples", str(SAMPLES), "--crashes", str(tmp_path), "--seed", "ci"],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    summary = json.loads(done.stdout)
    assert summary["files"] > 250, "the fixtures and the samples are all mutated"
    assert summary["inputs"] >= 1000
    assert summary["crashes"] == 0, json.dumps(summary["first_crashes"][:3], indent=2, ensure_ascii=False)
    assert done.returncode == 0
