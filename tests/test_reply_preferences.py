"""A partner's acknowledgement preferences: replies in the syntax version and
character set it asked for, otherwise in those of the interchange received;
no CONTRL for accepted interchanges when it wants none."""

from __future__ import annotations

import io
from typing import Any

from gateway.flows.contract import FlowOptions
from gateway.flows.edifact import EdifactFlow
from gateway.partners import Partner
from tests.ack_reader import read_contrls
from tests.edifact_helpers import CUSDEC
from tests.xml_helpers import MemorySink


def partner(**acknowledgements: Any) -> Partner:
    return Partner.model_validate(
        {
            "id": "broker01",
            "edifact_senders": [{"id": "BROKER01", "qualifier": "ZZZ"}],
            "importer_accounts": ["123456782RM0001"],
            "channel": {"type": "local", "path": "partners/broker01"},
            "acknowledgements": acknowledgements,
        }
    )


def run(name: str, who: Partner) -> MemorySink:
    sink = MemorySink()
    EdifactFlow(name, FlowOptions(sink=sink, partner=who)).run(io.BytesIO((CUSDEC / "valid" / name).read_bytes()))
    return sink


def unb_syntax(data: bytes) -> list[str]:
    """S001 of every UNB in an acknowledgement file (our writer puts one segment per line)."""
    return [line.split("+")[1] for line in data.decode("utf-8").splitlines() if line.startswith("UNB+")]


def test_replies_use_the_partners_syntax_and_charset() -> None:
    sink = run("v01_single.edi", partner(syntax_version=4, charset="UNOY"))
    assert unb_syntax(sink.files["v01_single.edi.contrl.edi"]) == ["UNOY:4"]
    assert unb_syntax(sink.files["v01_single.edi.cusres.edi"]) == ["UNOY:4"]
    [contrl] = read_contrls(sink.files["v01_single.edi.contrl.edi"])
    assert contrl["uci"]["action"] == "7"
    assert b"UNH+1+CONTRL:4:1:UN'" in sink.files["v01_single.edi.contrl.edi"]


def test_without_a_preference_the_contrl_echoes_the_inbound_syntax() -> None:
    sink = run("v06_unoa_no_una.edi", partner())  # UNOA:3 received
    assert unb_syntax(sink.files["v06_unoa_no_una.edi.contrl.edi"]) == ["UNOA:3"]
    assert unb_syntax(sink.files["v06_unoa_no_una.edi.cusres.edi"]) == ["UNOC:3"]


def test_no_contrl_for_an_accepted_interchange_when_the_partner_wants_none() -> None:
    sink = run("v01_single.edi", partner(contrl=False))
    assert "v01_single.edi.contrl.edi" not in sink.files
    assert "v01_single.edi.cusres.edi" in sink.files
