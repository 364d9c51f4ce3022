"""Operator paths as an operator runs them (``carm-edi`` in a subprocess, the
embedded portal over HTTP, a SQLite ledger): ``ledger show`` by file, interchange
and transaction; ``reprocess --file`` of a quarantined file and ``reprocess
--parked`` after a portal outage, with the file's history kept; the DAG's
``reprocess`` param through plan_batches/run_batch."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gateway import service
from gateway.settings import Settings
from ledger import Ledger
from tests.ack_reader import ack_path

CLI = [sys.executable, "-m", "gateway.cli"]


def cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, Any]:
    result = subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})}
    )
    assert "Traceback" not in result.stderr, result.stderr
    try:
        return result.returncode, json.loads(result.stdout)
    except ValueError:
        return result.returncode, result.stdout


def file_ids(settings: Settings) -> dict[str, int]:
    ledger = Ledger(settings.ledger_database_url())
    try:
        return {r.name: r.id for r in ledger.files()}
    finally:
        ledger.dispose()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_ledger_show_and_reprocess_a_quarantined_file(gateway_settings: Settings, deliver: Callable[..., Path]) -> None:
    deliver("v01_single.edi", "i10_bad_date.edi")
    code, _ = cli("process", "--json")
    ids = file_ids(gateway_settings)

    code, shown = cli("ledger", "show", "--file", str(ids["i10_bad_date.edi"]), "--json")
    assert code == 0
    [view] = shown["files"]
    assert view["state"] == "quarantined" and "20251345" in view["note"]
    assert [(e["from"], e["to"]) for e in view["history"]] == [
        ("received", "claiming"), ("claiming", "claimed"), ("claimed", "acknowledged"), ("acknowledged", "quarantined"),
    ]  # fmt: skip
    assert sorted(a["kind"] for a in view["acknowledgements"]) == ["contrl", "report"]

    code, shown = cli("ledger", "show", "--interchange", "BROKER01:IC0001", "--json")
    assert code == 0 and [f["name"] for f in shown["files"]] == ["v01_single.edi"]
    code, shown = cli("ledger", "show", "--transaction", "10207000300014", "--json")
    assert code == 0
    assert [(v["version"], v["status"]) for v in shown["versions"]] == [(1, "40")]
    assert shown["versions"][0]["idempotency_key"].startswith("cad-10207000300014-00001-")
    code, text = cli("ledger", "show", "--file", str(ids["v01_single.edi"]))
    assert code == 0 and "archived" in text and "acknowledgement cusres" in text
    code, _ = cli("ledger", "show", "--file", "999")
    assert code == 2

    outbox = gateway_settings.resolved_data_dir / "partners" / "broker01" / "outbox"
    before = ack_path(outbox, "i10_bad_date.edi", "contrl.edi").read_bytes()
    code, result = cli("reprocess", "--file", str(ids["i10_bad_date.edi"]), "--json")
    assert [f["state"] for f in result["files"]] == ["quarantined"]  # same bytes, same verdict
    assert ack_path(outbox, "i10_bad_date.edi", "contrl.edi").read_bytes() == before  # rewritten identically
    code, shown = cli("ledger", "show", "--file", str(ids["i10_bad_date.edi"]), "--json")
    [view] = shown["files"]
    assert view["id"] == ids["i10_bad_date.edi"] and view["attempts"] == 2  # the same record, continued
    moves = [(e["from"], e["to"]) for e in view["history"]]
    assert moves[3:] == [
        ("acknowledged", "quarantined"), ("quarantined", "released"), ("released", "claimed"),
        ("claimed", "acknowledged"), ("acknowledged", "quarantined"),
    ]  # fmt: skip
    assert file_ids(gateway_settings) == ids  # no new record
    code, _ = cli("reprocess", "--file", str(ids["v01_single.edi"]), "--json")  # archived: nothing to do
    assert code == 0


def test_reprocess_the_parked_files_after_a_portal_outage(
    gateway_settings: Settings, deliver: Callable[..., Path]
) -> None:
    deliver("v01_single.edi", "v02_multi_message.edi")
    down = {"CARM_PORTAL_URL": f"http://127.0.0.1:{closed_port()}", "CARM_PORTAL_MAX_ATTEMPTS": "2"}
    code, result = cli("process", "--json", env=down)
    assert code == 1
    assert [f["state"] for f in result["files"]] == ["parked", "parked"]
    assert result["summary"]["parked"] == 2
    assert result["files"][0]["errors"][0].startswith("[PARKED]")

    code, result = cli("reprocess", "--parked", "--json")
    assert code == 0
    assert [(f["name"], f["state"]) for f in result["files"]] == [
        ("v01_single.edi", "archived"),
        ("v02_multi_message.edi", "archived"),
    ]
    code, shown = cli("ledger", "show", "--file", "1", "--json")
    notes = [e["note"] or "" for e in shown["files"][0]["history"]]
    assert any("parked until" in n for n in notes) and any("reprocess requested" in n for n in notes)
    code, _ = cli("reprocess", "--parked")
    assert code == 2  # nothing parked any more


def test_the_dag_param_reprocesses_a_quarantined_file(gateway_settings: Settings, deliver: Callable[..., Path]) -> None:
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(Path(__file__).resolve().parents[1] / "dags")).dags["carm_inbound"]
    assert dag.params["reprocess"] == []

    deliver("i10_bad_date.edi")
    [batch] = service.plan_batches(gateway_settings)
    [first] = service.run_batch(gateway_settings, batch, "run-1")["files"]
    assert first["state"] == "quarantined"
    file_id = file_ids(gateway_settings)["i10_bad_date.edi"]
    assert service.plan_batches(gateway_settings) == []

    [batch] = service.plan_batches(gateway_settings, reprocess=[file_id])
    assert batch["files"] == ["i10_bad_date.edi"]
    [again] = service.run_batch(gateway_settings, batch, "run-2")["files"]
    assert again["state"] == "quarantined"
    assert file_ids(gateway_settings) == {"i10_bad_date.edi": file_id}
