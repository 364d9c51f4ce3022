"""The reader against the real-world sample corpus (outside the repository).

The samples live in ``$CARM_SAMPLES_DIR`` (default ``../shared/samples`` beside
the repository). A missing corpus fails these tests rather than skipping them.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import pytest

from parsers.edifact.model import (
    Event,
    GroupEnd,
    GroupStart,
    InterchangeEnd,
    InterchangeStart,
    MessageRead,
    SyntaxProblem,
)
from parsers.edifact.reader import read_edifact

SAMPLES = Path(os.environ.get("CARM_SAMPLES_DIR", Path(__file__).resolve().parents[2] / "shared" / "samples"))

# Files pydifact parses but where a difference is expected, with the reason.
# Samples pydifact 0.2.3 raises on, and why; our reader reads their messages.
PYDIFACT_REJECTS = {
    "EdiFabric-EDIFACT.NET__Edifact_INVOIC_D00A_BOM.txt": "UTF-8 BOM taken as part of the tag",
    "EdiFabric-EDIFACT.NET__Edifact_INVOIC_D00A_InvalidTrailers.txt": "last segment without terminator",
    "EdiFabric-EDIFACT.NET__Edifact_INVOIC_D00A_MultipleInterchange.txt": "a second UNA in one file",
    "US-CBP-GTAS__airline2.edi": "'UNG ' tag with a trailing blank",
    "US-CBP-GTAS__apisMessage.txt": "blank before each segment",
    "US-CBP-GTAS__multiple_flight_leg_apis.txt": "blanks between segments on one line",
    "US-CBP-GTAS__pnrBadFormat.txt": "line break inside a tag",
    "bots-edi-bots-plugins__0T0000000004.edi": "junk before UNB",
    "nerdocs-pydifact__patient3.edi": "last segment without terminator",
    "xlate-staedi__wrapped_invoic_d97b.edi": "line breaks inside tags",
    "xlate-staedi__wrapped_invoic_d97b_una.edi": "line breaks inside tags",
}
# Samples whose line breaks inside a segment are data, not layout: read as for a
# partner with that setting (pydifact keeps every line break as data).
LINE_BREAKS_AS_DATA = frozenset({"php-edifact-edifact__example_multiline.edi"})
# pydifact has no envelope: it parses the corrupted 'FNB' header line and the
# orphaned UNZ as segments; with no UNB we report both and leave them out.
JUNK_HEADER_SAMPLE = "EdiFabric-EDIFACT.NET__Edifact_INVOIC_D00A_InvalidHeader.txt"


def _files(*folders: str, leave_out: frozenset[str] = frozenset()) -> list:
    if not SAMPLES.is_dir():
        return [pytest.param(None, id="samples-missing")]
    return [
        pytest.param(path, id=f"{folder}/{path.name}")
        for folder in folders
        for path in sorted((SAMPLES / folder).iterdir())
        if path.is_file() and path.name not in leave_out
    ]


def _require(path: Path | None) -> Path:
    if path is None or not SAMPLES.is_dir():
        pytest.fail(
            f"sample corpus not found at {SAMPLES}: set CARM_SAMPLES_DIR to the folder "
            "holding edifact/, iso20022/ and wco-xml/"
        )
    return path


def _edifact_sample(name: str) -> bytes:
    return _require(SAMPLES / "edifact" / name).read_bytes()


def _read(data: bytes, chunk_size: int = 1 << 20, *, keep_line_breaks: bool = False) -> list[Event]:
    return list(read_edifact(io.BytesIO(data), chunk_size=chunk_size, keep_line_breaks=keep_line_breaks))


def _summary(events: list[Event]) -> list:
    """Events as comparable plain data."""
    out: list = []
    for event in events:
        if isinstance(event, MessageRead):
            message = event.message
            out.append(("message", [(s.tag, s.elements, s.position, s.offset) for s in message.segments]))
            out.append(("findings", [f.to_dict() for f in message.findings]))
        elif isinstance(event, SyntaxProblem):
            out.append(("problem", event.finding.to_dict()))
        elif isinstance(event, InterchangeStart):
            out.append(("start", event.header.segment.elements, event.header.encoding))
        elif isinstance(event, GroupStart):
            out.append(("group", event.group.segment.elements))
        elif isinstance(event, (GroupEnd, InterchangeEnd)):
            out.append((type(event).__name__, event.trailer and event.trailer.elements))
    return out


def _our_segments(events: list[Event]) -> list[tuple[str, list[list[str]]]]:
    segments = []
    for event in events:
        if isinstance(event, InterchangeStart):
            segments.append(event.header.segment)
        elif isinstance(event, GroupStart):
            segments.append(event.group.segment)
        elif isinstance(event, MessageRead):
            segments += event.message.segments
        elif isinstance(event, (GroupEnd, InterchangeEnd)) and event.trailer is not None:
            segments.append(event.trailer)
    return [(s.tag, _trim(s.elements)) for s in segments]


def _trim(elements: list[list[str]]) -> list[list[str]]:
    """Drop trailing empty components: pydifact loses them ('VA:382324067:' -> 2
    components) because it only back-fills skipped components before content."""
    trimmed = []
    for element in elements:
        end = len(element)
        while end > 1 and element[end - 1] == "":
            end -= 1
        trimmed.append(element[:end])
    return trimmed


def _pydifact_segments(text: str) -> list[tuple[str, list[list[str]]]]:
    from pydifact.parser import Parser

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        segments = [s for s in Parser().parse(text) if s.tag != "UNA"]
    return [(s.tag, _trim([e if isinstance(e, list) else [e] for e in s.elements])) for s in segments]


def _both(path: Path) -> tuple[list[tuple[str, list[list[str]]]], list]:
    """Our segments, and the events, with pydifact given the text decoded by our codec."""
    data = path.read_bytes()
    events = _read(data, keep_line_breaks=path.name in LINE_BREAKS_AS_DATA)
    return _our_segments(events), events


def _their_text(path: Path, events: list) -> str:
    encoding = next((e.header.encoding for e in events if isinstance(e, InterchangeStart)), "latin-1")
    return path.read_bytes().decode(encoding, "replace")


@pytest.mark.parametrize("path", _files("edifact", leave_out=frozenset({*PYDIFACT_REJECTS, JUNK_HEADER_SAMPLE})))
def test_agrees_with_pydifact(path):
    ours, events = _both(_require(path))
    theirs = _pydifact_segments(_their_text(path, events))
    for number, (mine, other) in enumerate(
        zip(ours, theirs, strict=False), 1
    ):  # the first difference, then the lengths
        assert mine == other, f"segment {number} differs"
    assert len(ours) == len(theirs)


@pytest.mark.parametrize("name", sorted(PYDIFACT_REJECTS))
def test_reads_what_pydifact_rejects(name):
    path = _require(SAMPLES / "edifact" / name)
    ours, events = _both(path)
    with pytest.raises(Exception):  # noqa: B017 - pydifact raises several types
        _pydifact_segments(_their_text(path, events))
    assert any(isinstance(e, MessageRead) for e in events)
    assert any(tag == "UNH" for tag, _ in ours)


def test_junk_header_line_is_the_only_difference_from_pydifact():
    path = _require(SAMPLES / "edifact" / JUNK_HEADER_SAMPLE)
    ours, events = _both(path)
    theirs = _pydifact_segments(_their_text(path, events))
    assert [seg for seg in theirs if seg[0] not in ("FNB", "UNZ")] == ours
    assert [seg[0] for seg in theirs if seg[0] in ("FNB", "UNZ")] == ["FNB", "UNZ"]
    problems = [e.finding.message for e in events if isinstance(e, SyntaxProblem)]
    assert any("FNB" in message for message in problems)
    assert any("UNZ" in message for message in problems)


@pytest.mark.parametrize("path", _files("edifact", "iso20022", "wco-xml"))
def test_never_raises_and_ignores_chunking(path):
    data = _require(path).read_bytes()
    events = _read(data)
    assert events, "no event at all"
    assert _summary(_read(data, chunk_size=5)) == _summary(events)
    if path.parent.name != "edifact":
        (problem,) = events
        assert isinstance(problem, SyntaxProblem)
        assert "not an EDIFACT interchange" in problem.finding.message


@pytest.mark.parametrize(
    ("wrapped", "original"),
    [
        ("xlate-staedi__wrapped_invoic_d97b.edi", "xlate-staedi__invoic_d97b.edi"),
        ("xlate-staedi__wrapped_invoic_d97b_una.edi", "xlate-staedi__invoic_d97b_una.edi"),
    ],
)
def test_wrapped_samples_read_like_their_unwrapped_originals(wrapped, original):
    assert _our_segments(_read(_edifact_sample(wrapped))) == _our_segments(_read(_edifact_sample(original)))


def test_multiline_sample_drops_the_line_break_as_layout():
    events = _read(_edifact_sample("php-edifact-edifact__example_multiline.edi"))
    (message,) = [e.message for e in events if isinstance(e, MessageRead)]
    assert message.segments[5].elements[3] == [
        "THE SHIPPER SHALL NOT BE RESPONSIBLE FOR ANY COSTS/DELAYS OCCUR",
        "DUE TO INTERVENTION OF CUSTOMS.",
    ]
    assert message.findings == []


def test_multiline_sample_keeps_the_line_break_as_data_for_a_partner_that_sends_it():
    data = _edifact_sample("php-edifact-edifact__example_multiline.edi")
    events = _read(data, keep_line_breaks=True)
    (message,) = [e.message for e in events if isinstance(e, MessageRead)]
    ftx = message.segments[5]
    assert ftx.elements[3] == [
        "THE SHIPPER SHALL NOT BE RESPONSIBLE FOR ANY COSTS/DELAYS OCCUR\n",
        "DUE TO INTERVENTION OF CUSTOMS.",
    ]
    assert [(f.code, f.location.segment, f.location.tag) for f in message.findings] == [("21", 6, "FTX")]
