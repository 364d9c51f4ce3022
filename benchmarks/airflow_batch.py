"""Benchmark: CUSDEC files over real SFTP through the ``carm_inbound`` DAG.

1,000 small files of 5 declarations each are uploaded with OpenSSH's ``sftp``
in batch mode to a real sshd on 127.0.0.1 (each to a temporary name, then
renamed into place: the partner is registered ``uploads = { mode = "rename" }``),
processed by the DAG with ``dag.test()`` (mapped batches, posts to the embedded
portal over HTTP, CONTRL/CUSRES/report written back over SFTP, originals
archived), and the same work is then done again by ``service.process_once``
(``carm-edi process``: the DAG's planner, every batch in turn in one process), on
fresh files, a fresh portal database and a fresh ledger.

``--latency-ms`` makes the portal answer every request that much later (a
distant portal); ``--concurrency`` is ``CARM_PORTAL_CONCURRENCY``, the posts (and
files) in flight per worker (8, the product's default). ``--count`` adds what each
file cost: SFTP requests, HTTP requests and commits by database (``Counts``).

The DAG first runs once, untimed, on an empty inbox: what a running Airflow has
already done (``dag.test()`` builds its in-process execution API on the first task,
a minute under load; the gateway's modules are imported) is not charged to the
timed run, as the loop, which runs after it in the same process, never was. The
machine's pace (``benchmarks/machine_pace.py``) and load are printed before and after.

Reports the wall time of each and their ratio. Targets: issue 4, DAG ≤ 120 s on
this 2-core machine, ratio DAG / loop ≤ 1.5; issue 18, with 50 ms of latency the
DAG within 1.15× its time at 0 ms, ratio DAG / loop ≤ 1.3.

Run: ``.venv/bin/python benchmarks/airflow_batch.py`` (root: it starts sshd
for a dedicated user, as the tests do); ``--files 50`` for a quick run.
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


def configure(work: Path, phase: str, portal_url: str, base: str, batch_size: int, concurrency: int) -> None:
    """The gateway's settings for one phase, as environment variables (the DAG's tasks read them)."""
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
            "CARM_PORTAL_CONCURRENCY": str(concurrency),
        }
    )


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="the portal's delay on every answer")
    parser.add_argument("--concurrency", type=int, default=8, help="posts (and files) in flight per worker")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--count", action="store_true", help="count SFTP requests, portal requests and commits per file (slower)"
    )
    args = parser.parse_args(argv)

    from benchmarks.machine_pace import reference_loop_seconds
    from portal.server import PortalServer
    from tests.servers import SFTP_CONN_ID, running_sshd, set_connection

    results: dict[str, Any] = {
        "machine pace before (s)": round(reference_loop_seconds(), 3),
        "load average before": [round(x, 1) for x in os.getloadavg()],
        "files": args.files,
        "declarations": args.files * DECLARATIONS_PER_FILE,
        "batch_size": args.batch_size,
        "latency_ms": args.latency_ms,
        "concurrency": args.concurrency,
    }
    with running_sshd() as sshd, tempfile.TemporaryDirectory(prefix="carm-bench-") as folder:
        work = Path(folder)
        set_connection(SFTP_CONN_ID, sshd.connection())
        tariff = PROJECT / "fixtures" / "reference" / "tariff.csv"
        dag = airflow_dag(work)
        # One run on an empty inbox first: what a running Airflow has already done once (its
        # in-process execution API built, the gateway's modules imported) is not timed per run.
        base = f"bench-warm-{uuid.uuid4().hex[:6]}"
        upload(sshd, base, 0, 0, work)
        with PortalServer(f"sqlite:///{work / 'portal-warm.sqlite'}", tariff) as portal:
            configure(work, "warm", portal.url, base, args.batch_size, args.concurrency)
            results["dag warm-up seconds (empty inbox, not counted)"] = round(run_dag(dag), 2)
        for phase, label in ((1, "dag"), (2, "loop")):
            base = f"bench-{label}-{uuid.uuid4().hex[:6]}"
            upload(sshd, base, args.files, phase, work)
            database = f"sqlite:///{work / f'portal-{label}.sqlite'}"
            with (
                PortalServer(database, tariff, latency_ms=args.latency_ms) as portal,
                Counts() if args.count else contextlib.nullcontext() as counts,
            ):
                configure(work, label, portal.url, base, args.batch_size, args.concurrency)
                results[f"{label} seconds"] = round(run_dag(dag) if label == "dag" else run_loop(), 2)
            if counts is not None:
                results[f"{label} per file"] = counts.per_file(args.files)
            results[f"{label} outcome"] = outcome(sshd, base, args.files)
    results["ratio dag/loop"] = round(results["dag seconds"] / results["loop seconds"], 2)
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
