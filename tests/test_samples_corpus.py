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
PYDIFACT_DIFFERENCES = {
    # pydifact has no envelope: it parses the corrupted 'FNB' header as a segment,
    # we skip it as non-EDIFACT data before the first UNH (and report it).
    "EdiFabric-EDIFACT.NET__Edifact_INVOIC_D00A_InvalidHeader.txt": "junk line before UNH",
}


def _files(*folders: str) -> list:
    if not SAMPLES.is_dir():
        return [pytest.param(None, id="samples-missing")]
    return [
        pytest.param(path, id=f"{folder}/{path.name}")
        for folder in folders
        for path in sorted((SAMPLES / folder).iterdir())
        if path.is_file()
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


def _read(data: bytes, chunk_size: int = 1 << 20) -> list[Event]:
    return list(read_edifact(io.BytesIO(data), chunk_size=chunk_size))


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


@pytest.mark.parametrize("path", _files("edifact"))
def test_agrees_with_pydifact(path):
    path = _require(path)
    data = path.read_bytes()
    events = _read(data)
    encoding = next((e.header.encoding for e in events if isinstance(e, InterchangeStart)), "latin-1")
    try:
        theirs = _pydifact_segments(data.decode(encoding, "replace"))
    except Exception as error:  # pydifact rejects many real-world files: nothing to compare
        pytest.skip(f"pydifact cannot parse it: {type(error).__name__}: {str(error)[:80]}")
    if path.name in PYDIFACT_DIFFERENCES:
        pytest.skip(f"known difference: {PYDIFACT_DIFFERENCES[path.name]}")
    ours = _our_segments(events)
    for number, (mine, other) in enumerate(zip(ours, theirs), 1):
        assert mine == other, f"segment {number} differs"
    assert len(ours) == len(theirs)


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


def test_multiline_sample_keeps_the_line_break_as_data():
    events = _read(_edifact_sample("php-edifact-edifact__example_multiline.edi"))
    (message,) = [e.message for e in events if isinstance(e, MessageRead)]
    ftx = message.segments[5]
    assert ftx.elements[3] == [
        "THE SHIPPER SHALL NOT BE RESPONSIBLE FOR ANY COSTS/DELAYS OCCUR\n",
        "DUE TO INTERVENTION OF CUSTOMS.",
    ]
    assert [(f.code, f.location.segment, f.location.tag) for f in message.findings] == [("21", 6, "FTX")]
