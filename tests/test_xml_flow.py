"""CAD-IN files through XmlFlow: check only, and posting to the embedded portal
over HTTP. Every CAD-OUT validates against cad-out.xsd and holds the
hand-written answers of fixtures/xml/expected.json."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from gateway.flows.cadxml import XmlFlow
from gateway.flows.contract import FlowOptions
from gateway.report import DocumentStatus
from parsers.xml.secure import XmlLimits
from portal.client import PortalClient, PortalRequestError
from portal.server import PortalServer
from tests.xml_helpers import EXPECTED, XML_FIXTURES, MemorySink, expected_responses, read_cadout

NOW = dt.datetime(2025, 1, 15, 10, 0, tzinfo=dt.UTC)


def run(name: str, options: FlowOptions, **kwargs):
    entry = EXPECTED["files"][name]
    limits = XmlLimits(**entry["limits"]) if "limits" in entry else None
    with (XML_FIXTURES / name).open("rb") as stream:
        return XmlFlow(Path(name).name, options, limits=limits, **kwargs).run(stream)


def _comparable(responses: list[dict], with_totals: bool) -> list[dict]:
    keep = ("status", "sequence", "id", "errors") + (("totals",) if with_totals else ())
    return [{key: response.get(key) for key in keep if key in response or key != "id"} for response in responses]


@pytest.mark.parametrize("name", EXPECTED["order"])
def test_check_only_answers(name: str) -> None:
    sink = MemorySink()
    report = run(name, FlowOptions(sink=sink, now=lambda: NOW))
    base = Path(name).name
    assert report.acknowledgements == [f"{base}.cadout.xml"]
    actual = read_cadout(sink.files[f"{base}.cadout.xml"])
    assert _comparable(actual, False) == _comparable(expected_responses(name, "check"), False)
    assert report.format == "xml"
    wanted_ok = all(r["status"] == "200" for r in expected_responses(name, "check"))
    assert report.accepted == wanted_ok


def test_posting_to_the_portal(portal_server: PortalServer) -> None:
    """All fixtures in order against one fresh portal (v04 corrects v01)."""
    client = PortalClient(portal_server.url)
    try:
        mismatches = {}
        for name in EXPECTED["order"]:
            sink = MemorySink()
            report = run(name, FlowOptions(poster=client.submit_declaration, sink=sink, now=lambda: NOW))
            actual = read_cadout(sink.files[f"{Path(name).name}.cadout.xml"])
            wanted = expected_responses(name, "post")
            if _comparable(actual, True) != _comparable(wanted, True):
                mismatches[name] = {"actual": actual, "wanted": wanted}
            for document, response in zip(report.documents, actual, strict=False):
                if response["status"] == "40":
                    assert document.status == DocumentStatus.ACCEPTED and document.carm_status == "40"
                    assert document.assessed is not None and document.assessed["total"] == response["totals"]["TOT"]
        assert mismatches == {}
        for transaction in EXPECTED["files"]["invalid/i16_truncated.xml"]["not_posted"]:
            with pytest.raises(PortalRequestError) as error:
                client.get_declaration(transaction)
            assert error.value.status_code == 404
        versions = sorted(v["version"] for v in client.get_declaration("10207000300014")["versions"])
        assert versions == [1, 2]
    finally:
        client.close()


def test_documents_and_file_verdict_for_a_batch() -> None:
    report = run("invalid/i02_schema_batch.xml", FlowOptions())
    assert [(d.message_ref, d.message_type, d.status, d.reference) for d in report.documents] == [
        ("1", "CAD-IN", "accepted", "1020700030100400001"),
        ("2", "CAD-IN", "rejected", "1020700030101500001"),
        ("3", "CAD-IN", "accepted", "1020700030102600001"),
    ]
    [interchange] = report.interchanges
    assert (
        interchange.accepted
        and interchange.control_reference == "BRK-BATCH-I02"
        and interchange.sender == "123026635RM0001"
    )


def test_a_rejected_file_posts_nothing_and_withdraws_what_was_read() -> None:
    posted = []
    report = run("invalid/i16_truncated.xml", FlowOptions(poster=lambda d, key: posted.append(d)))
    assert posted == []
    assert [d.status for d in report.documents] == ["rejected", "rejected"]
    assert all(d.errors[-1].code == "XML-FILE" for d in report.documents)
    assert not report.interchanges[0].accepted


def test_unknown_trading_partner_is_415() -> None:
    sink = MemorySink()
    report = run(
        "valid/v01_single.xml", FlowOptions(sink=sink), sender_known=lambda sender: sender != "123026635RM0001"
    )
    [response] = read_cadout(sink.files["v01_single.xml.cadout.xml"])
    assert response["status"] == "415"
    assert response["errors"] == [
        {"code": "90", "pointer": "/DocumentMetaData/CommunicationMetaData/Sender[2]/ID", "line": 17}
    ]
    assert report.documents[0].status == "rejected"


def test_duplicate_application_reference_is_refused() -> None:
    class Registry:
        def __init__(self) -> None:
            self.seen: set[tuple[str, str, str]] = set()

        def register(self, header) -> bool:
            key = (header.sender, header.sender_qualifier, header.control_reference)
            fresh = key not in self.seen
            self.seen.add(key)
            return fresh

        def release(self, header) -> None:
            self.seen.discard((header.sender, header.sender_qualifier, header.control_reference))

    registry = Registry()
    first = run("valid/v01_single.xml", FlowOptions(registry=registry))
    sink = MemorySink()
    second = run("valid/v01_single.xml", FlowOptions(registry=registry, sink=sink))
    assert first.accepted and not second.accepted
    [response] = read_cadout(sink.files["v01_single.xml.cadout.xml"])
    assert (response["status"], [e["code"] for e in response["errors"]]) == ("400", ["XML-DUP"])


def test_a_refused_file_burns_no_application_reference() -> None:
    """A file refused after its header was read (its declaration fails the XSD)
    does not spend its ApplicationReferenceID: the corrected file with it is accepted."""
    seen: set[tuple[str, str, str]] = set()

    class Registry:
        def register(self, header) -> bool:
            key = (header.sender, header.sender_qualifier, header.control_reference)
            fresh = key not in seen
            seen.add(key)
            return fresh

        def release(self, header) -> None:
            seen.discard((header.sender, header.sender_qualifier, header.control_reference))

    refused = run("invalid/i01_schema_missing_element.xml", FlowOptions(registry=Registry()))
    assert not refused.accepted and refused.interchanges[0].control_reference == "1020700030001400001001"
    corrected = run("valid/v01_single.xml", FlowOptions(registry=Registry()))
    assert corrected.accepted, [str(e) for e in corrected.all_errors()]
    assert seen == {("123026635RM0001", "BN15", "1020700030001400001001")}  # now spent, by the accepted file


def test_an_unavailable_portal_writes_no_partial_cadout() -> None:
    class Unavailable(Exception):
        pass

    def poster(declaration, key):
        raise Unavailable

    written: list[str] = []

    class Sink(MemorySink):
        def open(self, name):  # type: ignore[override]  # the untyped test double records each name it opens
            context = super().open(name)

            class Guard:
                def __enter__(self_inner):
                    return context.__enter__()

                def __exit__(self_inner, *exc):
                    if exc[0] is None:
                        written.append(name)
                    return context.__exit__(*exc)

            return Guard()

    with pytest.raises(Unavailable):
        run("valid/v02_multi_declaration.xml", FlowOptions(poster=poster, sink=Sink()))
    assert written == []


def test_the_pipeline_processes_cad_in_files(tmp_path: Path, portal_server: PortalServer) -> None:
    """An XML file goes through the same pipeline, ledger and outbox as an EDIFACT one."""
    from gateway.pipeline import Pipeline
    from gateway.settings import Settings
    from ledger import Ledger
    from tests.ack_reader import ack_path
    from transports.local import LocalFolderTransport

    transport = LocalFolderTransport(tmp_path / "partners")
    transport.ensure_partner("erp01")
    source = XML_FIXTURES / "valid" / "v02_multi_declaration.xml"
    (transport.area("erp01", "inbox") / source.name).write_bytes(source.read_bytes())
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    with PortalClient(portal_server.url) as client:
        [result] = Pipeline(Settings(data_dir=tmp_path), transport, ledger, client.submit_declaration).process_inbox(
            "erp01"
        )
        assert (result.state, result.report.format, result.report.accepted) == ("archived", "xml", True)
        responses = read_cadout(ack_path(transport.area("erp01", "outbox"), source.name, "cadout.xml").read_bytes())
        assert [r["status"] for r in responses] == ["40", "40", "40"]
        assert sorted(d.status for d in ledger.documents()) == ["40", "40", "40"]
        for document in result.report.documents:
            assert client.get_declaration(document.reference[:14])["latest"]["status"] == "40"
    ledger.dispose()
