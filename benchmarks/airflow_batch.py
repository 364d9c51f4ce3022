"""Benchmark: CUSDEC files over real SFTP through the ``carm_inbound`` DAG, at 0 ms and 50 ms of portal latency.

1,000 small files of 5 declarations each are uploaded with OpenSSH's ``sftp``
in batch mode to a real sshd on 127.0.0.1 (each to a temporary name, then
renamed into place: the partner is registered ``uploads = { mode = "rename" }``)
and processed by the DAG with ``dag.test()`` (mapped batches, posts to the embedded
portal over HTTP, CONTRL/CUSRES/report written back over SFTP, originals
archived); the same work is done by ``service.process_once`` (``carm-edi process``:
the DAG's planner, every batch in turn in one process). Every timed run has fresh
files, a fresh portal database and a fresh ledger.

``--latency-ms`` lists the portal's delays on every answer (a distant portal;
default ``0,50``): the DAG runs at each, the loop at the largest
(``--loop-latency-ms``); ``--rounds`` repeats them, every other round in reverse
order, and the medians are compared: the DAG at the largest latency against the
DAG at the smallest (issue 18: ≤ 1.15), and the DAG against the loop at the
loop's latency (≤ 1.3). ``--only dag`` / ``--only loop`` times one of them (the
loop then at each latency). ``--concurrency`` is ``CARM_PORTAL_CONCURRENCY``, the
requests in flight to the portal per worker, ``--files-in-flight``
``CARM_FILES_IN_FLIGHT`` (default: the product's). ``--count`` adds what each file
cost: SFTP requests, HTTP requests and commits by database (``Counts``). Each run
prints its wall time and this process's CPU time (gateway, embedded portal and
Airflow share it): a run whose CPU time is close to its wall time was bound by the
CPU, not by the portal's latency.

The DAG first runs once, untimed, on an empty inbox: what a running Airflow has
already done (``dag.test()`` builds its in-process execution API on the first task,
a minute under load; the gateway's modules are imported) is not charged to the
timed runs, as the loop, which runs in the same process, never was. The
machine's pace (``benchmarks/machine_pace.py``) and load are printed before and after.

Run: ``.venv/bin/python benchmarks/airflow_batch.py`` (root: it starts sshd
for a dedicated user, as the tests do); ``--files 200`` for a quicker run.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import json
import logging
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))
DECLARATIONS_PER_FILE = 5
SENDER = "BENCH01"


def build_file(file_number: int, phase: int) -> bytes:
    """One interchange of five single-line declarations with unique transaction numbers."""
    from domain.identifiers import transaction_check_digit
    from mappings.declaration_cusdec import IDENTIFIER, cusdec_segments
    from mappings.edifact_writer import InterchangeWriter
    from tests.builders import declaration

    out = io.BytesIO()
    writer = InterchangeWriter(
        out, sender=(SENDER, "ZZZ"), recipient=("CARMGW", "ZZZ"), control_reference=f"B{phase}{file_number:07d}"
    )
    for message in range(1, DECLARATIONS_PER_FILE + 1):
        body = f"2{phase}{file_number:06d}{message:05d}"
        number = body + str(transaction_check_digit(body))
        writer.write_message(str(message), IDENTIFIER, cusdec_segments(declaration(transaction_number=number)))
    writer.close()
    return out.getvalue()


def registry(base: str, importer: str) -> str:
    dirs = "\n".join(f'{area} = "{base}/{area}"' for area in ("inbox", "outbox", "archive", "quarantine", "processing"))
    return (
        '[[partners]]\nid = "bench01"\n'
        f'edifact_senders = [{{ id = "{SENDER}", qualifier = "ZZZ" }}]\n'
        f'importer_accounts = ["{importer}"]\n'
        'uploads = { mode = "rename" }\n'
        f'[partners.channel]\ntype = "sftp"\nconnection_id = "carm_test_sftp"\n{dirs}\n'
    )


def upload(sshd: Any, base: str, files: int, phase: int, work: Path) -> None:
    """The partner's upload: every file to a temporary name, then renamed into the inbox."""
    local = work / f"upload-{phase}"
    local.mkdir()
    commands = [f'mkdir "{base}"'] + [
        f'mkdir "{base}/{area}"' for area in ("inbox", "outbox", "archive", "quarantine", "processing")
    ]
    for number in range(files):
        source = local / f"{number}.edi"
        source.write_bytes(build_file(number, phase))
        commands += [
            f'put {source} "{base}/inbox/.{number}.part"',
            f'rename "{base}/inbox/.{number}.part" "{base}/inbox/f{number:05d}.edi"',
        ]
    sshd.sftp_batch("\n".join(commands) + "\n")


def configure(
    work: Path, phase: str, portal_url: str, base: str, batch_size: int, knobs: dict[str, int | None]
) -> None:
    """The gateway's settings for one phase, as environment variables (the DAG's tasks read them);
    ``knobs``: settings whose product default is kept when None."""
    folder = work / phase
    folder.mkdir()
    (folder / "partners.toml").write_text(registry(base, "123456782RM0001"))
    os.environ.update(
        {
            "CARM_DATA_DIR": str(folder),
            "CARM_PARTNERS_PATH": str(folder / "partners.toml"),
            "CARM_LEDGER_URL": f"sqlite:///{folder / 'ledger.sqlite'}",
            "CARM_PORTAL_URL": portal_url,
            "CARM_BATCH_SIZE": str(batch_size),
        }
    )
    for name, value in knobs.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = str(value)


def airflow_dag(work: Path) -> Any:
    """Airflow's database made and the project's ``carm_inbound`` DAG loaded (not timed)."""
    home = work / "airflow"
    home.mkdir()
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT / "dags"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            "AIRFLOW__CORE__MAX_MAP_LENGTH": "4096",
        }
    )
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils import db

    db.initdb()
    return DagBag(dag_folder=str(PROJECT / "dags")).dags["carm_inbound"]


def run_dag(dag: Any) -> float:
    started = time.perf_counter()
    run = dag.test()
    elapsed = time.perf_counter() - started
    if run.state != "success":
        raise SystemExit(f"the DAG run failed: {run.state}")
    return elapsed


def run_loop() -> float:
    from gateway import service
    from gateway.settings import Settings

    started = time.perf_counter()
    service.process_once(Settings())
    return time.perf_counter() - started


class Counts(logging.Handler):
    """What one phase asked of the SFTP server, the portal and the databases, from public hooks:
    paramiko's debug log names every SFTP request a client waits for (open, close, stat, lstat,
    posix_rename, readv, listdir, mkdir; a reader's fstat is not logged and is counted with its
    open; pipelined writes, not waited for one by one, are not counted), httpx's log every HTTP request, SQLAlchemy's ``commit`` event every committed
    transaction, by database (the ledger, the portal's, Airflow's own: task states and XComs)."""

    REQUESTS = frozenset(
        ("open", "close", "stat", "lstat", "posix_rename", "rename", "readv", "listdir", "mkdir", "remove")
    )

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.sftp: collections.Counter[str] = collections.Counter()
        self.http = 0
        self.commits: collections.Counter[str] = collections.Counter()

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == "httpx":
            self.http += 1
            return
        text = record.getMessage()
        kind = text.split("(", 1)[0].rsplit(" ", 1)[-1]
        if kind not in self.REQUESTS or " -> " in text:  # session messages; an open's second line (its handle)
            return
        self.sftp[kind] += 1
        if kind == "open" and ("'r'" in text or "'rb'" in text):
            self.sftp["fstat"] += 1  # a reader asks the file's size (not logged)

    def commit(self, connection: Any) -> None:
        self.commits[Path(connection.engine.url.database or "memory").stem] += 1

    def __enter__(self) -> Counts:
        from sqlalchemy import Engine, event

        for name, level in (("paramiko.transport.sftp", logging.DEBUG), ("httpx", logging.INFO)):
            logger = logging.getLogger(name)
            logger.addHandler(self)
            logger.setLevel(level)
            logger.disabled = False  # Airflow's logging set-up disables loggers it does not name
            logger.propagate = False  # counted, not printed
        event.listen(Engine, "commit", self.commit)
        return self

    def __exit__(self, *exc: object) -> None:
        from sqlalchemy import Engine, event

        event.remove(Engine, "commit", self.commit)
        for name in ("paramiko.transport.sftp", "httpx"):
            logger = logging.getLogger(name)
            logger.removeHandler(self)
            logger.propagate = True

    def per_file(self, files: int) -> dict[str, Any]:
        counts = {"sftp requests": sum(self.sftp.values()), "portal requests": self.http}
        counts.update({f"commits {database}": n for database, n in self.commits.items()})
        return {key: round(value / files, 2) for key, value in counts.items()} | {
            "sftp by kind": {k: round(v / files, 2) for k, v in sorted(self.sftp.items())}
        }


def outcome(sshd: Any, base: str, files: int) -> dict[str, int]:
    """What came out: archived originals, acknowledgements, accepted declarations (from the reports)."""
    root = sshd.root / base
    reports = [json.loads(p.read_text()) for p in (root / "outbox").glob("*.report.json")]
    return {
        "archived": sum(1 for _ in (root / "archive").rglob("*__*")),
        "acknowledgements": sum(1 for _ in (root / "outbox").iterdir()),
        "accepted": sum(1 for r in reports for d in r["documents"] if d["status"] == "accepted"),
        "left in inbox": sum(1 for _ in (root / "inbox").iterdir()),
    }


def latencies(text: str) -> list[float]:
    """``--latency-ms``: one latency or several, comma-separated (``0,50``)."""
    values = [float(part) for part in text.split(",") if part.strip()]
    if not values or any(value < 0 for value in values):
        raise argparse.ArgumentTypeError(f"latencies in ms, 0 or more, comma-separated: {text!r}")
    return values


def phases(latencies: list[float], loop_latency: float, rounds: int, only: str | None) -> list[tuple[str, float]]:
    """The timed runs, (``dag`` or ``loop``, latency): every round runs the DAG at each latency and
    the loop at ``loop_latency`` (``only`` the loop: at each latency); odd rounds in reverse order,
    so a drift of the machine's pace evens out."""
    order = [("dag", latency) for latency in latencies] if only != "loop" else []
    if only != "dag":
        order += [("loop", latency) for latency in (latencies if only == "loop" else [loop_latency])]
    return [phase for r in range(rounds) for phase in (order if r % 2 == 0 else order[::-1])]


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument(
        "--latency-ms",
        type=latencies,
        default=[0.0, 50.0],
        help="the portal's delay on every answer: the DAG runs at each (comma-separated; default 0,50)",
    )
    parser.add_argument(
        "--loop-latency-ms", type=float, default=None, help="the loop's portal delay (default: the largest latency)"
    )
    parser.add_argument("--only", choices=("dag", "loop"), help="time only the DAG or only the loop")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of every run, alternating their order")
    parser.add_argument("--concurrency", type=int, help="CARM_PORTAL_CONCURRENCY (default: the product's)")
    parser.add_argument("--files-in-flight", type=int, help="CARM_FILES_IN_FLIGHT (default: the product's)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--count", action="store_true", help="count SFTP requests, portal requests and commits per file (slower)"
    )
    args = parser.parse_args(argv)
    loop_latency = max(args.latency_ms) if args.loop_latency_ms is None else args.loop_latency_ms
    runs = phases(args.latency_ms, loop_latency, args.rounds, args.only)
    if len(runs) > 9:
        raise SystemExit("at most 9 timed runs (their transaction numbers carry the run's digit)")

    from benchmarks.machine_pace import reference_loop_seconds
    from portal.server import PortalServer
    from tests.servers import SFTP_CONN_ID, running_sshd, set_connection

    results: dict[str, Any] = {
        "machine pace before (s)": round(reference_loop_seconds(), 3),
        "load average before": [round(x, 1) for x in os.getloadavg()],
        "files": args.files,
        "declarations": args.files * DECLARATIONS_PER_FILE,
        "batch_size": args.batch_size,
        "concurrency": args.concurrency or "product default",
        "files in flight": args.files_in_flight or "product default",
    }
    knobs = {"CARM_PORTAL_CONCURRENCY": args.concurrency, "CARM_FILES_IN_FLIGHT": args.files_in_flight}
    timings: dict[tuple[str, float], list[float]] = collections.defaultdict(list)
    with running_sshd() as sshd, tempfile.TemporaryDirectory(prefix="carm-bench-") as folder:
        work = Path(folder)
        set_connection(SFTP_CONN_ID, sshd.connection())
        tariff = PROJECT / "fixtures" / "reference" / "tariff.csv"
        dag = None
        if args.only != "loop":
            dag = airflow_dag(work)
            # One run on an empty inbox first: what a running Airflow has already done once (its
            # in-process execution API built, the gateway's modules imported) is not timed per run.
            base = f"bench-warm-{uuid.uuid4().hex[:6]}"
            upload(sshd, base, 0, 0, work)
            with PortalServer(f"sqlite:///{work / 'portal-warm.sqlite'}", tariff) as portal:
                configure(work, "warm", portal.url, base, args.batch_size, knobs)
                results["dag warm-up seconds (empty inbox, not counted)"] = round(run_dag(dag), 2)
        for number, (kind, latency) in enumerate(runs, start=1):
            label = f"{kind} {latency:g} ms #{len(timings[kind, latency]) + 1}"
            base = f"bench-{kind}-{number}-{uuid.uuid4().hex[:6]}"
            upload(sshd, base, args.files, number, work)
            database = f"sqlite:///{work / f'portal-{number}.sqlite'}"
            with (
                PortalServer(database, tariff, latency_ms=latency) as portal,
                Counts() if args.count else contextlib.nullcontext() as counts,
            ):
                configure(work, f"run-{number}", portal.url, base, args.batch_size, knobs)
                cpu = time.process_time()
                seconds = run_dag(dag) if kind == "dag" else run_loop()
                cpu = time.process_time() - cpu
            timings[kind, latency].append(seconds)
            entry: dict[str, Any] = {
                "seconds": round(seconds, 2),
                "cpu seconds (this process: gateway, portal, Airflow)": round(cpu, 2),
                "outcome": outcome(sshd, base, args.files),
                "load average": [round(x, 1) for x in os.getloadavg()],
            }
            if counts is not None:
                entry["per file"] = counts.per_file(args.files)
            results[label] = entry
    medians = {f"{kind} {latency:g} ms": round(median(times), 2) for (kind, latency), times in timings.items()}
    results["median seconds"] = medians
    low, high = min(args.latency_ms), max(args.latency_ms)
    for kind in ("dag", "loop"):
        if low != high and (kind, low) in timings and (kind, high) in timings:
            results[f"ratio {kind} {high:g} ms / {kind} {low:g} ms"] = round(
                median(timings[kind, high]) / median(timings[kind, low]), 3
            )
    if ("loop", loop_latency) in timings and ("dag", loop_latency) in timings:
        results[f"ratio dag / loop at {loop_latency:g} ms"] = round(
            median(timings["dag", loop_latency]) / median(timings["loop", loop_latency]), 3
        )
    results["machine pace after (s)"] = round(reference_loop_seconds(), 3)
    results["load average after"] = [round(x, 1) for x in os.getloadavg()]
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for key, value in results.items():
            print(f"{key:>20}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
