"""A poison file (one whose flow raises an unexpected error) never stops the other
files of its run; after ``max_failed_attempts`` runs (default 3) it ends failed:
internal error, quarantined and answered, and never comes back to the inbox.

The error is injected in the test only: the CUSDEC mapper, as the flows call it,
raises for one message (as ``int()`` did on a Unicode digit in a BGM, issue 15).
The runs go through ``carm-edi process``'s entry point and through the DAG, with
the embedded portal over HTTP and the ledger on SQLite.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gateway import service
from gateway.flows import cusdec
from gateway.operator import Requester
from gateway.settings import Settings
from ledger import Ledger
from ledger.tables import FileRecord
from parsers.edifact.model import Message
from tests.ack_reader import read_contrls, read_cusres
from tests.conftest import FIXTURES, fixture_file

POISON = "a_poison.edi"  # v02_multi_message.edi under a name that sorts first in the inbox
POISON_MESSAGE = "1020700030003600001"  # BGM document number of v02's second message
GOOD = "v01_single.edi"  # a valid CUSDEC after it in the same inbox
PAYMENT = "v01_account_only.xml"  # another partner's pain.001
DAGS_FOLDER = Path(__file__).resolve().parents[1] / "dags"


@pytest.fixture
def poisoned(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CUSDEC mapper raises for v02's second message, whatever the file."""
    mapper = cusdec.map_cusdec

    def crashing(message: Message, *args: Any, **kwargs: Any) -> Any:
        bgm = next(segment for segment in message.segments if segment.tag == "BGM")
        if bgm.get(2) == POISON_MESSAGE:
            raise ValueError("invalid literal for int() with base 10: '²' (injected)")
        return mapper(message, *args, **kwargs)

    monkeypatch.setattr(cusdec, "map_cusdec", crashing)


@pytest.fixture
def inboxes(gateway_settings: Settings, deliver: Callable[..., Path]) -> Path:
    inbox = deliver(GOOD, partner="broker01")
    (inbox / POISON).write_bytes(fixture_file("v02_multi_message.edi").read_bytes())
    bank = deliver(partner="bank01")
    (bank / PAYMENT).write_bytes((FIXTURES / "payments" / "pain001" / "valid" / PAYMENT).read_bytes())
    return gateway_settings.resolved_data_dir / "partners"


def _record(settings: Settings, name: str) -> FileRecord:
    ledger = Ledger(settings.ledger_database_url())
    try:
        [record] = [r for r in ledger.files() if r.name == name and r.duplicate_of is None]
        return record
    finally:
        ledger.dispose()


def _answers(settings: Settings, file_id: int) -> dict[str, bytes]:
    """The file's acknowledgements, by kind, read where the ledger says they are."""
    ledger = Ledger(settings.ledger_database_url())
    try:
        rows = ledger.acknowledgements(file_id)
    finally:
        ledger.dispose()
    partners = settings.resolved_data_dir / "partners"
    return {row.kind: (partners / row.location).read_bytes() for row in rows}


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) if folder.exists() else []


def _assert_failed(settings: Settings, partners: Path, attempts: int) -> None:
    """The poison file's end: failed, quarantined with its reason, answered, gone from the inbox."""
    record = _record(settings, POISON)
    assert (record.state, record.outcome, record.failures) == ("failed", "failed", attempts)
    assert record.note is not None and record.note.startswith(f"internal error (failed attempt {attempts} of ")
    assert "ValueError: invalid literal for int()" in record.note
    assert _files(partners / "broker01" / "inbox") == []
    assert _files(partners / "broker01" / "processing") == []
    assert record.location is not None and Path(record.location).name.endswith(f"__{POISON}")
    assert Path(record.location).read_bytes() == fixture_file("v02_multi_message.edi").read_bytes()
    assert Path(record.location + ".reason.txt").read_text().startswith("internal error")
    answers = _answers(settings, record.id)
    assert set(answers) == {"contrl", "report"}
    [contrl] = read_contrls(answers["contrl"])
    assert contrl["uci"]["action"] == "4"  # the interchange is rejected ...
    assert contrl["uci"]["code"] == "18"  # ... "unspecified error": the gateway could not process it
    report = json.loads(answers["report"])
    assert report["accepted"] is False
    [error] = report["errors"]
    assert error["code"] == "INTERNAL" and "could not process this file" in error["message"]
    assert "ValueError" not in error["message"]  # the details are the operator's, not the partner's


def test_a_poison_file_stops_nothing_and_fails_after_three_runs(
    gateway_settings: Settings, inboxes: Path, poisoned: None
) -> None:
    first = service.process_once(gateway_settings, run_id="run-1")
    states = {(p.partner, p.name): p.state for p in first}
    assert states == {("broker01", POISON): "released", ("broker01", GOOD): "archived", ("bank01", PAYMENT): "archived"}
    [poison] = [p for p in first if p.name == POISON]
    assert [e.code for e in poison.report.errors] == ["INTERNAL"]
    record = _record(gateway_settings, POISON)
    assert (record.state, record.failures) == ("released", 1)
    assert _files(inboxes / "broker01" / "inbox") == [POISON]  # back for the next run, nothing answered yet
    assert _answers(gateway_settings, record.id) == {}
    good = _answers(gateway_settings, _record(gateway_settings, GOOD).id)
    [messages] = read_cusres(good["cusres"])
    assert [m["status"] for m in messages] == ["40"]  # the valid CUSDEC after it was posted and accepted
    assert _record(gateway_settings, PAYMENT).state == "archived"

    second = service.process_once(gateway_settings, run_id="run-2")
    assert [(p.name, p.state) for p in second] == [(POISON, "released")]
    assert _record(gateway_settings, POISON).failures == 2

    third = service.process_once(gateway_settings, run_id="run-3")
    assert [(p.name, p.state) for p in third] == [(POISON, "failed")]
    summary = service.summarize([{"files": [service.file_summary(p) for p in third]}])
    assert summary["failed"] == 1 and summary["failed_files"] == [POISON]
    _assert_failed(gateway_settings, inboxes, attempts=3)

    assert service.process_once(gateway_settings, run_id="run-4") == []  # it never returns to crash a run


def test_an_operator_reprocesses_a_failed_file_with_its_attempts_reset(
    gateway_settings: Settings, inboxes: Path, poisoned: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CARM_MAX_FAILED_ATTEMPTS", "1")
    settings = Settings()
    assert {p.name: p.state for p in service.process_once(settings)}[POISON] == "failed"
    _assert_failed(settings, inboxes, attempts=1)
    monkeypatch.undo()  # the bug is fixed
    result = service.reprocess(settings, Requester("tester", "cli"), file_ids=[_record(settings, POISON).id])
    assert [(f["name"], f["state"]) for f in result["files"]] == [(POISON, "archived")]
    record = _record(settings, POISON)
    assert (record.state, record.failures) == ("archived", 0)


def test_through_the_dag_the_others_are_processed_and_the_poison_file_fails_on_the_third_run(
    airflow_db: None, gateway_settings: Settings, inboxes: Path, poisoned: None
) -> None:
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(DAGS_FOLDER)).dags["carm_inbound"]
    for run in (1, 2, 3):
        result = dag.test()
        # the first two failed attempts put the file back for the next run; the third fails it, and the run
        assert result.state == ("failed" if run == 3 else "success"), f"run {run}"
        record = _record(gateway_settings, POISON)
        assert record.failures == run
        if run == 1:
            assert _record(gateway_settings, GOOD).state == "archived"
            assert _record(gateway_settings, PAYMENT).state == "archived"
        time.sleep(0.01)
    states = {ti.task_id: ti.state for ti in result.get_task_instances() if ti.map_index < 0}
    assert (states["summary"], states["verdict"]) == ("success", "failed")  # failed after the others were served
    _assert_failed(gateway_settings, inboxes, attempts=3)
