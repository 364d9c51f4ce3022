"""``carm-edi check --json`` on a CAD-IN batch file users send, against lxml's parse + XSD alone.

Run from the repository root:

    .venv/bin/python benchmarks/xml_throughput.py                # 25 MB, 3 alternated rounds
    .venv/bin/python benchmarks/xml_throughput.py --size 250 --rounds 1
    .venv/bin/python benchmarks/xml_throughput.py --quick        # 0.3 MB, 1 round: a smoke run
    .venv/bin/python benchmarks/xml_throughput.py --dir /tmp/b --json out.json

The file (``benchmarks.user_inputs.cad_in_file``): the declarations of a valid multi-declaration
fixture repeated until the size is reached, with fresh transaction numbers, so that every
declaration passes every rule; the benchmark asserts that ``carm-edi check`` accepts every one
with no finding. A second file has every 100th declaration faulty (1 %).

Measured, each in a fresh process:

* ``check``: ``python -m gateway.cli check --json FILE`` as a user runs it (parse, XSD, mapping,
  business rules, the spool, the report), minus its start-up: the best of 3 checks of a
  one-declaration file;
* ``parse + XSD``: ``parsers.xml.cad_reader.read_cad_in`` alone over the same file (lxml's pull
  parser and each Declaration validated against cad-in.xsd: the floor libxml2 sets);
* the two alternate ``--rounds`` times; the figures are the medians. Then, once: the check of
  the 1 % faulty file.

MB is 10**6 bytes of file. The machine's pace (``benchmarks/machine_pace.py``) is printed before
and after; compare ratios taken in one run.
"""

from __future__ import annotations

import argparse
import json
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
from benchmarks.user_inputs import cad_in_file  # noqa: E402

FAULTY_EVERY = 100


def _measure_read(path: Path) -> dict:
    """``read_cad_in`` alone: the pull parser and the per-declaration XSD validation."""
    from parsers.xml.cad_reader import DeclarationRead, ReadProblem, read_cad_in

    declarations = invalid = 0
    started = time.perf_counter()
    with open(path, "rb") as stream:
        for event in read_cad_in(stream):
            if isinstance(event, DeclarationRead):
                declarations += 1
                invalid += bool(event.findings)
            elif isinstance(event, ReadProblem):
                raise SystemExit(f"file refused: {event.finding}")
    return {"seconds": time.perf_counter() - started, "declarations": declarations, "invalid": invalid}


def run_read(path: Path) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--child", str(path)], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=float, default=25, help="file size in MB (default 25)")
    parser.add_argument("--rounds", type=int, default=3, help="alternated check / parse + XSD rounds")
    parser.add_argument("--quick", action="store_true", help="0.3 MB, one round: a smoke run")
    parser.add_argument("--dir", type=Path, default=ROOT / ".bench")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_measure_read(args.child)))
        return 0
    size_mb, rounds = (0.3, 1) if args.quick else (args.size, args.rounds)
    valid = cad_in_file(args.dir, int(size_mb * 1e6))
    faulty = cad_in_file(args.dir, int(size_mb * 1e6), faulty_every=FAULTY_EVERY)
    single = cad_in_file(args.dir, 1)  # one declaration: the start-up
    size = valid.stat().st_size
    pace_before = reference_loop_seconds()

    startup = startup_seconds(single)
    results = []
    for number in range(1, rounds + 1):
        check = run_check(valid)
        declarations = sum(check.statuses.values())
        assert_all_valid(check, declarations)
        read = run_read(valid)
        assert read["declarations"] == declarations and not read["invalid"], read
        seconds = check.seconds - startup
        results.append(
            {
                "check_seconds": seconds,
                "check_peak_rss_mib": check.peak_rss_mib,
                "read_seconds": read["seconds"],
                "ratio": read["seconds"] / seconds if seconds > 0 else None,
            }
        )
        print(
            f"round {number}: check {seconds:.2f} s after start-up, parse + XSD {read['seconds']:.2f} s, "
            f"check at {times(results[-1]['ratio'])} its speed",
            flush=True,
        )
    faulty_run = run_check(faulty)
    faulty_declarations = sum(faulty_run.statuses.values())
    assert_faulty(faulty_run, faulty_declarations, FAULTY_EVERY)
    pace_after = reference_loop_seconds()

    rows = [
        row(
            "carm-edi check --json, valid",
            size,
            declarations,
            statistics.median(entry["check_seconds"] for entry in results),
            peak_rss_mib=round(max(entry["check_peak_rss_mib"] for entry in results), 1),
        ),
        row(
            "carm-edi check --json, 1 % faulty",
            faulty.stat().st_size,
            faulty_declarations,
            faulty_run.seconds - startup,
            peak_rss_mib=round(faulty_run.peak_rss_mib, 1),
        ),
        row("parse + XSD alone", size, declarations, statistics.median(entry["read_seconds"] for entry in results)),
    ]
    summary = Summary(valid, declarations, startup, results, rows, (pace_before, pace_after))
    summary.print("check / parse + XSD speed", describe_pace)
    if args.json:
        summary.save(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
