"""A ``carm_inbound`` DAG run SIGKILLed in the middle and run again ends in the same
state as a run that was never interrupted: same portal declarations, same
acknowledgements, same ledger states, nothing left in the inbox or processing/.

Two worlds (data folder, portal database, ledger), one Airflow database. World A:
one ``dag.test()``. World B: ``dag.test()`` in a child process that SIGKILLs itself
after the portal answered v01's post (``tests.faults``), before any answer to
v01 was written; then ``dag.test()`` again, whose ``list_batches`` finds v01 in
processing/ (its lease ended) and resumes it.

Within one world, a rerun rewrites an acknowledgement byte for byte (its dates are
the ledger's ``received_at`` of the file, tests/test_fault_matrix.py). Across the
two worlds the files were received at different times, so the comparison leaves
out the two fields that carry that time: UNB S004 (preparation date/time) and
CUSRES DTM+137 (issue date/time); every other segment and element must be equal.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from portal.server import PortalServer
from tests.ack_reader import has_ack
from tests.conftest import FIXTURES, PROJECT_ROOT, fixture_file
from tests.test_dag import edifact_segments

PARTNER = "broker01"
FILES = ["i10_bad_date.edi", "i11_unknown_hs.edi", "v01_single.edi", "v02_multi_message.edi", "v04_correction.edi"]
RUN_DAG = """
import sys
if len(sys.argv) > 1:
    from tests.faults import kill_dag_pipelines_at
    kill_dag_pipelines_at(sys.argv[1])
from airflow.dag_processing.dagbag import DagBag
run = DagBag(dag_folder=%r).dags["carm_inbound"].test()
print("STATE", run.state)
"""


def _env(world: dict[str, Any]) -> dict[str, str]:
    values = {
        "CARM_DATA_DIR": str(world["data"]),
        "CARM_LEDGER_URL": f"sqlite:///{world['root'] / 'ledger.sqlite'}",
        "CARM_PORTAL_URL": world["server"].url,
        "CARM_PORTAL_BACKOFF_SECONDS": "0.01",
        # One batch, one file at a time: its files go in name order (mapped batches may run in
        # any order, files in flight in any order), so "the second post" is v01's in every run,
        # and v04 (an adjustment of v01) follows v01.
        "CARM_BATCH_SIZE": "5",
        "CARM_PORTAL_CONCURRENCY": "1",
        "CARM_CLAIM_LEASE_SECONDS": "1",
        "CARM_QUIET_SECONDS": "0",  # the files are copied in whole before the run
        "PYTHONPATH": str(PROJECT_ROOT),
    }
    return {**os.environ, **values}


def _dag_test(world: dict[str, Any], kill: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", RUN_DAG % str(PROJECT_ROOT / "dags"), *([kill] if kill else [])],
        env=_env(world), cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def _normalized(path: Path) -> list[tuple[str, list[Any]]]:
    segments = []
    for tag, elements in edifact_segments(path):
        if tag == "UNB":
            elements = [*elements[:3], "<prepared>", *elements[4:]]
        if tag == "DTM" and elements and isinstance(elements[0], list) and elements[0][0] == "137":
            elements = ["<issued>"]
        segments.append((tag, elements))
    return segments


def _state(world: dict[str, Any]) -> dict[str, Any]:
    partner = world["data"] / "partners" / PARTNER
    outbox = {}
    for path in sorted((partner / "outbox").iterdir()):
        if path.name.startswith("."):
            continue
        outbox[path.name] = json.loads(path.read_text()) if path.suffix == ".json" else _normalized(path)
    engine = create_engine(f"sqlite:///{world['root'] / 'portal.sqlite'}")
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT transaction_number, version, function, status, outcome FROM portal_declarations ORDER BY transaction_number, version"
            )
        ).all()
    engine.dispose()
    portal = []
    for txn, version, function, status, outcome in rows:
        outcome = json.loads(outcome) if isinstance(outcome, str) else outcome
        outcome.pop("received_at", None)
        portal.append((txn, version, function, status, outcome))
    ledger = create_engine(f"sqlite:///{world['root'] / 'ledger.sqlite'}")
    with ledger.connect() as connection:
        files = sorted(connection.execute(text("SELECT name, state FROM files")).all())
        documents = connection.execute(text("SELECT COUNT(*), COUNT(DISTINCT idempotency_key) FROM documents")).one()
    ledger.dispose()
    left = [
        p.name for area in ("inbox", "processing") for p in (partner / area).iterdir() if not p.name.startswith(".")
    ]
    archived = sorted(p.name.split("__", 1)[1] for p in (partner / "archive").rglob("*__*"))
    quarantined = sorted(
        p.name.split("__", 1)[1] for p in (partner / "quarantine").rglob("*__*") if not p.name.endswith(".reason.txt")
    )
    return {
        "outbox": outbox,
        "portal": portal,
        "files": files,
        "documents": tuple(documents),
        "left": left,
        "archived": archived,
        "quarantined": quarantined,
    }


@pytest.fixture
def worlds(airflow_db: None, tmp_path: Path) -> Any:
    made = {}
    servers = []
    for name in ("a", "b"):
        root = tmp_path / name
        inbox = root / "data" / "partners" / PARTNER / "inbox"
        inbox.mkdir(parents=True)
        for file in FILES:
            shutil.copyfile(fixture_file(file), inbox / file)
        server = PortalServer(f"sqlite:///{root / 'portal.sqlite'}", FIXTURES / "reference" / "tariff.csv").__enter__()
        servers.append(server)
        made[name] = {"root": root, "data": root / "data", "server": server}
    yield made
    for server in servers:
        server.__exit__(None, None, None)


def test_an_interrupted_dag_run_and_its_rerun_equal_an_uninterrupted_run(worlds: dict[str, Any]) -> None:
    a, b = worlds["a"], worlds["b"]
    clean = _dag_test(a)
    assert "STATE success" in clean.stdout, clean.stderr[-3000:]

    killed = _dag_test(b, kill="posted:2")  # i11's post (rejected by the portal), then v01's: killed
    assert killed.returncode == -9, killed.stderr[-3000:]
    partner = b["data"] / "partners" / PARTNER
    assert any(p.name.endswith("__v01_single.edi") for p in (partner / "processing").iterdir())
    assert not has_ack(partner / "outbox", "v01_single.edi", "cusres.edi")
    time.sleep(1.2)  # the killed worker's lease ends
    rerun = _dag_test(b)
    assert "STATE success" in rerun.stdout, rerun.stderr[-3000:]

    expected, actual = _state(a), _state(b)
    assert actual["left"] == [] and expected["left"] == []
    assert actual["portal"] == expected["portal"]
    assert actual["outbox"].keys() == expected["outbox"].keys()
    for name in expected["outbox"]:
        assert actual["outbox"][name] == expected["outbox"][name], name
    assert actual == expected
    assert len(expected["portal"]) >= 4  # v01, v02 x 3 (and v04 when its correction is accepted)
