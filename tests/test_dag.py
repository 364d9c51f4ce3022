"""The ``carm_inbound`` DAG: it parses cheaply, and one run posts real
declarations to the embedded portal over HTTP and answers every file.

Expected values are worked out by hand from the fixtures, the message guide
(docs/formats/cusdec-cad.md) and the tariff (fixtures/reference/tariff.csv).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.settings import Settings
from portal.server import PortalServer
from tests.ack_reader import ack_path, has_ack

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DAGS_FOLDER = PROJECT_ROOT / "dags"
DAG_ID = "carm_inbound"
PARTNER = "broker01"

# Batches of 3 in name order: [i06, i10, i11] and [v01, v02, v04], so the
# change v04 runs after v01 in the same task (long after v01's due date: an adjustment, pending).
FILES = [
    "i06_unz_reference.edi",  # UNZ 0020 IC0196 differs from UNB 0020 IC0106: interchange rejected
    "i10_bad_date.edi",  # DTM+271:20251345: month 13, the only message rejected
    "i11_unknown_hs.edi",  # line 2 HS 6109999999 not in the tariff: the portal rejects it
    "v01_single.edi",
    "v02_multi_message.edi",
    "v04_correction.edi",  # version 2 of v01's transaction, treatment 10 (UST)
]

# Run in a fresh interpreter: which modules parsing the DAG file imports, and how long it takes.
_PARSE_PROBE = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
before = set(sys.modules)
bag = DagBag(dag_folder=sys.argv[1])
imported = sorted({m.split(".")[0] for m in set(sys.modules) - before})
print(json.dumps({"errors": {k: str(v) for k, v in bag.import_errors.items()},
                  "dags": sorted(bag.dags), "imported": imported}))
"""


# --- helpers ------------------------------------------------------------------------------


def edifact_segments(path: Path) -> list[tuple[str, list[Any]]]:
    """(tag, elements) of every segment, read with pydifact (independent of our reader)."""
    from pydifact.parser import Parser

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydifact has no D.96B/CONTRL directories: it warns per segment
        return [(s.tag, s.elements) for s in Parser().parse(path.read_text(encoding="latin-1"))]


def elements(segments: list[tuple[str, list[Any]]], tag: str) -> list[list[Any]]:
    return [e for t, e in segments if t == tag]


def messages(segments: list[tuple[str, list[Any]]]) -> list[list[tuple[str, list[Any]]]]:
    """The segments of each UNH..UNT message."""
    found: list[list[tuple[str, list[Any]]]] = []
    for tag, values in segments:
        if tag == "UNH":
            found.append([])
        if found and tag != "UNZ":
            found[-1].append((tag, values))
    return found


def assessed_totals(message: list[tuple[str, list[Any]]]) -> dict[str, str]:
    """CUSRES header totals: the MOA+124 after each TAX+7+{CUD,EXC,GST,TOT} before the DOC."""
    totals: dict[str, str] = {}
    kind = None
    for tag, values in message:
        if tag == "DOC":
            break
        if tag == "TAX":
            kind = values[1]
        elif tag == "MOA" and kind is not None:
            assert values[0][0] == "124" and values[0][2] == "CAD"
            totals[kind] = values[0][1]
    return totals


def line_amounts(message: list[tuple[str, list[Any]]]) -> list[dict[str, str]]:
    """Per CST line after the DOC: {"CUD 125": value for duty, "CUD 124": duty, "GST 125": ..., ...}."""
    lines: list[dict[str, str]] = []
    kind = None
    for tag, values in message:
        if tag == "CST":
            lines.append({})
        elif lines and tag == "TAX":
            kind = values[1]
        elif lines and tag == "MOA":
            lines[-1][f"{kind} {values[0][0]}"] = values[0][1]
    return lines


def first(items: list[Any]) -> Any:
    assert items, "expected at least one"
    return items[0]


def filed_away(settings: Settings, area: str) -> set[str]:
    """Original names of the files under archive/ or quarantine/ (stored as ``<claim>__<name>``)."""
    folder = settings.resolved_data_dir / "partners" / PARTNER / area
    return {p.name.split("__", 1)[1] for p in folder.rglob("*__*") if not p.name.endswith(".reason.txt")}


# --- parsing --------------------------------------------------------------------------------


def test_dag_file_parses_without_touching_the_gateway(tmp_path: Path) -> None:
    """No work at parse time: parsing imports none of the project's packages and creates
    nothing (what makes a parse slow; its wall time on a shared machine would prove nothing)."""
    data_dir = tmp_path / "never-created"
    env = {**os.environ, "CARM_DATA_DIR": str(data_dir), "PYTHONPATH": str(PROJECT_ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", _PARSE_PROBE, str(DAGS_FOLDER)],
        capture_output=True, text=True, env=env, cwd=PROJECT_ROOT, timeout=120, check=True,
    )  # fmt: skip
    probe = json.loads(result.stdout.strip().splitlines()[-1])
    assert probe["errors"] == {}
    assert probe["dags"] == sorted([DAG_ID, "carm_retention"])  # tests/test_retention.py runs the other
    assert not {"gateway", "portal", "ledger", "transports", "parsers", "mappings"} & set(probe["imported"])
    assert not data_dir.exists()


def test_dag_shape() -> None:
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(DAGS_FOLDER)).dags[DAG_ID]
    assert set(dag.task_ids) == {"list_batches", "process_batch", "summary", "verdict", "follow_up"}
    assert dag.catchup is False and dag.max_active_runs == 1
    process = dag.get_task("process_batch")
    assert process.map_index_template == "{{ batch_label }}"
    assert process.upstream_task_ids == {"list_batches"}
    assert process.downstream_task_ids == {"summary"}
    # the summary and the verdict run whatever became of the batches: a failed batch hides no other's files
    assert dag.get_task("summary").trigger_rule == "all_done"
    assert dag.get_task("verdict").trigger_rule == "all_done"
    assert dag.get_task("verdict").upstream_task_ids == {"summary"}


# --- one run end to end ---------------------------------------------------------------------


@pytest.fixture
def dag_run(
    airflow_db: None,
    gateway_settings: Settings,
    deliver: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, Any]:
    """Six fixture files in broker01's inbox, batches of 3, one ``dag.test()`` run."""
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("CARM_BATCH_SIZE", "3")
    deliver(*FILES, partner=PARTNER)
    dag = DagBag(dag_folder=str(DAGS_FOLDER)).dags[DAG_ID]
    start = time.perf_counter()
    run = dag.test()
    seconds = time.perf_counter() - start
    print(f"dag.test() took {seconds:.2f} s")
    return {"run": run, "seconds": seconds}


def _summary_xcom(run: Any) -> dict[str, Any]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        query = XComModel.get_many(run_id=run.run_id, key="return_value", task_ids="summary", dag_ids=DAG_ID)
        return XComModel.deserialize_value(session.scalars(query).one())


def test_run_maps_one_task_per_batch_named_after_it(dag_run: dict[str, Any]) -> None:
    run = dag_run["run"]
    assert run.state == "success"
    instances = run.get_task_instances()
    mapped = sorted((ti for ti in instances if ti.task_id == "process_batch"), key=lambda ti: ti.map_index)
    assert [(ti.map_index, ti.state, ti.rendered_map_index) for ti in mapped] == [
        (0, "success", "broker01 batch 1 (3 files)"),
        (1, "success", "broker01 batch 2 (3 files)"),
    ]
    # 6 files; accepted: v01, v02; pending: v04 (an adjustment waiting for approval, CARM 42); rejected:
    # i11 (sound interchange, its only declaration refused by the portal), i06 (interchange), i10 (message).
    # Documents: one message each, v02 three = 8; accepted: v01, v02 x3 = 4.
    inbox = {"files": 6, "accepted": 2, "pending": 1, "rejected": 3, "documents": 8, "documents_accepted": 4}
    assert _summary_xcom(run) == {
        "files": 6, "accepted": 2, "pending": 1, "rejected": 3, "documents": 8, "documents_accepted": 4,
        "inboxes": {PARTNER: inbox},
    }  # fmt: skip


def stored_note(run: Any) -> str | None:
    """The run's note as Airflow's database holds it (read in a new, unscoped session: not
    the run object's, nor the one ``dag.test()`` used)."""
    from airflow.models.dagrun import DagRunNote
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session(scoped=False) as session:
        return session.scalar(select(DagRunNote.content).where(DagRunNote.dag_run_id == run.id))


def test_the_runs_note_counts_the_outcomes_of_its_inbox(dag_run: dict[str, Any]) -> None:
    """Written by the project's listener (plugins/carm_run_note.py) when the run ended:
    the counts above, rejections included, in a green run."""
    assert dag_run["run"].state == "success"
    assert stored_note(dag_run["run"]) == "broker01: 6 files — 2 accepted, 3 rejected, 1 pending"


def test_run_files_originals_away(dag_run: dict[str, Any], gateway_settings: Settings) -> None:
    assert filed_away(gateway_settings, "archive") == {
        "v01_single.edi",
        "v02_multi_message.edi",
        "v04_correction.edi",
        "i11_unknown_hs.edi",
    }
    assert filed_away(gateway_settings, "quarantine") == {"i06_unz_reference.edi", "i10_bad_date.edi"}
    # why i06 is quarantined: its errors (UNZ 0020 mismatch, code 28), not its late-filing warning
    [reason] = (gateway_settings.resolved_data_dir / "partners" / PARTNER / "quarantine").rglob("*i06_*.reason.txt")
    assert "[28]" in reason.read_text() and "DAT-LATE" not in reason.read_text()
    inbox = gateway_settings.resolved_data_dir / "partners" / PARTNER / "inbox"
    assert list(inbox.iterdir()) == []


def test_contrl_and_cusres_of_a_good_single_declaration(dag_run: dict[str, Any], gateway_settings: Settings) -> None:
    outbox = gateway_settings.resolved_data_dir / "partners" / PARTNER / "outbox"
    contrl = edifact_segments(ack_path(outbox, "v01_single.edi", "contrl.edi"))
    unb = first(elements(contrl, "UNB"))
    assert unb[1] == ["CARMGW", "ZZZ"] and unb[2] == ["BROKER01", "ZZZ"]  # our answer goes back to the sender
    assert first(elements(contrl, "UNH"))[1][0] == "CONTRL"
    assert elements(contrl, "UCI") == [["IC0001", ["BROKER01", "ZZZ"], ["CARMGW", "ZZZ"], "7"]]
    (ucm,) = elements(contrl, "UCM")
    assert ucm[0] == "1" and ucm[1][:3] == ["CUSDEC", "D", "96B"] and ucm[2] == "7"
    assert elements(contrl, "UCS") == [] and elements(contrl, "UCD") == []

    (cusres,) = messages(edifact_segments(ack_path(outbox, "v01_single.edi", "cusres.edi")))
    assert cusres[0][1][1][0] == "CUSRES"
    assert first(elements(cusres, "BGM"))[:4] == ["929", "1020700030001400001", "9", "AP"]
    assert elements(cusres, "GIS") == [["40"]]
    # the inbound interchange, the inbound message, the filer's own reference
    assert elements(cusres, "RFF") == [[["ACW", "IC0001"]], [["ACE", "1"]], [["ABE", "BRK-2025-1"]]]
    # Accepted, with one warning: released 2025-01-15, the CAD was due five business days later
    # (2025-01-22); filed now, it is late. Header level (ERP 1), no line.
    assert elements(cusres, "ERP") == [["1"]]
    assert elements(cusres, "ERC") == [["DAT-LATE"]]
    assert any("2025-01-22" in " ".join(ftx[3]) for ftx in elements(cusres, "FTX") if ftx[0] == "AAI")  # a warning
    # 6109100010 treatment 2 (MFN) is 18 %: duty 810.00 x 0.18 = 145.80; value for tax 810.00 + 145.80
    # = 955.80; GST 5 % = 47.79; total 145.80 + 0.00 + 47.79 = 193.59.
    assert assessed_totals(cusres) == {"CUD": "145.80", "EXC": "0.00", "GST": "47.79", "TOT": "193.59"}
    assert line_amounts(cusres) == [
        {"CUD 125": "810.00", "CUD 124": "145.80", "EXC 124": "0.00", "GST 125": "955.80", "GST 124": "47.79"}
    ]


def test_cusres_of_a_three_message_interchange(dag_run: dict[str, Any], gateway_settings: Settings) -> None:
    outbox = gateway_settings.resolved_data_dir / "partners" / PARTNER / "outbox"
    contrl = edifact_segments(ack_path(outbox, "v02_multi_message.edi", "contrl.edi"))
    assert first(elements(contrl, "UCI"))[0] == "IC0002" and first(elements(contrl, "UCI"))[3] == "7"
    assert [(u[0], u[2]) for u in elements(contrl, "UCM")] == [("1", "7"), ("2", "7"), ("3", "7")]

    answers = messages(edifact_segments(ack_path(outbox, "v02_multi_message.edi", "cusres.edi")))
    assert [first(elements(m, "BGM"))[1] for m in answers] == [
        "1020700030002500001", "1020700030003600001", "1020700030004700001",
    ]  # fmt: skip
    assert [elements(m, "GIS") for m in answers] == [[["40"]]] * 3
    assert [assessed_totals(m) for m in answers] == [
        # 8471300000 MFN 0 %: duty 0; GST 5 % of 10800.00 = 540.00
        {"CUD": "0.00", "EXC": "0.00", "GST": "540.00", "TOT": "540.00"},
        # 6403990000 treatment 10 (UST) 0 %: GST 5 % of 3240.00 = 162.00
        {"CUD": "0.00", "EXC": "0.00", "GST": "162.00", "TOT": "162.00"},
        # line 1 as v01 (145.80 duty, 47.79 GST) + line 2 as message 1 (540.00 GST)
        {"CUD": "145.80", "EXC": "0.00", "GST": "587.79", "TOT": "733.59"},
    ]


def test_a_late_change_is_version_2_pending_in_the_portal(
    dag_run: dict[str, Any], gateway_settings: Settings, portal_server: PortalServer
) -> None:
    """v04 arrives long after v01's due date (2025-01-31): an adjustment, answered pending (CA, 42)."""
    outbox = gateway_settings.resolved_data_dir / "partners" / PARTNER / "outbox"
    (cusres,) = messages(edifact_segments(ack_path(outbox, "v04_correction.edi", "cusres.edi")))
    assert first(elements(cusres, "BGM"))[1:4] == ["1020700030001400002", "9", "CA"]
    assert elements(cusres, "GIS") == [["42"]]
    assert assessed_totals(cusres) == {}  # no assessment is answered until it is decided

    response = httpx.get(f"{portal_server.url}/v1/declarations/10207000300014")
    assert response.status_code == 200
    history = response.json()
    assert [(v["version"], v["function"], v["status"]) for v in history["versions"]] == [(1, "9", "40"), (2, "4", "42")]
    assert history["latest"]["version"] == 1  # the latest accepted version, until an operator approves v04
    version_2 = httpx.get(f"{portal_server.url}/v1/declarations/10207000300014/versions/2").json()
    assert version_2["declaration"]["invoices"][0]["lines"][0]["tariff_treatment"] == "10"
    # treatment 10 (UST) 0 %: no duty; GST 5 % of 810.00 = 40.50, assessed while pending
    assert version_2["outcome"]["total_gst"] == "40.50"


def test_a_bad_interchange_is_rejected_whole(
    dag_run: dict[str, Any], gateway_settings: Settings, portal_server: PortalServer
) -> None:
    outbox = gateway_settings.resolved_data_dir / "partners" / PARTNER / "outbox"
    contrl = edifact_segments(ack_path(outbox, "i06_unz_reference.edi", "contrl.edi"))
    uci = first(elements(contrl, "UCI"))
    # action 4 rejected, 0085 code 28 "references do not match", in the UNZ
    assert uci[:6] == ["IC0106", ["BROKER01", "ZZZ"], ["CARMGW", "ZZZ"], "4", "28", "UNZ"]
    assert not has_ack(outbox, "i06_unz_reference.edi", "cusres.edi")  # a rejected interchange posts nothing
    assert httpx.get(f"{portal_server.url}/v1/declarations/10207000300149").status_code == 404


def test_a_syntax_error_rejects_the_message_in_contrl(dag_run: dict[str, Any], gateway_settings: Settings) -> None:
    outbox = gateway_settings.resolved_data_dir / "partners" / PARTNER / "outbox"
    contrl = edifact_segments(ack_path(outbox, "i10_bad_date.edi", "contrl.edi"))
    assert first(elements(contrl, "UCI"))[0] == "IC0110"
    assert first(elements(contrl, "UCI"))[3] == "4"  # its only message is rejected
    (ucm,) = elements(contrl, "UCM")
    assert ucm[0] == "1" and ucm[2] == "4"
    # DTM+271 is segment 5 of the message (UNH 1, BGM 2, CST 3, LOC 4); the date is C507,
    # data element position 2 (ISO 9735 S011: the tag is position 1), component 2 (2380);
    # 0085 code 12 "invalid value"
    assert elements(contrl, "UCS") == [["5"]]
    assert elements(contrl, "UCD") == [["12", ["2", "2"]]]
    assert not has_ack(outbox, "i10_bad_date.edi", "cusres.edi")


def test_a_portal_rejection_is_answered_in_cusres(dag_run: dict[str, Any], gateway_settings: Settings) -> None:
    outbox = gateway_settings.resolved_data_dir / "partners" / PARTNER / "outbox"
    contrl = edifact_segments(ack_path(outbox, "i11_unknown_hs.edi", "contrl.edi"))
    assert first(elements(contrl, "UCI"))[3] == "7"
    assert [u[2] for u in elements(contrl, "UCM")] == ["7"]  # syntax is fine: acknowledged

    (cusres,) = messages(edifact_segments(ack_path(outbox, "i11_unknown_hs.edi", "cusres.edi")))
    assert first(elements(cusres, "BGM"))[1:4] == ["1020700040003700001", "9", "RE"]
    assert elements(cusres, "GIS") == [["41"]]
    # The gateway's warning (late, header level) first, then the portal's rejection of line 2.
    assert elements(cusres, "ERP") == [["1"], [["2", "2"]]]  # 1 = header; 2 = a line, line 2
    assert elements(cusres, "ERC") == [["DAT-LATE"], ["P201"]]  # P201: the HS code is not in the tariff
    assert elements(cusres, "TAX") == []  # nothing assessed
    report = json.loads(ack_path(outbox, "i11_unknown_hs.edi", "report.json").read_text())
    assert report["accepted"] is False
