"""CONTRL in syntax version 4, the receipt CONTRL (UCI 8), and partners' CONTRLs
matched to the interchanges the gateway sent (ledger ``sent_interchanges``)."""

from __future__ import annotations

import io
import json
from pathlib import Path

from gateway.flows.contract import FlowOptions
from gateway.flows.dispatch import check_stream
from gateway.pipeline import Pipeline
from gateway.settings import Settings
from ledger import Ledger
from mappings.edifact_writer import InterchangeWriter, segment
from parsers.edifact.model import InterchangeStart, MessageRead
from parsers.edifact.reader import read_edifact
from tests.ack_reader import ack_path, has_ack, read_contrls
from tests.edifact_helpers import CUSDEC
from tests.test_syntax_fixtures import MemorySink
from transports.local import LocalFolderTransport

V01 = (CUSDEC / "valid" / "v01_single.edi").read_bytes()
V4 = V01.replace(b"UNA:+.? '", b"UNA:+.?*'").replace(
    b"UNOC:3+BROKER01:ZZZ+CARMGW:ZZZ+250115", b"UNOC:4+BROKER01:ZZZ:INT1:SUB1+CARMGW:ZZZ:RTE+20250115"
)


def _segments(data: bytes) -> list[tuple[str, str, list[list[str]]]]:
    """(syntax, tag, elements) of every message segment, UNB as a pseudo-segment."""
    out = []
    syntax = ""
    for event in read_edifact(io.BytesIO(data)):
        if isinstance(event, InterchangeStart):
            syntax = f"{event.header.syntax_identifier}:{event.header.syntax_version}"
            out.append((syntax, "UNB", event.header.segment.elements))
        elif isinstance(event, MessageRead):
            assert not event.message.findings
            out.extend((syntax, s.tag, s.elements) for s in event.message.segments)
    return out


def test_syntax_4_contrl_layout() -> None:
    sink = MemorySink()
    report = check_stream(io.BytesIO(V4), "v4.edi", FlowOptions(sink=sink, seed="x"))
    assert report.accepted
    data = sink.files["v4.edi.contrl.edi"]
    assert data.startswith(b"UNA:+.?*'\n")
    segments = {tag: elements for _syntax, tag, elements in _segments(data)}
    assert segments["UNB"][0] == ["UNOC", "4"]
    assert len(segments["UNB"][3][0]) == 8  # S004 0017 is CCYYMMDD in version 4
    assert segments["UNH"][1] == ["CONTRL", "4", "1", "UN"]
    # UCI echoes S002/S003 as received (four components in version 4)
    assert segments["UCI"] == [["IC0001"], ["BROKER01", "ZZZ", "INT1", "SUB1"], ["CARMGW", "ZZZ", "RTE"], ["7"]]
    # UCM echoes UNH S009 with its association assigned code
    assert segments["UCM"] == [["1"], ["CUSDEC", "D", "96B", "UN", "CAD01"], ["7"]]


def test_syntax_3_contrl_keeps_three_components() -> None:
    data = V01.replace(b"BROKER01:ZZZ", b"BROKER01:ZZZ:INT1:SUB1")
    sink = MemorySink()
    check_stream(io.BytesIO(data), "v3.edi", FlowOptions(sink=sink))
    segments = {tag: elements for _syntax, tag, elements in _segments(sink.files["v3.edi.contrl.edi"])}
    assert segments["UNH"][1] == ["CONTRL", "D", "3", "UN"]
    assert segments["UCI"][1] == ["BROKER01", "ZZZ", "INT1"]


def test_writer_releases_the_repetition_separator_in_syntax_4_only() -> None:
    for version, expected in (("4", b"FTX+A?*B+C??D?:E?+F?'G'"), ("3", b"FTX+A*B+C??D?:E?+F?'G'")):
        out = io.BytesIO()
        writer = InterchangeWriter(
            out, sender=("A", "ZZZ"), recipient=("B", "ZZZ"), control_reference="1", syntax=("UNOC", version)
        )
        writer.write_message("1", ("X", "D", "96B", "UN"), [segment("FTX", "A*B", "C?D:E+F'G")])
        writer.close()
        assert expected in out.getvalue()
        [ftx] = [elements for _s, tag, elements in _segments(out.getvalue()) if tag == "FTX"]
        assert ftx == [["A*B"], ["C?D:E+F'G"]]


def test_unencodable_and_out_of_repertoire_characters_never_become_release_characters() -> None:
    out = io.BytesIO()
    writer = InterchangeWriter(
        out, sender=("A", "ZZZ"), recipient=("B\ufffd", "ZZZ"), control_reference="1", syntax=("UNOA", "3")
    )
    writer.write_message("1", ("X", "D", "96B", "UN"), [segment("FTX", "é+x")])
    writer.close()
    assert b"B.:ZZZ" in out.getvalue() and b"FTX+.?+X'" in out.getvalue()
    assert all(e for e in _segments(out.getvalue()))


def test_unknown_syntax_version_is_answered_in_version_3() -> None:
    sink = MemorySink()
    check_stream(io.BytesIO(V01.replace(b"UNOC:3", b"UNOC")), "nov.edi", FlowOptions(sink=sink))
    syntax, _tag, _elements = _segments(sink.files["nov.edi.contrl.edi"])[0]
    assert syntax == "UNOC:3"


def test_receipt_contrl_comes_first_per_interchange() -> None:
    data = (CUSDEC / "valid" / "v07_two_interchanges.edi").read_bytes()
    sink = MemorySink()
    report = check_stream(io.BytesIO(data), "two.edi", FlowOptions(sink=sink, receipt_contrl=True, seed="s"))
    contrls = read_contrls(sink.files["two.edi.contrl.edi"])
    assert [(c["uci"]["reference"], c["uci"]["action"], len(c["messages"])) for c in contrls] == [
        ("IC0007", "8", 0),
        ("IC0007", "7", 1),
        ("IC0008", "8", 0),
        ("IC0008", "7", 1),
    ]
    assert [i.contrl_action for i in report.interchanges] == ["7", "7"]


def test_no_receipt_by_default_and_never_for_an_interchange_of_contrls() -> None:
    sink = MemorySink()
    check_stream(io.BytesIO(V01), "v01.edi", FlowOptions(sink=sink))
    assert [c["uci"]["action"] for c in read_contrls(sink.files["v01.edi.contrl.edi"])] == ["7"]
    contrl = _partner_contrl("0123456789ABCD", "7")
    sink = MemorySink()
    report = check_stream(io.BytesIO(contrl), "ack.edi", FlowOptions(sink=sink, receipt_contrl=True))
    assert "ack.edi.contrl.edi" not in sink.files
    [document] = report.documents
    assert document.status == "received" and document.acknowledgement["action"] == "7"
    assert "matched" not in document.acknowledgement  # no registry: nothing to match against


def _partner_contrl(reference: str, action: str, rejected: tuple[str, ...] = (), interchange: str = "P1") -> bytes:
    body = [f"UCI+{reference}+CARMGW:ZZZ+BROKER01:ZZZ+{action}'"]
    for ref in rejected:
        body += [f"UCM+{ref}+CUSRES:D:96B:UN:CAD01+4'", "UCS+3+12'"]
    lines = [
        "UNA:+.? '",
        f"UNB+UNOC:3+BROKER01:ZZZ+CARMGW:ZZZ+250116:1200+{interchange}'",
        "UNH+1+CONTRL:D:3:UN'",
        *body,
        f"UNT+{len(body) + 2}+1'",
        f"UNZ+1+{interchange}'",
    ]
    return "\n".join(lines).encode()


def test_partner_contrls_are_matched_to_what_we_sent(tmp_path: Path, portal_server) -> None:
    from portal.client import PortalClient

    settings = Settings(data_dir=tmp_path)
    transport = LocalFolderTransport(tmp_path / "partners")
    transport.ensure_partner("broker01")
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    client = PortalClient(portal_server.url)
    pipeline = Pipeline(settings, transport, ledger, client.submit_declaration)
    inbox = transport.area("broker01", "inbox")
    try:
        (inbox / "v02.edi").write_bytes((CUSDEC / "valid" / "v02_multi_message.edi").read_bytes())
        [first] = pipeline.process_inbox("broker01")
        assert first.report.accepted
        sent = {r.kind: r for r in ledger.sent_interchanges("broker01")}
        assert set(sent) == {"contrl", "cusres"}
        cusres = sent["cusres"]
        assert cusres.message_references == ["1", "2", "3"] and cusres.answers_reference == "IC0002"
        assert cusres.recipient == "BROKER01" and cusres.ack_action is None

        # the partner rejects message 2 of our CUSRES, and answers an interchange we never sent
        (inbox / "ack1.edi").write_bytes(_partner_contrl(cusres.control_reference, "7", ("2",), "P1"))
        (inbox / "ack2.edi").write_bytes(_partner_contrl("FFFFFFFFFFFFFF", "4", (), "P2"))
        results = {r.name: r for r in pipeline.process_inbox("broker01")}
        [matched] = results["ack1.edi"].report.documents
        assert matched.status == "received" and not matched.errors
        assert matched.acknowledgement == {
            "interchange": cusres.control_reference,
            "action": "7",
            "matched": True,
            "kind": "cusres",
            "answers": {"file": "v02.edi", "interchange": "IC0002"},
            "accepted": ["1", "3"],
            "rejected": [{"message_ref": "2", "code": "12"}],
        }
        [unmatched] = results["ack2.edi"].report.documents
        assert unmatched.acknowledgement["matched"] is False
        assert [e.code for e in unmatched.errors] == ["ACK-REF"]
        outbox = transport.area("broker01", "outbox")
        assert not has_ack(outbox, "ack1.edi", "contrl.edi")  # a CONTRL is never answered
        report = json.loads(ack_path(outbox, "ack1.edi", "report.json").read_text())
        assert report["documents"][0]["acknowledgement"]["matched"] is True

        record = {r.kind: r for r in ledger.sent_interchanges("broker01")}["cusres"]
        assert record.ack_action == "7" and record.ack_rejections == [{"message_ref": "2", "code": "12"}]

        # a later receipt (8) does not overwrite the verdict
        (inbox / "ack3.edi").write_bytes(_partner_contrl(cusres.control_reference, "8", (), "P3"))
        pipeline.process_inbox("broker01")
        record = {r.kind: r for r in ledger.sent_interchanges("broker01")}["cusres"]
        assert record.ack_action == "7"
    finally:
        client.close()
        ledger.dispose()
