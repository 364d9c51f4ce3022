"""``carm-edi`` as a user runs it: a real subprocess, exit codes and JSON."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from portal.server import PortalServer
from tests.edifact_helpers import CUSDEC, FIXTURES

CLI = [sys.executable, "-m", "gateway.cli"]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})})


def check_json(path: Path) -> tuple[int, dict[str, Any]]:
    result = run("check", "--json", str(path))
    assert "Traceback" not in result.stderr
    return result.returncode, json.loads(result.stdout)


def test_valid_file_is_accepted_with_exit_0() -> None:
    code, answer = check_json(CUSDEC / "valid" / "v02_multi_message.edi")
    assert code == 0
    assert answer["accepted"] is True
    assert answer["format"] == "edifact"
    assert [(d["message_ref"], d["status"], d["reference"]) for d in answer["documents"]] == [
        ("1", "accepted", "1020700030002500001"),
        ("2", "accepted", "1020700030003600001"),
        ("3", "accepted", "1020700030004700001"),
    ]


@pytest.mark.parametrize(
    ("name", "code", "phrase"),
    [
        ("i01_garbage.bin", "13", "not an EDIFACT interchange"),
        ("i02_empty.edi", "13", "empty file"),
    ],
)
def test_unreadable_files_get_a_specific_error(name: str, code: str, phrase: str) -> None:
    exit_code, answer = check_json(CUSDEC / "invalid" / name)
    assert exit_code == 1
    assert answer["accepted"] is False
    [error] = answer["errors"]
    assert error["code"] == code
    assert phrase in error["message"]


def test_truncated_interchange_reports_missing_trailers() -> None:
    exit_code, answer = check_json(CUSDEC / "invalid" / "i03_truncated.edi")
    assert exit_code == 1
    [interchange] = answer["interchanges"]
    assert ("13", "UNZ") in {(e["code"], e["location"].get("tag")) for e in interchange["errors"]}
    [document] = answer["documents"]
    assert ("13", "UNT") in {(e["code"], e["location"].get("tag")) for e in document["errors"]}


def test_every_error_has_code_message_and_location() -> None:
    _, answer = check_json(CUSDEC / "invalid" / "i10_bad_date.edi")
    [document] = answer["documents"]
    [error] = document["errors"]
    assert error["code"] == "12"
    assert error["location"] == {"message_ref": "1", "segment": 5, "tag": "DTM", "element": 1, "component": 2}
    assert "20251345" in error["message"]


def test_business_errors_carry_rule_id_and_field() -> None:
    exit_code, answer = check_json(CUSDEC / "invalid" / "i08_bad_check_digit.edi")
    assert exit_code == 1
    [document] = answer["documents"]
    [error] = [e for e in document["errors"] if e["severity"] == "error"]
    assert (error["code"], error["location"]["field"], error["location"]["tag"]) == (
        "ID-TXN",
        "transaction_number",
        "BGM",
    )
    # Released 2025-01-15, the CAD was due 5 business days later: filed today it is late.
    [warning] = [e for e in document["errors"] if e["severity"] == "warning"]
    assert (warning["code"], warning["location"]["field"]) == ("DAT-LATE", "release_date")


def test_offline_check_applies_the_gateway_tariff_rules() -> None:
    exit_code, answer = check_json(CUSDEC / "invalid" / "i11_unknown_hs.edi")
    assert exit_code == 1
    [document] = answer["documents"]
    [error] = [e for e in document["errors"] if e["severity"] == "error"]
    assert (error["code"], error["location"]["field"], error["location"]["segment"]) == (
        "TAR-HS",
        "lines[1].hs_code",
        21,
    )


def test_missing_file_cannot_run_with_exit_2() -> None:
    result = run("check", "--json", "/nonexistent/file.edi")
    assert result.returncode == 2
    assert json.loads(result.stdout)["accepted"] is False


def test_xml_file_is_answered_not_supported(tmp_path: Path) -> None:
    path = tmp_path / "camt.xml"
    path.write_text('<?xml version="1.0"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.04"/>')
    exit_code, answer = check_json(path)
    assert exit_code == 1
    assert answer["format"] == "xml"
    assert "camt.054.001.04" in answer["errors"][0]["message"]
    assert "not supported" in answer["errors"][0]["message"]


def test_process_runs_the_pipeline_without_airflow(tmp_path: Path) -> None:
    inbox = tmp_path / "partners" / "broker01" / "inbox"
    inbox.mkdir(parents=True)
    shutil.copy(CUSDEC / "valid" / "v01_single.edi", inbox)
    shutil.copy(CUSDEC / "invalid" / "i01_garbage.bin", inbox)
    with PortalServer(f"sqlite:///{tmp_path / 'portal.sqlite'}", FIXTURES / "reference" / "tariff.csv") as portal:
        result = run("process", "--inbox", str(tmp_path), "--json", env={"CARM_PORTAL_URL": portal.url})
    assert result.returncode == 1  # the garbage file is rejected
    answer = json.loads(result.stdout)
    states = {f["name"]: f["state"] for f in answer["files"]}
    assert states == {"v01_single.edi": "archived", "i01_garbage.bin": "quarantined"}
    outbox = sorted(p.name for p in (tmp_path / "partners" / "broker01" / "outbox").iterdir())
    assert outbox == [  # named after the file and its ledger id (files are taken in name order)
        "i01_garbage.bin.1.contrl.edi",
        "i01_garbage.bin.1.report.json",
        "v01_single.edi.2.contrl.edi",
        "v01_single.edi.2.cusres.edi",
        "v01_single.edi.2.report.json",
    ]
