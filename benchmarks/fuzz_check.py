"""Mutation fuzzing of the product's check path: no input may raise.

Every fixture under fixtures/ and every real-world sample (``--samples``, default
../shared/samples) is mutated at random — bytes flipped, cut, repeated, swapped;
separators and release characters inserted; line breaks inserted as wrapping
exports do; ASCII digits replaced by other Unicode digits; values stretched past
their fields; text after an XML root — and each mutant goes through
``check_stream`` as ``carm-edi check`` runs it, with acknowledgements written (to
memory) as the DAG writes them, and its report serialised to JSON. An exception
out of that path is a crash: the script records the file, the mutation, the seed
and the exception, keeps the input under ``--crashes``, and exits 1.

    python benchmarks/fuzz_check.py --inputs 1000000 --workers 2
    python benchmarks/fuzz_check.py --seconds 60

Runs are reproducible: worker ``w`` of a run with seed ``s`` mutates with
``random.Random(f"{s}:{w}")``.
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import random
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from gateway.flows.contract import FlowOptions  # noqa: E402  # after the path is set
from gateway.flows.dispatch import OFFLINE_RULES, check_stream  # noqa: E402

SPECIAL = [b"'", b"+", b":", b"?", b"*", b"\r", b"\n", b"\r\n", b"??", b"?'", b"UNA:+.? '", b"UNB+", b"UNH+"]
SPECIAL += [b"UNT+", b"UNZ+", b"\x00", b"\x1c", b"\x85", b"\x9f", b"\xc3", b"\xff", b"<", b"&", b"]]>", b"<!--"]
UNICODE_DIGITS = [
    "\u00b2",
    "\u0663",
    "\u06f7",
    "\u0967",
    "\uff15",
    "\U0001d7d7",
]  # superscript, Arabic-Indic, Devanagari, full-width, math bold: digits to str.isdigit, not all to int()


class _MemorySink:
    """Acknowledgements written to memory and dropped: the writers still run."""

    @contextmanager
    def open(self, name: str) -> Iterator[io.BytesIO]:
        yield io.BytesIO()


def corpus(samples: Path | None) -> list[tuple[str, bytes]]:
    """Every fixture file (not the expected-answer and reference metadata) and every sample."""
    folders = [ROOT / "fixtures"] + ([samples] if samples is not None and samples.is_dir() else [])
    files = []
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path.suffix.lower() not in (".json", ".toml", ".csv", ".md"):
                files.append((str(path.relative_to(folder.parent)), path.read_bytes()))
    return files


def _flip(rng: random.Random, data: bytes) -> bytes:
    if not data:
        return data
    at = rng.randrange(len(data))
    return data[:at] + bytes([rng.randrange(256)]) + data[at + 1 :]


def _cut(rng: random.Random, data: bytes) -> bytes:
    if not data:
        return data
    at = rng.randrange(len(data))
    return data[:at] + data[at + rng.randint(1, 64) :]


def _insert(rng: random.Random, data: bytes) -> bytes:
    at = rng.randrange(len(data) + 1)
    return data[:at] + rng.choice(SPECIAL) + data[at:]


def _truncate(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randrange(len(data) + 1)]


def _parts(data: bytes) -> tuple[bytes, list[bytes]]:
    """Segments (EDIFACT) or elements (XML) to repeat and swap."""
    separator = b">" if data.lstrip()[:1] == b"<" else b"'"
    return separator, data.split(separator)


def _repeat(rng: random.Random, data: bytes) -> bytes:
    separator, parts = _parts(data)
    at = rng.randrange(len(parts))
    parts.insert(at, parts[at])
    return separator.join(parts)


def _swap(rng: random.Random, data: bytes) -> bytes:
    separator, parts = _parts(data)
    if len(parts) < 2:
        return data
    a, b = rng.randrange(len(parts)), rng.randrange(len(parts))
    parts[a], parts[b] = parts[b], parts[a]
    return separator.join(parts)


def _wrap(rng: random.Random, data: bytes) -> bytes:
    width = rng.choice([1, 2, 79, 80, 999])
    newline = rng.choice([b"\n", b"\r\n"])
    return newline.join(data[i : i + width] for i in range(0, len(data), width))


def _unicode_digit(rng: random.Random, data: bytes) -> bytes:
    digits = [i for i, byte in enumerate(data) if 0x30 <= byte <= 0x39]
    if not digits:
        return data
    at = rng.choice(digits)
    return data[:at] + rng.choice(UNICODE_DIGITS).encode() + data[at + 1 :]


def _stretch(rng: random.Random, data: bytes) -> bytes:
    """A value repeated until it overflows its field (a 40+ character reference)."""
    if not data:
        return data
    at = rng.randrange(len(data))
    end = at
    while end < len(data) and data[end : end + 1] not in (b"'", b"+", b":", b"<", b">"):
        end += 1
    value = data[at:end] or b"9"
    return data[:at] + value * rng.randint(2, 60) + data[end:]


def _trailing(rng: random.Random, data: bytes) -> bytes:
    return data + rng.choice([b"text after the root", b"<again/>", b"UNA", b"\x00"])


MUTATIONS: dict[str, Callable[[random.Random, bytes], bytes]] = {
    "flip": _flip,
    "cut": _cut,
    "insert": _insert,
    "truncate": _truncate,
    "repeat": _repeat,
    "swap": _swap,
    "wrap": _wrap,
    "unicode-digit": _unicode_digit,
    "stretch": _stretch,
    "trailing": _trailing,
}


def mutate(rng: random.Random, data: bytes) -> tuple[bytes, list[str]]:
    """One to three mutations in a row."""
    applied = []
    for _ in range(rng.randint(1, 3)):
        name = rng.choice(list(MUTATIONS))
        data = MUTATIONS[name](rng, data)
        applied.append(name)
    return data, applied


def check_one(name: str, data: bytes) -> None:
    """What ``carm-edi check --json`` does with a file, acknowledgements written as in a run."""
    options = FlowOptions(rules_context=OFFLINE_RULES, sink=_MemorySink(), seed=name)
    report = check_stream(io.BytesIO(data), name, options)
    json.dumps(report.to_dict(), ensure_ascii=False)


def _work(job: tuple[int, str, int, float, str | None, str | None]) -> dict[str, Any]:
    worker, seed, inputs, seconds, samples, crashes = job
    rng = random.Random(f"{seed}:{worker}")
    files = corpus(Path(samples) if samples else None)
    started = time.monotonic()
    done, found = 0, []
    while done < inputs and time.monotonic() - started < seconds:
        name, original = rng.choice(files)
        data, applied = mutate(rng, original)
        done += 1
        try:
            check_one(Path(name).name, data)
        except Exception as error:
            crash = {
                "file": name,
                "mutations": applied,
                "input": done,
                "error": f"{type(error).__name__}: {error}"[:500],
                "where": traceback.format_exc(limit=-3)[-1500:],
            }
            if crashes:
                kept = Path(crashes) / f"crash-{worker}-{done}{Path(name).suffix}"
                kept.parent.mkdir(parents=True, exist_ok=True)
                kept.write_bytes(data)
                crash["kept"] = str(kept)
            found.append(crash)
    return {"inputs": done, "seconds": time.monotonic() - started, "crashes": found}


def run(
    inputs: int, seconds: float, workers: int, seed: str, samples: Path | None, crashes: Path | None
) -> dict[str, Any]:
    """Fuzz with ``workers`` processes until ``inputs`` mutants were checked or ``seconds`` passed."""
    share = -(-inputs // workers)
    jobs = [
        (w, seed, share, seconds, str(samples) if samples else None, str(crashes) if crashes else None)
        for w in range(workers)
    ]
    started = time.monotonic()
    if workers == 1:
        results = [_work(jobs[0])]
    else:
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            results = pool.map(_work, jobs)
    total = sum(result["inputs"] for result in results)
    found = [crash for result in results for crash in result["crashes"]]
    elapsed = time.monotonic() - started
    return {
        "inputs": total,
        "seconds": round(elapsed, 1),
        "inputs_per_second": round(total / elapsed) if elapsed else None,
        "files": len(corpus(samples)),
        "workers": workers,
        "seed": seed,
        "crashes": len(found),
        "first_crashes": found[:20],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--inputs", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=float("inf"))
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seed", default="carm")
    parser.add_argument("--samples", type=Path, default=ROOT.parent / "shared" / "samples")
    parser.add_argument("--crashes", type=Path, default=None, help="keep each crashing input here")
    args = parser.parse_args(argv)
    summary = run(args.inputs, args.seconds, args.workers, args.seed, args.samples, args.crashes)
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    return 1 if summary["crashes"] else 0


if __name__ == "__main__":
    sys.exit(main())
