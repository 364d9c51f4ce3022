"""Every file of fixtures/edifact-syntax through ``check_stream`` (no posting)
with an in-memory outbox: the report's verdict, the documents' statuses and
each CONTRL we write must be the hand-written ones of expected.json."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from gateway.flows.contract import FlowOptions
from gateway.flows.dispatch import check_stream
from mappings.cusdec_declaration import map_cusdec
from parsers.edifact.model import InterchangeStart, MessageRead
from parsers.edifact.reader import read_edifact
from tests.ack_reader import read_contrls
from tests.edifact_helpers import FIXTURES, messages_of

SYNTAX = FIXTURES / "edifact-syntax"
EXPECTED = json.loads((SYNTAX / "expected.json").read_text(encoding="utf-8"))["files"]


class MemorySink:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}

    @contextmanager
    def open(self, name: str) -> Iterator[io.BytesIO]:
        out = io.BytesIO()
        yield out
        self.files[name] = out.getvalue()


def _run(name: str) -> tuple[Any, MemorySink]:
    sink = MemorySink()
    report = check_stream(io.BytesIO((SYNTAX / name).read_bytes()), Path(name).name, FlowOptions(sink=sink, seed=name))
    return report, sink


def _envelopes(data: bytes) -> list[tuple[str, str]]:
    """(UNB S001, UNH S009) of every interchange in an acknowledgement file."""
    found: list[tuple[str, str]] = []
    syntax = ""
    for event in read_edifact(io.BytesIO(data)):
        if isinstance(event, InterchangeStart):
            syntax = f"{event.header.syntax_identifier}:{event.header.syntax_version}"
        elif isinstance(event, MessageRead):
            found.append((syntax, ":".join(event.message.header.elements[1])))
    return found


def test_every_fixture_has_an_expectation() -> None:
    on_disk = {str(p.relative_to(SYNTAX)) for p in SYNTAX.rglob("*.edi")}
    assert on_disk == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_report_and_contrl_match_the_expected_ones(name: str) -> None:
    expected = EXPECTED[name]
    report, sink = _run(name)
    assert report.accepted is expected["accepted"], report.to_dict()
    assert name.startswith("valid/") is expected["accepted"]
    assert [d.status for d in report.documents] == expected["documents"]
    if not expected["accepted"]:
        assert report.all_errors()

    data = sink.files[f"{Path(name).name}.contrl.edi"]
    assert [(c["syntax"], c["type"]) for c in expected["contrl"]] == _envelopes(data)
    contrls = read_contrls(data)
    assert len(contrls) == len(expected["contrl"])
    for actual, wanted in zip(contrls, expected["contrl"], strict=True):
        uci = {"sender": "BROKER01", "recipient": "CARMGW", "code": "", "tag": "", "position": "", **wanted["uci"]}
        assert {k: actual["uci"][k] for k in uci} == uci
        assert len(actual["messages"]) == len(wanted["messages"])
        for message, wanted_message in zip(actual["messages"], wanted["messages"], strict=True):
            simple = {
                "type": "CUSDEC",
                "code": "",
                "tag": "",
                "position": "",
                **{k: v for k, v in wanted_message.items() if k != "segments"},
            }
            assert {k: message[k] for k in simple} == simple
            segments = [
                {"position": s["position"], "code": s["code"], **({"elements": s["elements"]} if s["elements"] else {})}
                for s in message["segments"]
            ]
            assert segments == wanted_message.get("segments", [])


@pytest.mark.parametrize("name", sorted(n for n, e in EXPECTED.items() if "values" in e))
def test_charsets_delimiters_and_release_characters_are_decoded(name: str) -> None:
    [(message, decimal), *_] = messages_of((SYNTAX / name).read_bytes())
    declaration = map_cusdec(message, decimal).declaration
    assert declaration is not None
    actual = {
        "vendor": declaration.invoices[0].vendor.name,
        "description": declaration.lines[0].description,
        "filer_reference": declaration.filer_reference,
        "total": str(declaration.invoices[0].total_amount),
    }
    wanted = EXPECTED[name]["values"]
    assert {k: actual[k] for k in wanted} == wanted


def test_valid_fixtures_answer_in_their_own_syntax_without_findings() -> None:
    """Our CONTRLs, read back by our own reader, are clean EDIFACT."""
    for name in EXPECTED:
        _report, sink = _run(name)
        for event in read_edifact(io.BytesIO(sink.files[f"{Path(name).name}.contrl.edi"])):
            assert not isinstance(event, MessageRead) or not event.message.findings, name
            assert type(event).__name__ != "SyntaxProblem", (name, event)
