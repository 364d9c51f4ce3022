"""CI gate: every real-world sample through ``carm-edi check --json``.

Fails on a crash (an exit code other than 0 accepted / 1 rejected, or output on
stderr with a traceback) or on an answer that is not the promised JSON object.
"""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

CLI = Path(sys.executable).with_name("carm-edi")


def problem_with(path: Path) -> str | None:
    try:
        result = subprocess.run([str(CLI), "check", "--json", str(path)], capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return "timed out after 120 s"
    if result.returncode not in (0, 1) or "Traceback" in result.stderr:
        return f"exit {result.returncode}: {result.stderr.strip()[-500:]}"
    try:
        answer = json.loads(result.stdout)
    except json.JSONDecodeError as error:
        return f"not JSON ({error}): {result.stdout[:200]!r}"
    if not isinstance(answer.get("accepted"), bool) or not isinstance(answer.get("format"), str):
        return "missing 'accepted' or 'format'"
    if answer["accepted"] != (result.returncode == 0):
        return f"exit {result.returncode} disagrees with accepted={answer['accepted']}"
    errors = list(answer.get("errors", []))
    for document in answer.get("documents", []):
        if "status" not in document:
            return "a document without 'status'"
        errors += document.get("errors", [])
    for interchange in answer.get("interchanges", []):
        errors += interchange.get("errors", [])
    if not answer["accepted"] and not errors:
        return "rejected without any error"
    for error in errors:
        if not {"code", "message", "location"} <= error.keys():
            return f"an error without code/message/location: {error}"
    return None


def main(folder: str) -> int:
    root = Path(folder)
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.name != "MANIFEST.md")
    if not files:
        print(f"no samples found under {root}", file=sys.stderr)
        return 1
    with ThreadPoolExecutor(max_workers=2) as pool:
        problems = list(pool.map(problem_with, files))
    failures = [(path, problem) for path, problem in zip(files, problems, strict=True) if problem]
    for path, problem in failures:
        print(f"SAMPLE FAILED {path.relative_to(root)}: {problem}")
    print(f"samples: {len(files) - len(failures)} of {len(files)} answered with a specific JSON verdict")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1] if len(sys.argv) > 1 else "../shared/samples"))
