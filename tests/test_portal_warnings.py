"""The portal's warnings reach the partner (issue 17): an RPP importer over its security files
through the gateway's real path (Pipeline, ledger, the embedded portal over HTTP on 127.0.0.1);
the declaration is accepted and its CUSRES / CAD-OUT, the JSON report and the ledger's summary
carry ``P310`` as a warning. The same file for an importer without an RPP record gets the
answer it always got.

Figures by hand (tests/test_dag.py works them): v01 is one line of 6109100010 under MFN, VFD
810.00, duty 18 % = 145.80, GST 5 % of 955.80 = 47.79, total 193.59. A cash security of 100.00
covers 100.00, so the importer is over by 93.59.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from domain import OutcomeStatus
from gateway.pipeline import Pipeline, ProcessedFile
from gateway.settings import Settings
from ledger import Ledger
from mappings.cadout import CadOutError, CadOutResponse, write_cadout
from mappings.cusres import CusresError, cusres_segments
from portal.client import PortalClient
from portal.server import PortalServer
from tests.ack_reader import ack_path, read_cusres
from tests.edifact_helpers import CUSDEC, FIXTURES
from tests.xml_helpers import XML_FIXTURES, read_cadout
from transports.local import LocalFolderTransport

IMPORTER = "123456782RM0001"
OVER_MESSAGE = (
    f"Importer {IMPORTER} owes 193.59 with this declaration, 93.59 more than its cash of 100.00 covers "
    "(100.00): pay down or raise the security"
)
TOTALS = {"CUD": "145.80", "EXC": "0.00", "GST": "47.79", "TOT": "193.59"}
CUSDEC_FILE = CUSDEC / "valid" / "v01_single.edi"
CADIN_FILE = XML_FIXTURES / "valid" / "v01_single.xml"


@dataclass
class Filed:
    result: ProcessedFile
    outbox: Path
    report: dict[str, Any]
    summary: dict[str, Any]


def file_through_the_gateway(root: Path, partner: str, source: Path, *, over_security: bool) -> Filed:
    """``source`` through a fresh portal and ledger; ``over_security``: the importer first gets an
    active RPP record with a 100.00 cash security (none: the importer is not measured)."""
    transport = LocalFolderTransport(root / "partners")
    transport.ensure_partner(partner)
    ledger = Ledger(f"sqlite:///{root / 'ledger.sqlite'}")
    try:
        with (
            PortalServer(f"sqlite:///{root / 'portal.sqlite'}", FIXTURES / "reference" / "tariff.csv") as server,
            PortalClient(server.url) as client,
        ):
            if over_security:
                security = {"kind": "cash", "amount": "100.00", "posted": "2024-12-01"}
                put = httpx.put(
                    f"{server.url}/v1/importers/{IMPORTER}/rpp",
                    json={"status": "active", "since": "2024-10-21", "security": security},
                )
                assert put.status_code == 200, put.text
            shutil.copy(source, transport.area(partner, "inbox") / source.name)
            pipeline = Pipeline(Settings(data_dir=root), transport, ledger, client.submit_declaration)
            [result] = pipeline.process_inbox(partner)
        outbox = transport.area(partner, "outbox")
        report = json.loads(ack_path(outbox, source.name, "report.json").read_text())
        [record] = ledger.files(partner)
        assert record.summary is not None
        return Filed(result, outbox, report, record.summary)
    finally:
        ledger.dispose()


def test_cusres_carries_the_portal_warning_on_an_accepted_declaration(tmp_path: Path) -> None:
    over = file_through_the_gateway(tmp_path / "over", "broker01", CUSDEC_FILE, over_security=True)
    baseline = file_through_the_gateway(tmp_path / "baseline", "broker01", CUSDEC_FILE, over_security=False)
    [[warned]] = read_cusres(ack_path(over.outbox, CUSDEC_FILE.name, "cusres.edi").read_bytes())
    [[plain]] = read_cusres(ack_path(baseline.outbox, CUSDEC_FILE.name, "cusres.edi").read_bytes())

    # accepted, assessed as usual: BGM 4343 AP, GIS 40, the totals by hand
    assert (warned["response"], warned["status"], warned["totals"]) == ("AP", "40", TOTALS)
    [warning] = warned["errors"]
    assert warning["code"] == "P310"
    assert warning["severity"] == "warning"  # FTX+AAI, not an error's FTX+AAO
    assert warning["message"] == OVER_MESSAGE
    assert warning["pointer"] == "importer.account"
    assert "NAD" in warning["where"]  # the importer's NAD+IM

    # without the warning: the answer it always had, and the same one but for the warning's group
    assert (plain["response"], plain["status"], plain["totals"], plain["errors"]) == ("AP", "40", TOTALS, [])
    assert plain["reference"] == "1020700030001400001"
    assert plain["rff"] == {"ACW": "IC0001", "ACE": "1", "ABE": "BRK-2025-1"}
    assert {**warned, "errors": []} == plain


def test_the_report_and_the_ledger_list_the_warning_apart_from_errors(tmp_path: Path) -> None:
    over = file_through_the_gateway(tmp_path / "over", "broker01", CUSDEC_FILE, over_security=True)
    assert over.result.state == "archived"
    assert over.report["accepted"] is True
    [document] = over.report["documents"]
    assert (document["status"], document["carm_status"], document["assessed"]["total"]) == ("accepted", "40", "193.59")
    [warning] = document["errors"]
    assert (warning["code"], warning["severity"], warning["message"]) == ("P310", "warning", OVER_MESSAGE)
    assert warning["location"]["field"] == "importer.account"
    assert [f.severity.value for f in over.result.report.all_errors()] == ["warning"]

    assert over.summary["accepted"] is True
    [stored] = over.summary["errors"]
    assert (stored["code"], stored["severity"], stored["message"]) == ("P310", "warning", OVER_MESSAGE)

    baseline = file_through_the_gateway(tmp_path / "baseline", "broker01", CUSDEC_FILE, over_security=False)
    assert baseline.report["documents"][0]["errors"] == []
    assert baseline.summary["errors"] == []


def test_cadout_carries_the_portal_warning_as_additional_information(tmp_path: Path) -> None:
    over = file_through_the_gateway(tmp_path / "over", "erp01", CADIN_FILE, over_security=True)
    baseline = file_through_the_gateway(tmp_path / "baseline", "erp01", CADIN_FILE, over_security=False)
    # read_cadout validates each CAD-OUT against cad-out.xsd
    [warned] = read_cadout(ack_path(over.outbox, CADIN_FILE.name, "cadout.xml").read_bytes())
    [plain] = read_cadout(ack_path(baseline.outbox, CADIN_FILE.name, "cadout.xml").read_bytes())

    assert (warned["status"], warned["errors"], warned["totals"]) == ("40", [], TOTALS)  # not an Error
    assert warned["warnings"] == [
        {
            "code": "P310",
            "message": OVER_MESSAGE,
            "type": "AAI",
            "pointer": "/DocumentMetaData/Declaration[1]/GoodsShipment[1]/Importer/ID",
            "line": 46,  # v01_single.xml's <ID>123456782RM0001</ID>
        }
    ]
    assert (plain["status"], plain["errors"], plain["totals"], plain["id"]) == ("40", [], TOTALS, "10207000300014")
    assert "warnings" not in plain
    assert {key: value for key, value in warned.items() if key != "warnings"} == plain
    assert over.report["documents"][0]["errors"][0]["location"]["xpath"] == warned["warnings"][0]["pointer"]


# A rejected answer holding an error and a warning: each keeps its own element -------------------


def test_a_rejected_cusres_tells_its_warning_from_its_error() -> None:
    segments = cusres_segments(
        reference="1020700030001400001",
        status=OutcomeStatus.REJECTED,
        inbound_interchange="IC0001",
        inbound_message="1",
        filer_reference=None,
        outcome=None,
        errors=[
            CusresError("P201", "no such HS code", "lines[1].hs_code", line_number=2),
            CusresError("DAT-LATE", "filed late", "release_date", warning=True),
        ],
        issued=dt.datetime(2025, 1, 15, 10, 0, tzinfo=dt.UTC),
    )
    groups = [(segment.tag, segment.elements[0]) for segment in segments if segment.tag in ("ERP", "ERC", "FTX")]
    assert groups == [
        ("ERP", ["2", "2"]),
        ("ERC", "P201"),
        ("FTX", "AAO"),
        ("FTX", "ZZZ"),
        ("ERP", ["1", ""]),
        ("ERC", "DAT-LATE"),
        ("FTX", "AAI"),
        ("FTX", "ZZZ"),
    ]


def test_a_rejected_cadout_tells_its_warning_from_its_error() -> None:
    out = io.BytesIO()
    response = CadOutResponse(
        "41",
        [
            CadOutError("AMT-TOT", "the invoice total differs", "/DocumentMetaData/Declaration[1]/Invoice", 9, True),
            CadOutError("ID-TXN", "bad check digit", "/DocumentMetaData/Declaration[1]/ID", 5),
        ],
        sequence=1,
    )
    write_cadout(
        out,
        [response],
        sender_id="CARMGW",
        application_reference="APP-1",
        issued=dt.datetime(2025, 1, 15, tzinfo=dt.UTC),
    )
    [read] = read_cadout(out.getvalue())  # valid against cad-out.xsd: every Error before the warnings
    assert read["errors"] == [{"code": "ID-TXN", "pointer": "/DocumentMetaData/Declaration[1]/ID", "line": 5}]
    assert read["warnings"] == [
        {
            "code": "AMT-TOT",
            "message": "the invoice total differs",
            "type": "AAI",
            "pointer": "/DocumentMetaData/Declaration[1]/Invoice",
            "line": 9,
        }
    ]
