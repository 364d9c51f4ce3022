"""Refusals answer in the partner's format (issue 15): a file refused unread
(too large, unsafe name) or failed ("failed: internal error") gets a CONTRL when
it is EDIFACT, a CAD-OUT when it is CAD-IN, a pain.002 when it is pain.001, and
the JSON report always; a file whose format cannot be told is answered in the
partner's registered format. Through the pipeline with a real local channel."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from gateway.flows.cadxml import XmlFlow
from gateway.partners import PartnerRegistry, parse_registry
from gateway.pipeline import Pipeline, ProcessedFile
from gateway.settings import Settings
from ledger import Ledger
from tests.ack_reader import ack_path, has_ack, read_contrls
from transports.local import LocalFolderTransport

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
CAD_IN = FIXTURES / "xml" / "valid" / "v01_single.xml"
PAIN001 = FIXTURES / "payments" / "pain001" / "valid" / "v01_account_only.xml"
CUSDEC = FIXTURES / "cusdec" / "valid" / "v01_single.edi"
CADOUT = "{urn:wco:datamodel:WCO:Declaration:1}"
PAIN002 = "{urn:iso:std:iso:20022:tech:xsd:pain.002.001.10}"

REGISTRY = """
[[partners]]
id = "erp01"
xml_senders = ["ERP01"]
channel = { type = "local", path = "partners/erp01" }

[[partners]]
id = "broker01"
edifact_senders = [{ id = "BROKER01", qualifier = "ZZZ" }]
xml_senders = ["BROKER01"]
channel = { type = "local", path = "partners/broker01" }
"""


def _process(
    tmp_path: Path, partner: str, name: str, content: bytes, registry: PartnerRegistry | None = None, **settings: Any
) -> tuple[ProcessedFile, Path]:
    transport = LocalFolderTransport(tmp_path / "partners")
    transport.ensure_partner(partner)
    (transport.area(partner, "inbox") / name).write_bytes(content)
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    try:
        pipeline = Pipeline(Settings(data_dir=tmp_path, **settings), transport, ledger, None, registry=registry)
        [result] = pipeline.process_inbox(partner)
    finally:
        ledger.dispose()
    return result, transport.area(partner, "outbox")


def _outbox_kinds(outbox: Path, name: str) -> list[str]:
    """The acknowledgement suffixes answering ``name`` ("contrl.edi", "report.json" ...)."""
    return sorted(
        suffix for suffix in ("contrl.edi", "cadout.xml", "pain002.xml", "report.json") if has_ack(outbox, name, suffix)
    )


def _cadout_responses(outbox: Path, name: str) -> list[tuple[str | None, list[str | None]]]:
    root = etree.fromstring(ack_path(outbox, name, "cadout.xml").read_bytes())
    return [
        (
            response.findtext(f"{CADOUT}Status/{CADOUT}NameCode"),
            [error.findtext(f"{CADOUT}ValidationCode") for error in response.iter(f"{CADOUT}Error")],
        )
        for response in root.iter(f"{CADOUT}Response")
    ]


def _report_codes(outbox: Path, name: str) -> list[str]:
    report = json.loads(ack_path(outbox, name, "report.json").read_bytes())
    return [error["code"] for error in report["errors"]]


def test_an_oversized_cad_in_is_answered_with_a_rejecting_cad_out(tmp_path: Path) -> None:
    content = CAD_IN.read_bytes()
    result, outbox = _process(tmp_path, "broker01", "big.xml", content, max_file_bytes=len(content) - 1)
    assert result.state == "quarantined"
    assert _outbox_kinds(outbox, "big.xml") == ["cadout.xml", "report.json"]
    assert _cadout_responses(outbox, "big.xml") == [("400", ["SIZE"])]
    assert _report_codes(outbox, "big.xml") == ["SIZE"]


def test_an_oversized_pain001_is_answered_with_a_rejecting_pain002(tmp_path: Path) -> None:
    content = PAIN001.read_bytes()
    result, outbox = _process(tmp_path, "broker01", "pay.xml", content, max_file_bytes=len(content) - 1)
    assert result.state == "quarantined"
    assert _outbox_kinds(outbox, "pay.xml") == ["pain002.xml", "report.json"]
    root = etree.fromstring(ack_path(outbox, "pay.xml", "pain002.xml").read_bytes())
    assert root.findtext(f".//{PAIN002}OrgnlGrpInfAndSts/{PAIN002}GrpSts") == "RJCT"
    assert [text[:5] for text in root.xpath("//p:AddtlInf/text()", namespaces={"p": PAIN002[1:-1]})] == ["SIZE:"]
    assert _report_codes(outbox, "pay.xml") == ["SIZE"]


def test_an_oversized_edifact_file_is_answered_with_a_contrl(tmp_path: Path) -> None:
    content = CUSDEC.read_bytes()
    result, outbox = _process(tmp_path, "erp01", "big.edi", content, max_file_bytes=len(content) - 1)
    assert result.state == "quarantined"
    assert _outbox_kinds(outbox, "big.edi") == ["contrl.edi", "report.json"]
    [contrl] = read_contrls(ack_path(outbox, "big.edi", "contrl.edi").read_bytes())
    assert contrl["uci"]["action"] == "4"
    assert _report_codes(outbox, "big.edi") == ["SIZE"]


def test_an_unrecognisable_file_of_a_cad_in_partner_gets_a_cad_out(tmp_path: Path) -> None:
    registry = parse_registry(REGISTRY)
    result, outbox = _process(tmp_path, "erp01", "junk.dat", b"this is neither EDIFACT nor XML\n", registry)
    assert result.state == "quarantined"
    assert _outbox_kinds(outbox, "junk.dat") == ["cadout.xml", "report.json"]
    assert _cadout_responses(outbox, "junk.dat") == [("400", ["XML-WF"])]


def test_an_oversized_unrecognisable_file_of_a_cad_in_partner_gets_a_cad_out(tmp_path: Path) -> None:
    registry = parse_registry(REGISTRY)
    result, outbox = _process(tmp_path, "erp01", "junk.dat", b"\x00\x01 random " * 100, registry, max_file_bytes=10)
    assert result.state == "quarantined"
    assert _outbox_kinds(outbox, "junk.dat") == ["cadout.xml", "report.json"]
    assert _cadout_responses(outbox, "junk.dat") == [("400", ["SIZE"])]


def test_an_unrecognisable_file_of_an_edifact_partner_still_gets_a_contrl(tmp_path: Path) -> None:
    registry = parse_registry(REGISTRY)
    result, outbox = _process(tmp_path, "broker01", "junk.dat", b"this is neither EDIFACT nor XML\n", registry)
    assert result.state == "quarantined"
    assert _outbox_kinds(outbox, "junk.dat") == ["contrl.edi", "report.json"]


def test_a_cad_in_that_fails_with_an_internal_error_is_answered_with_a_cad_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crashing(self: XmlFlow, stream: object) -> None:
        raise ValueError("poison")

    monkeypatch.setattr(XmlFlow, "run", crashing)
    result, outbox = _process(tmp_path, "broker01", "decl.xml", CAD_IN.read_bytes(), max_failed_attempts=1)
    assert result.state == "failed"
    assert _outbox_kinds(outbox, "decl.xml") == ["cadout.xml", "report.json"]
    assert _cadout_responses(outbox, "decl.xml") == [("505", ["INTERNAL"])]


def test_an_unsupported_xml_document_is_answered_in_the_partners_registered_format(tmp_path: Path) -> None:
    registry = parse_registry(REGISTRY)
    invoice = b'<?xml version="1.0"?>\n<Invoice><Total>1</Total></Invoice>\n'
    result, outbox = _process(tmp_path / "cad", "erp01", "invoice.xml", invoice, registry)
    assert result.state == "quarantined"
    assert _outbox_kinds(outbox, "invoice.xml") == ["cadout.xml", "report.json"]
    assert _cadout_responses(outbox, "invoice.xml") == [("400", ["XML-TYPE"])]
    result, outbox = _process(tmp_path / "edi", "broker01", "invoice.xml", invoice, registry)
    assert _outbox_kinds(outbox, "invoice.xml") == ["contrl.edi", "report.json"]
    [contrl] = read_contrls(ack_path(outbox, "invoice.xml", "contrl.edi").read_bytes())
    assert contrl["uci"]["action"] == "4"
    report = json.loads(ack_path(outbox, "invoice.xml", "report.json").read_bytes())
    assert (report["format"], [e["code"] for e in report["errors"]]) == ("xml", ["XML-TYPE"])
