"""Throughput of the CUSDEC inbound pipeline, against pydifact and a read-and-count floor.

Run from the repository root:

    .venv/bin/python benchmarks/edifact_throughput.py                # 10 MB and 100 MB files
    .venv/bin/python benchmarks/edifact_throughput.py --sizes 10     # only the 10 MB file
    .venv/bin/python benchmarks/edifact_throughput.py --quick        # small files: a smoke run
    .venv/bin/python benchmarks/edifact_throughput.py --dir /tmp/b --json out.json

It writes realistic CUSDEC interchanges (declarations built with the domain
model, 5-15 lines each, released ``?'`` ``?+`` ``?:`` in some descriptions,
Latin-1 party names, UNOC, several interchanges per file) with
``cusdec_segments`` + ``InterchangeWriter``, then measures, each in a fresh
child process (so that peak RSS, ``ru_maxrss`` of that child, is its own):

* ``pipeline``: read_edifact + EnvelopeValidator + directory validation
  (``validators.directory.validate_message``, when importable) + map_cusdec to
  the pydantic ``Declaration`` — the issue's target;
* ``reader``: read_edifact alone (every event consumed, nothing else), with
  the C tokenizer (``parsers.edifact._tokenizer``) when it is built;
* ``reader-python``: the same with the C tokenizer switched off
  (``CARM_EDIFACT_ACCELERATOR=0``: the pure-Python fallback), smallest file only;
* ``pydifact``: ``pydifact.parser.Parser().parse(text)`` alone, on the
  smallest file only (pydifact needs the whole file as one string, and refuses
  a second UNA in it, so it is given one string per interchange; reading,
  decoding and cutting the file are not timed);
* ``floor``: read the file in 1 MiB chunks and count terminator bytes.

MB is 10**6 bytes. Everything runs single-threaded on one core. Every row
says whether the C tokenizer was used ("C tok." column: yes / no / "-" where
read_edifact is not involved); ``--no-accelerator`` runs everything on the
pure-Python path. The report also prints the machine's load average at the
start and the end: measure when it is low (other jobs skew the numbers).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.machine_pace import describe as describe_pace  # noqa: E402 (after the path is set)
from benchmarks.machine_pace import reference_loop_seconds  # noqa: E402  # after the path is set

GENERATOR_VERSION = 1  # bump when the generated content changes (cached files are rewritten)
DECLARATIONS_PER_INTERCHANGE = 400
BN15 = ("123456782RM0001", "123026635RM0001")

# Realistic descriptions: most plain, some with released service characters.
DESCRIPTIONS = [
    "COTTON T-SHIRTS, MEN'S, KNITTED",
    "WOMEN'S WOOL SWEATERS 100% MERINO",
    "STAINLESS STEEL BOLTS M8 X 40: ISO 4017",
    "LED LAMPS 9W E26 + DRIVER",
    "CERAMIC TILES 30X30 CM, GLAZED",
    "CHILDREN'S FOOTWEAR, RUBBER SOLES: SIZE 10+",
    "BICYCLE PARTS - FRONT FORKS",
    "PLASTIC FOOD CONTAINERS WITH LIDS",
    "LAPTOP BAGS, POLYESTER OUTER SURFACE",
    "GARDEN HOSES 15 M, PVC REINFORCED",
    "COFFEE MAKERS 12 CUP, 'DELUXE' MODEL",
    "VITAMIN SUPPLEMENTS IN TABLET FORM, RETAIL PACKS OF 100 TABLETS, NOT FOR RESALE TO MINORS",
]
IMPORTERS = [
    "SOCIÉTÉ GÉNÉRALE D'IMPORTATION",
    "MAPLE LEAF IMPORTS INC",
    "LES ENTREPÔTS DU NORD LTÉE",
    "CASCADE TRADING CO",
]
VENDORS = [
    ("GLOBAL TEXTILES CO", "12 HARBOUR ROAD", "SHANGHAI", "200000", "CN"),
    ("MÜLLER & SÖHNE GMBH", "HAUPTSTRASSE 5", "MÜNCHEN", "80331", "DE"),
    ("SAIGON GARMENT JSC", "22 LE LOI", "HO CHI MINH", "700000", "VN"),
]
HS_CODES = ["6109100010", "6110110010", "7318150020", "8539500000", "6907210000", "6402990030"]


# Generating the files ------------------------------------------------------------


def _declaration(rng: random.Random, index: int):
    from domain import Declaration
    from domain.identifiers import transaction_check_digit

    body = f"1{rng.randint(0, 9999):04d}{index:08d}"
    lines = []
    total_amount = Decimal("0.00")
    for number in range(1, rng.randint(5, 15) + 1):
        amount = Decimal(rng.randint(100, 500_000)) / 100
        total_amount += amount
        vfd = (amount * Decimal("1.35")).quantize(Decimal("0.01"))
        duty = (vfd * Decimal("0.18")).quantize(Decimal("0.01"))
        vft = vfd + duty
        lines.append(
            {
                "line_number": number,
                "description": rng.choice(DESCRIPTIONS),
                "hs_code": rng.choice(HS_CODES),
                "tariff_treatment": rng.choice(["2", "2", "10", "13"]),
                "country_of_origin": rng.choice(["CN", "VN", "DE", "US"]),
                "quantity": Decimal(rng.randint(1, 5000)),
                "unit": rng.choice(["NMB", "KGM", "PR"]),
                "invoice_amount": amount,
                "value_for_duty": vfd,
                "duty_rate": Decimal("18"),
                "customs_duty": duty,
                "value_for_tax": vft,
                "gst": (vft * Decimal("0.05")).quantize(Decimal("0.01")),
            }
        )
    name, street, city, postcode, country = rng.choice(VENDORS)
    return Declaration.model_validate(
        {
            "transaction_number": body + str(transaction_check_digit(body)),
            "version": 1,
            "function": "9",
            "type_code": "AB",
            "importer": {"account": BN15[0], "name": rng.choice(IMPORTERS)},
            "declarant": {"account": BN15[1], "name": "NORTHERN CUSTOMS BROKERS LTD"},
            "office_of_release": rng.choice(["0497", "0395", "0440"]),
            "release_date": dt.date(2025, 1, 15) + dt.timedelta(days=index % 300),
            "currency": "USD",
            "exchange_rate": Decimal("1.35"),
            "invoice": {
                "number": f"INV-{index:07d}",
                "issue_date": dt.date(2025, 1, 10),
                "total_amount": total_amount,
            },
            "vendor": {"name": name, "street": street, "city": city, "postcode": postcode, "country": country},
            "filer_reference": f"BRK-2025-{index:06d}",
            "lines": lines,
        }
    )


def generate(path: Path, size_bytes: int, seed: int = 2025) -> None:
    """Write CUSDEC interchanges to ``path`` until it holds at least ``size_bytes``."""
    from mappings.declaration_cusdec import IDENTIFIER, cusdec_segments
    from mappings.edifact_writer import InterchangeWriter

    rng = random.Random(seed)
    prepared = dt.datetime(2025, 1, 15, 9, 30)
    index = 0
    tmp = path.with_suffix(".part")
    with open(tmp, "wb") as out:
        interchange = 0
        while out.tell() < size_bytes:
            interchange += 1
            writer = InterchangeWriter(
                out,
                sender=("123026635", "ZZ"),
                recipient=("CBSACARM", "ZZ"),
                control_reference=f"IC{interchange:06d}",
                prepared=prepared,
            )
            for number in range(1, DECLARATIONS_PER_INTERCHANGE + 1):
                index += 1
                writer.write_message(f"M{number}", IDENTIFIER, cusdec_segments(_declaration(rng, index)))
                if out.tell() >= size_bytes:
                    break
            writer.close()
    tmp.replace(path)


def ensure_file(directory: Path, megabytes: float) -> Path:
    label = f"{megabytes:g}".replace(".", "_")
    path = directory / f"cusdec_{label}mb_v{GENERATOR_VERSION}.edi"
    if not path.exists():
        started = time.perf_counter()
        generate(path, int(megabytes * 1_000_000))
        print(
            f"generated {path} ({path.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - started:.1f} s",
            file=sys.stderr,
        )
    return path


# Measurements (each runs in its own child process) -------------------------------


def _accelerated() -> bool:
    from parsers.edifact import reader

    return getattr(reader, "_tokenize", None) is not None  # (older readers have no accelerator)


def _measure_reader(path: Path) -> dict:
    from parsers.edifact.model import MessageRead
    from parsers.edifact.reader import read_edifact

    events = messages = 0
    started = time.perf_counter()
    with open(path, "rb") as stream:
        for event in read_edifact(stream):
            events += 1
            messages += isinstance(event, MessageRead)
    return {
        "seconds": time.perf_counter() - started,
        "events": events,
        "messages": messages,
        "accelerated": _accelerated(),
    }


def _measure_pipeline(path: Path) -> dict:
    from mappings import cusdec_declaration
    from mappings.cusdec_declaration import map_cusdec
    from parsers.edifact.model import InterchangeStart, MessageRead
    from parsers.edifact.reader import read_edifact
    from validators.directory import validate_message
    from validators.envelope import EnvelopeValidator

    clock = time.perf_counter
    pydantic_seconds = [0.0]

    def timed(validate):  # the Declaration.model_validate step of map_cusdec
        def timed_validate(*arguments):
            started = clock()
            try:
                return validate(*arguments)
            finally:
                pydantic_seconds[0] += clock() - started

        return timed_validate

    cusdec_declaration._validate = timed(cusdec_declaration._validate)
    envelope_s = directory_s = mapping_s = 0.0
    events = messages = declarations = envelope_findings = directory_findings = mapping_findings = 0
    validator = EnvelopeValidator()
    decimal_mark = "."
    started = clock()
    with open(path, "rb") as stream:
        for event in read_edifact(stream):
            events += 1
            t0 = clock()
            envelope_findings += len(validator.observe(event))
            t1 = clock()
            envelope_s += t1 - t0
            if isinstance(event, InterchangeStart):
                decimal_mark = event.header.delimiters.decimal
            elif isinstance(event, MessageRead):
                messages += 1
                message = event.message
                directory_findings += len(validate_message(message, decimal_mark))
                t2 = clock()
                directory_s += t2 - t1
                result = map_cusdec(message, decimal_mark)
                mapping_s += clock() - t2
                mapping_findings += len(result.findings)
                declarations += result.declaration is not None
    total = clock() - started
    if declarations and not pydantic_seconds[0]:
        raise SystemExit("map_cusdec did not call cusdec_declaration._validate: the pydantic split would read 0")
    return {
        "seconds": total,
        "events": events,
        "messages": messages,
        "declarations": declarations,
        "accelerated": _accelerated(),
        "stage_seconds": {  # reader: what is left, i.e. read_edifact and the loop itself
            "reader": total - envelope_s - directory_s - mapping_s,
            "envelope": envelope_s,
            "directory": directory_s,
            "mapping": mapping_s - pydantic_seconds[0],
            "pydantic": pydantic_seconds[0],
        },
        "findings": {
            "envelope": envelope_findings,
            "directory": directory_findings,
            "mapping": mapping_findings,
        },
    }


def _measure_pydifact(path: Path) -> dict:
    import warnings

    from pydifact.parser import Parser

    text = path.read_bytes().decode("latin-1")  # the files are UNOC; not timed
    # pydifact refuses a second UNA in one string: give it one interchange at a time.
    una = "UNA:+.? '"  # what InterchangeWriter writes first
    interchanges = [una + part for part in text.split(una) if part.strip()]
    segments = messages = 0
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for interchange in interchanges:
            for segment in Parser().parse(interchange):
                segments += 1
                messages += segment.tag == "UNH"
    return {"seconds": time.perf_counter() - started, "segments": segments, "messages": messages}


def _measure_floor(path: Path) -> dict:
    terminators = 0
    started = time.perf_counter()
    with open(path, "rb") as stream:
        while chunk := stream.read(1 << 20):
            terminators += chunk.count(b"'")
    return {"seconds": time.perf_counter() - started, "terminators": terminators}


MEASURES = {
    "pipeline": _measure_pipeline,
    "reader": _measure_reader,
    "reader-python": _measure_reader,  # run with CARM_EDIFACT_ACCELERATOR=0
    "pydifact": _measure_pydifact,
    "floor": _measure_floor,
}


def _child(kind: str, path: Path) -> None:
    import resource

    result = MEASURES[kind](path)
    result["max_rss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps(result))


def run_child(kind: str, path: Path, repeat: int, accelerator: bool = True) -> dict:
    """Best of ``repeat`` fresh child processes (peak RSS: the largest seen)."""
    best: dict | None = None
    rss = 0
    environment = dict(os.environ)
    if kind == "reader-python" or not accelerator:
        environment["CARM_EDIFACT_ACCELERATOR"] = "0"
    for _ in range(repeat):
        done = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--child", kind, str(path)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
            env=environment,
        )
        if done.returncode != 0:
            raise SystemExit(f"{kind} on {path.name} failed:\n{done.stderr}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        rss = max(rss, result["max_rss_kib"])
        if best is None or result["seconds"] < best["seconds"]:
            best = result
    assert best is not None
    best["max_rss_kib"] = rss
    return best


# The report ------------------------------------------------------------------------


def _row(label: str, size: int, result: dict, declarations: int | None) -> dict:
    seconds = result["seconds"]
    return {
        "measurement": label,
        "file_mb": size / 1e6,
        "seconds": seconds,
        "mb_per_s": size / 1e6 / seconds,
        "declarations_per_s": (declarations / seconds) if declarations is not None else None,
        "peak_rss_mib": result["max_rss_kib"] / 1024,
        "c_tokenizer": result.get("accelerated"),
        "detail": result,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,100", help="file sizes in MB, comma-separated (default 10,100)")
    parser.add_argument("--quick", action="store_true", help="small files (0.3 and 1 MB), one run each: a smoke run")
    parser.add_argument("--dir", type=Path, help="where to write (and reuse) the files; default: a temporary folder")
    parser.add_argument(
        "--repeat",
        type=int,
        default=None,
        help="runs per measurement, best kept (default 3, 1 with --quick or above 50 MB)",
    )
    parser.add_argument(
        "--json", nargs="?", const="-", metavar="FILE", help="also write the results as JSON (to FILE, or stdout)"
    )
    parser.add_argument(
        "--no-accelerator", action="store_true", help="run everything without the C tokenizer (pure-Python reader)"
    )
    parser.add_argument(
        "--paired",
        type=int,
        metavar="ROUNDS",
        help="only the ratio (a)/(b): ROUNDS rounds of one pipeline run and one pydifact run back to back on the "
        "smallest file; prints each round's ratio and their median (robust to a machine whose speed drifts)",
    )
    parser.add_argument("--child", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child[0], Path(args.child[1]))
        return 0
    if args.paired:
        return _paired(args)

    sizes = [0.3, 1.0] if args.quick else [float(s) for s in args.sizes.split(",") if s.strip()]
    accelerator = not args.no_accelerator
    load_before = os.getloadavg()
    pace_before = reference_loop_seconds()
    with tempfile.TemporaryDirectory(prefix="edifact-bench-") as scratch:
        directory = args.dir or Path(scratch)
        directory.mkdir(parents=True, exist_ok=True)
        files = {size: ensure_file(directory, size) for size in sizes}
        rows = []
        smallest = min(sizes)
        for size, path in files.items():
            nbytes = path.stat().st_size
            repeat = args.repeat or (1 if args.quick or size > 50 else 3)
            pipeline = run_child("pipeline", path, repeat, accelerator)
            declarations = pipeline["declarations"]
            rows.append(_row("(a) full pipeline", nbytes, pipeline, declarations))
            reader = run_child("reader", path, repeat, accelerator)
            rows.append(_row("    read_edifact alone", nbytes, reader, pipeline["messages"]))
            if size == smallest and accelerator:
                python = run_child("reader-python", path, repeat)
                rows.append(_row("    read_edifact, pure Python", nbytes, python, pipeline["messages"]))
            if size == smallest:
                rows.append(
                    _row("(b) pydifact Parser alone", nbytes, run_child("pydifact", path, repeat), pipeline["messages"])
                )
            rows.append(
                _row("(c) read-and-count floor", nbytes, run_child("floor", path, repeat), pipeline["messages"])
            )
    _print(rows)
    load_after = os.getloadavg()
    pace_after = reference_loop_seconds()
    print(
        f"load average (1/5/15 min) at start {load_before[0]:.2f}/{load_before[1]:.2f}/{load_before[2]:.2f}, "
        f"at end {load_after[0]:.2f}/{load_after[1]:.2f}/{load_after[2]:.2f} on {os.cpu_count()} CPUs"
    )
    print(describe_pace(pace_before, pace_after))
    if args.json:
        text = json.dumps({"rows": rows, "pace_seconds": [pace_before, pace_after]}, indent=2)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n")
    return 0


def _paired(args: argparse.Namespace) -> int:
    """Rounds of (pipeline, pydifact) on one file, each in its own child, back to
    back: a round's ratio compares two runs made under the same machine speed."""
    size = 0.3 if args.quick else min(float(s) for s in args.sizes.split(",") if s.strip())
    with tempfile.TemporaryDirectory(prefix="edifact-bench-") as scratch:
        directory = args.dir or Path(scratch)
        directory.mkdir(parents=True, exist_ok=True)
        path = ensure_file(directory, size)
        file_mb = path.stat().st_size / 1e6
        rounds = []
        pace_before = reference_loop_seconds()
        for number in range(1, args.paired + 1):
            pipeline = run_child("pipeline", path, 1, not args.no_accelerator)["seconds"]
            pydifact = run_child("pydifact", path, 1)["seconds"]
            rounds.append({"pipeline_seconds": pipeline, "pydifact_seconds": pydifact, "ratio": pydifact / pipeline})
            print(
                f"round {number}: pipeline {pipeline:.2f} s, pydifact {pydifact:.2f} s, (a)/(b) {pydifact / pipeline:.2f}x"
            )
    ratios = sorted(r["ratio"] for r in rounds)
    middle = len(ratios) // 2
    median = ratios[middle] if len(ratios) % 2 else (ratios[middle - 1] + ratios[middle]) / 2
    print(
        f"{file_mb:.1f} MB file, {len(rounds)} rounds: (a)/(b) median {median:.2f}x "
        f"(min {ratios[0]:.2f}x, max {ratios[-1]:.2f}x)"
    )
    pace_after = reference_loop_seconds()
    print(describe_pace(pace_before, pace_after))
    if args.json:
        text = json.dumps(
            {"file_mb": file_mb, "rounds": rounds, "median_ratio": median, "pace_seconds": [pace_before, pace_after]},
            indent=2,
        )
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n")
    return 0


def _print(rows: list[dict]) -> None:
    header = (
        f"{'measurement':30} {'file MB':>8} {'seconds':>8} {'MB/s':>8} {'decl/s':>9} {'peak RSS MiB':>13} {'C tok.':>7}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        per_s = f"{row['declarations_per_s']:9.0f}" if row["declarations_per_s"] is not None else f"{'-':>9}"
        c_tokenizer = row.get("c_tokenizer")
        used = "-" if c_tokenizer is None else "yes" if c_tokenizer else "no"
        print(
            f"{row['measurement']:30} {row['file_mb']:8.1f} {row['seconds']:8.2f} {row['mb_per_s']:8.2f} "
            f"{per_s} {row['peak_rss_mib']:13.1f} {used:>7}"
        )
    print()
    by_size: dict[float, dict[str, dict]] = {}
    for row in rows:
        by_size.setdefault(row["file_mb"], {})[row["measurement"].strip()[:3]] = row
    pydifact = next((row for row in rows if row["measurement"].startswith("(b)")), None)
    for size, group in by_size.items():
        a, c = group.get("(a)"), group.get("(c)")
        if a is None:
            continue
        detail = a["detail"]
        print(
            f"{size:.1f} MB file: {detail['declarations']}/{detail['messages']} declarations mapped; directory validation included"
        )
        if pydifact is not None and pydifact["file_mb"] == size:
            print(f"  (a)/(b) pipeline vs pydifact Parser alone: {a['mb_per_s'] / pydifact['mb_per_s']:.2f}x")
        elif pydifact is not None:
            print(
                f"  (a)/(b): pydifact was run on the {pydifact['file_mb']:.1f} MB file only; "
                f"against that: {a['mb_per_s'] / pydifact['mb_per_s']:.2f}x"
            )
        if c is not None:
            print(f"  (a)/(c) pipeline vs read-and-count floor:  {a['mb_per_s'] / c['mb_per_s']:.4f}x")
        stages = detail.get("stage_seconds", {})
        total = detail["seconds"]
        print("  pipeline time: " + ", ".join(f"{name} {sec / total:.0%}" for name, sec in stages.items()))
    if pydifact is not None:
        print(f"(b) runs on the {pydifact['file_mb']:.1f} MB file only: pydifact needs the whole file as one string.")
    python = next((row for row in rows if row["measurement"].strip().startswith("read_edifact, pure")), None)
    if python is not None:
        fast = next(
            row
            for row in rows
            if row["measurement"].strip() == "read_edifact alone" and row["file_mb"] == python["file_mb"]
        )
        print(
            f"read_edifact on the {python['file_mb']:.1f} MB file: {fast['mb_per_s']:.2f} MB/s "
            f"(C tokenizer {'used' if fast.get('c_tokenizer') else 'NOT available'}) vs {python['mb_per_s']:.2f} MB/s "
            f"pure Python: {fast['mb_per_s'] / python['mb_per_s']:.2f}x"
        )


if __name__ == "__main__":
    raise SystemExit(main())
