"""``carm-edi check --json`` on a CUSDEC interchange users send, against pydifact's bare ``Parser``.

Run from the repository root:

    .venv/bin/python benchmarks/edifact_throughput.py               # 10 MB, 3 alternated rounds
    .venv/bin/python benchmarks/edifact_throughput.py --size 25 --rounds 5
    .venv/bin/python benchmarks/edifact_throughput.py --quick       # 0.1 MB, 1 round: a smoke run
    .venv/bin/python benchmarks/edifact_throughput.py --dir /tmp/b --json out.json

The file (``benchmarks.user_inputs.cusdec_file``): the messages of a valid multi-message fixture
repeated until the size is reached, with fresh message references and transaction numbers, so
that every declaration passes every rule; the benchmark asserts that ``carm-edi check`` accepts
every one with no finding. A second file has every 100th declaration faulty (1 %).

Measured, each in a fresh process:

* ``check``: ``python -m gateway.cli check --json FILE`` as a user runs it (reading, envelope,
  directory, mapping, business rules, the spool, the report written to stdout), minus its
  start-up: the best of 3 checks of a one-declaration file;
* ``pydifact``: ``pydifact.parser.Parser().parse(text)`` over the same file decoded to one
  string (decoding not timed);
* the two alternate ``--rounds`` times; the figure is the median of the rounds' ratios
  (pydifact's seconds / the check's seconds after start-up). Then, once each: the check of the
  1 % faulty file, the check with the C tokenizer switched off (``CARM_EDIFACT_ACCELERATOR=0``:
  the pure-Python reader), and ``read_edifact`` alone with and without the C tokenizer.

MB is 10**6 bytes of file. Timings on a shared machine drift: the machine's pace
(``benchmarks/machine_pace.py``) is printed before and after; compare ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.check_runs import (  # noqa: E402
    Summary,
    assert_all_valid,
    assert_faulty,
    row,
    run_check,
    startup_seconds,
    times,
)
from benchmarks.machine_pace import describe as describe_pace  # noqa: E402 (after the path is set)
from benchmarks.machine_pace import reference_loop_seconds  # noqa: E402
from benchmarks.user_inputs import cusdec_file  # noqa: E402

FAULTY_EVERY = 100
PURE_PYTHON = {"CARM_EDIFACT_ACCELERATOR": "0"}


# Measurements in a child process (no gateway code imported by the parent's timing) -------------


def _measure_pydifact(path: Path) -> dict:
    import warnings

    from pydifact.parser import Parser

    text = path.read_bytes().decode("latin-1")  # UNOC; not timed
    segments = messages = 0
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for segment in Parser().parse(text):
            segments += 1
            messages += segment.tag == "UNH"
    return {"seconds": time.perf_counter() - started, "segments": segments, "messages": messages}


def _measure_reader(path: Path) -> dict:
    from parsers.edifact import reader
    from parsers.edifact.model import MessageRead

    messages = 0
    started = time.perf_counter()
    with open(path, "rb") as stream:
        for event in reader.read_edifact(stream):
            messages += isinstance(event, MessageRead)
    return {
        "seconds": time.perf_counter() - started,
        "messages": messages,
        "accelerated": reader._tokenize is not None,
    }


CHILDREN = {"pydifact": _measure_pydifact, "reader": _measure_reader}


def run_child(kind: str, path: Path, env: dict[str, str] | None = None) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--child", kind, str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **(env or {})},
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


# The run ---------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=float, default=10, help="file size in MB (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="alternated check / pydifact rounds")
    parser.add_argument("--quick", action="store_true", help="0.1 MB, one round: a smoke run")
    parser.add_argument("--dir", type=Path, default=ROOT / ".bench")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(CHILDREN[args.child[0]](Path(args.child[1]))))
        return 0
    size_mb, rounds = (0.1, 1) if args.quick else (args.size, args.rounds)
    valid = cusdec_file(args.dir, int(size_mb * 1e6))
    faulty = cusdec_file(args.dir, int(size_mb * 1e6), faulty_every=FAULTY_EVERY)
    single = cusdec_file(args.dir, 1)  # one declaration: the start-up
    size = valid.stat().st_size
    pace_before = reference_loop_seconds()

    startup = startup_seconds(single)
    results = []
    for number in range(1, rounds + 1):
        check = run_check(valid)
        declarations = sum(check.statuses.values())
        assert_all_valid(check, declarations)
        pydifact = run_child("pydifact", valid)
        assert pydifact["messages"] == declarations, (pydifact["messages"], declarations)
        seconds = check.seconds - startup
        results.append(
            {
                "check_seconds": seconds,
                "check_peak_rss_mib": check.peak_rss_mib,
                "pydifact_seconds": pydifact["seconds"],
                "ratio": pydifact["seconds"] / seconds if seconds > 0 else None,
            }
        )
        print(
            f"round {number}: check {seconds:.2f} s after start-up, pydifact {pydifact['seconds']:.2f} s, "
            f"ratio {times(results[-1]['ratio'])}",
            flush=True,
        )

    faulty_run = run_check(faulty)
    faulty_declarations = sum(faulty_run.statuses.values())
    assert_faulty(faulty_run, faulty_declarations, FAULTY_EVERY)
    python_run = run_check(valid, PURE_PYTHON)
    assert_all_valid(python_run, declarations)
    reader = run_child("reader", valid)
    reader_python = run_child("reader", valid, PURE_PYTHON)
    pace_after = reference_loop_seconds()

    check_seconds = statistics.median(entry["check_seconds"] for entry in results)
    rows = [
        row(
            "carm-edi check --json, valid",
            size,
            declarations,
            check_seconds,
            peak_rss_mib=round(max(entry["check_peak_rss_mib"] for entry in results), 1),
        ),
        row(
            "carm-edi check --json, 1 % faulty",
            faulty.stat().st_size,
            faulty_declarations,
            faulty_run.seconds - startup,
            peak_rss_mib=round(faulty_run.peak_rss_mib, 1),
        ),
        row(
            "carm-edi check --json, pure Python",
            size,
            declarations,
            python_run.seconds - startup,
            peak_rss_mib=round(python_run.peak_rss_mib, 1),
        ),
        row(
            "pydifact Parser alone",
            size,
            declarations,
            statistics.median(entry["pydifact_seconds"] for entry in results),
        ),
        row(
            "read_edifact alone, C tokenizer", size, declarations, reader["seconds"], accelerated=reader["accelerated"]
        ),
        row(
            "read_edifact alone, pure Python",
            size,
            declarations,
            reader_python["seconds"],
            accelerated=reader_python["accelerated"],
        ),
    ]
    summary = Summary(valid, declarations, startup, results, rows, (pace_before, pace_after))
    summary.print("check / pydifact", describe_pace)
    if args.json:
        summary.save(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
