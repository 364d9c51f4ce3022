"""Benchmark and proof: the gateway scaled out on Airflow's CeleryExecutor (issue 21).

Starts the production-shaped deployment of ``tests/deployment.py`` (PostgreSQL for
Airflow, the ledger and the portal; Redis as Celery broker; scheduler, dag-processor,
api-server and Celery workers as separate processes; local, SFTP and S3 partners),
delivers ``--files-per-partner`` CUSDEC files to each of the three partners, and keeps
the project's DAG and its twin (same inboxes: overlapping plans) running until the
ledger holds every file final. With faults (the default): one worker SIGKILLed at 25 %
and restarted, the portal stopped at 50 % for 10 s. Then it audits the outcome (files
lost, declarations posted twice, answers per file, ledger histories: all must be 0)
and prints files per minute and declarations per second.

Run (root: it starts sshd as the tests do):
``.venv/bin/python benchmarks/scale_out.py`` (2,001 files, 2 workers, faults);
``--files-per-partner 100 --workers 1 --no-faults --latency-ms 200`` (and ``--workers 2``)
for the scaling figure: the portal's latency makes the work wait rather than compute, so
that a second worker on the same 2 cores has waits to overlap.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files-per-partner", type=int, default=667)
    parser.add_argument("--declarations", type=int, default=2, help="declarations per file")
    parser.add_argument("--workers", type=int, choices=(1, 2), default=2)
    parser.add_argument("--batch-size", type=int, default=25)
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="the embedded portal answers every request this late"
    )
    parser.add_argument(
        "--portal-concurrency",
        type=int,
        default=1,
        help="posts (and files) in flight per task (CARM_PORTAL_CONCURRENCY)",
    )
    parser.add_argument("--no-faults", action="store_true", help="no worker kill, no portal outage")
    parser.add_argument("--timeout", type=float, default=3600.0)
    parser.add_argument("--redis-db", type=int, default=14, help="the broker's Redis database (flushed)")
    args = parser.parse_args(argv)

    from tests.deployment import PARTNERS, deployment
    from tests.scale_out import SETTINGS, audit, deliver, drive, findings
    from tests.servers import running_sshd, running_weed

    files = args.files_per_partner * len(PARTNERS)
    faults: dict[str, Any] = {"kill_at": None, "outage_at": None} if args.no_faults else {}
    started = time.monotonic()
    settings = {**SETTINGS, "batch_size": str(args.batch_size), "portal_concurrency": str(args.portal_concurrency)}
    with (
        running_sshd() as sshd,
        running_weed() as s3,
        deployment(sshd, s3, args.workers, args.redis_db, args.latency_ms, **settings) as deploy,
    ):
        ready = time.monotonic() - started
        deliver(deploy, args.files_per_partner, args.declarations)
        run = drive(deploy, files, timeout=args.timeout, **faults)
        facts = audit(deploy)
    problems = findings(facts, args.files_per_partner, args.declarations)
    results = {
        "files": files,
        "declarations": files * args.declarations,
        "workers": args.workers,
        "faults": not args.no_faults,
        "portal latency ms": args.latency_ms,
        "portal concurrency": args.portal_concurrency,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load average at the end": [round(x, 1) for x in os.getloadavg()],
        "start-up seconds": round(ready, 1),
        "processing seconds": round(run.seconds, 1),
        "files per minute": round(files / run.seconds * 60, 1),
        "declarations per second": round(files * args.declarations / run.seconds, 2),
        "runs": run.runs,
        "events": run.events,
        "overlapping runs of the two DAGs": run.overlapping_runs(),
        "lost claim races": facts.lost_claim_races,
        "take-overs": facts.resumed,
        "parked": facts.parked,
        "outbox temporaries left": facts.outbox_temporaries,
        "problems": problems,
    }
    print(json.dumps(results, indent=2))
    return 1 if any(problems.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
