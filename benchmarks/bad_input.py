"""Bad input stays small (issue 15): peak memory and output sizes for large bad files.

Each kind of bad file is written to ``--dir`` (``--mb`` megabytes) and goes
through ``carm-edi check --json`` in a child process and, with ``--pipeline``,
through a ``Pipeline`` (local folder channel, SQLite ledger, no portal) in
another; the child's peak RSS comes from ``os.wait4``. Printed and written as
JSON (``--json``): seconds, peak RSS, the JSON report's size, the ledger
summary's size and the findings the report omitted.

    python benchmarks/bad_input.py --mb 50 --pipeline
    python benchmarks/bad_input.py --mb 50 --kinds random

Kinds: ``random`` (seeded random bytes), ``random-in-message`` (a UNB and a
UNH, then seeded random bytes: what a chance ``UNH+`` in random data opens),
``one-message`` (one UNH with endless segments the CUSDEC directory does not
know), ``xml`` (XML-ish garbage: unclosed elements), ``many-invalid`` (repeated
CUSDEC messages each missing two mandatory segments). A message is kept up to
the reader's limits (``MAX_MESSAGE_BYTES``, ``MAX_MESSAGE_SEGMENTS``); past
them it is rejected unread and its segments are dropped as they come.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

KINDS = ("random", "random-in-message", "one-message", "xml", "many-invalid")
PARTNER = "broker01"
_INVALID = ROOT / "fixtures" / "cusdec" / "invalid" / "i09_missing_mandatory.edi"


def make_input(kind: str, path: Path, size: int) -> Path:
    """Write ``size`` bytes (about) of bad input of ``kind`` to ``path``."""
    with path.open("wb") as out:
        if kind in ("random", "random-in-message"):
            if kind == "random-in-message":
                out.write(b"UNA:+.? '\nUNB+UNOC:3+BROKER01:ZZZ+CARMGW:ZZZ+250115:0930+RND1'\n")
                out.write(b"UNH+1+CUSDEC:D:96B:UN:CAD01'\n")
                size -= out.tell()
            generator = random.Random(0)
            for _ in range(size // (1 << 20)):
                out.write(generator.randbytes(1 << 20))
            out.write(generator.randbytes(size % (1 << 20)))
        elif kind == "one-message":
            out.write(b"UNA:+.? '\nUNB+UNOC:3+BROKER01:ZZZ+CARMGW:ZZZ+250115:0930+BIG1'\n")
            out.write(b"UNH+1+CUSDEC:D:96B:UN:CAD01'\nBGM+929+1020700030001400001+9'\n")
            block = b"XYZ+bad+segment:data'\n" * 1000
            for _ in range(max(1, size // len(block))):
                out.write(block)
            out.write(b"UNT+4+1'\nUNZ+1+BIG1'\n")
        elif kind == "xml":
            block = b"".join(b"<a%d x='%d'>text&amp;<b>" % (i, i % 97) for i in range(10_000))
            out.write(b"<?xml version='1.0'?>\n<root>")
            for _ in range(max(1, size // len(block))):
                out.write(block)
        elif kind == "many-invalid":
            lines = _INVALID.read_bytes().split(b"\n")
            body = b"\n".join(lines[2:-2]) + b"\n"  # UNH .. UNT
            out.write(lines[0] + b"\n" + lines[1].replace(b"IC0109", b"MANY1") + b"\n")
            written = count = 0
            while written < size:
                count += 1
                message = body.replace(b"UNH+1+", b"UNH+%d+" % count).replace(b"UNT+26+1'", b"UNT+26+%d'" % count)
                out.write(message)
                written += len(message)
            out.write(b"UNZ+%d+MANY1'\n" % count)
        else:
            raise ValueError(f"unknown kind {kind!r}")
    return path


def measured(command: list[str], stdout: Path) -> dict[str, Any]:
    """Run ``command`` (its output to ``stdout``); its seconds and peak RSS."""
    started = time.perf_counter()
    with stdout.open("wb") as out:
        child = subprocess.Popen(command, stdout=out, cwd=ROOT)
        _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    return {
        "exit": child.returncode,
        "seconds": round(time.perf_counter() - started, 2),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),  # Linux: kilobytes
    }


def check(path: Path, work: Path) -> dict[str, Any]:
    """``carm-edi check --json`` on ``path`` in a child process."""
    out = work / f"{path.name}.check.json"
    result = measured([sys.executable, "-m", "gateway.cli", "check", "--json", str(path)], out)
    report = json.loads(out.read_bytes())
    return {**result, "report_bytes": out.stat().st_size, "findings_omitted": report.get("findings_omitted", {})}


def pipeline(path: Path, work: Path) -> dict[str, Any]:
    """The file through a ``Pipeline`` in a child process (``--pipeline-child``)."""
    out = work / f"{path.name}.pipeline.json"
    folder = Path(tempfile.mkdtemp(prefix="pipeline-", dir=work))
    result = measured([sys.executable, __file__, "--pipeline-child", str(folder), str(path)], out)
    return {**result, **json.loads(out.read_bytes())}


def pipeline_child(folder: Path, path: Path) -> dict[str, Any]:
    """Process ``path`` as partner broker01's only inbox file; what it left behind."""
    from gateway.pipeline import Pipeline
    from gateway.settings import Settings
    from ledger import Ledger
    from transports.local import LocalFolderTransport

    transport = LocalFolderTransport(folder / "partners")
    transport.ensure_partner(PARTNER)
    os.link(path, transport.area(PARTNER, "inbox") / path.name)
    ledger = Ledger(f"sqlite:///{folder / 'ledger.sqlite'}")
    try:
        [processed] = Pipeline(Settings(data_dir=folder), transport, ledger, None).process_inbox(PARTNER)
        [record] = ledger.files()
        summary = record.summary
    finally:
        ledger.dispose()
    [report] = transport.area(PARTNER, "outbox").glob("*.report.json")
    return {
        "state": processed.state,
        "report_bytes": report.stat().st_size,
        "summary_bytes": len(json.dumps(summary).encode()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, default=50.0, help="size of each bad file in MiB")
    parser.add_argument("--kinds", default=",".join(KINDS), help=f"comma-separated, of {', '.join(KINDS)}")
    parser.add_argument("--pipeline", action="store_true", help="also through a Pipeline")
    parser.add_argument("--dir", type=Path, help="where the files go (default: a temporary folder)")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--pipeline-child", nargs=2, metavar=("FOLDER", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.pipeline_child:
        print(json.dumps(pipeline_child(Path(args.pipeline_child[0]), Path(args.pipeline_child[1]))))
        return 0
    work = args.dir or Path(tempfile.mkdtemp(prefix="bad-input-"))
    work.mkdir(parents=True, exist_ok=True)
    size = int(args.mb * 1024 * 1024)
    rows = []
    for kind in args.kinds.split(","):
        path = make_input(kind, work / f"{kind}.bin", size)
        row: dict[str, Any] = {"kind": kind, "bytes": path.stat().st_size, "check": check(path, work)}
        if args.pipeline:
            row["pipeline"] = pipeline(path, work)
        rows.append(row)
        print(json.dumps(row))
    if args.json:
        args.json.write_text(json.dumps({"mb": args.mb, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
