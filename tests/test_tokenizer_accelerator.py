"""The C tokenizer (parsers/edifact/_tokenizer.c) against the pure-Python reader.

``read_edifact`` uses the C accelerator when it is built; the pure-Python
batch path stays as the fallback and is the reference here: both must give
the same events, segment positions and offsets, and findings — on the
sample corpus, on the fixtures, and on random and mutated inputs.

Set ``CARM_REQUIRE_ACCELERATOR=1`` (CI, release builds) to make a missing
extension a failure instead of a skip.
"""

from __future__ import annotations

import io
import os
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parsers.edifact import reader
from parsers.edifact.model import InterchangeEnd, MessageRead, Segment
from parsers.edifact.reader import read_edifact
from tests.edifact_helpers import FIXTURES
from tests.test_samples_corpus import SAMPLES, _summary

needs_accelerator = pytest.mark.skipif(
    not reader.accelerator_available(), reason="C tokenizer not built (pip install -e . builds it)"
)


def test_accelerator_is_built_when_required():
    if os.environ.get("CARM_REQUIRE_ACCELERATOR") == "1":
        assert reader.accelerator_available(), (
            "CARM_REQUIRE_ACCELERATOR=1 but parsers.edifact._tokenizer is not importable: "
            "build it with `pip install -e .` (needs a C compiler and the Python headers)"
        )
        from parsers.edifact import _tokenizer  # noqa: F401  # importing it is the test


def _events(data: bytes, chunk_size: int, accelerated: bool) -> list:
    was = reader.use_accelerator(accelerated)
    try:
        events = list(read_edifact(io.BytesIO(data), chunk_size=chunk_size))
    finally:
        reader.use_accelerator(was)
    summary = _summary(events)
    summary.append([(type(e).__name__, e.segment_count if isinstance(e, InterchangeEnd) else None) for e in events])
    summary.append(
        [
            [(s.repetitions, s.text is None or s.text) for s in e.message.segments]
            for e in events
            if isinstance(e, MessageRead)
        ]
    )
    return summary, events


def assert_same(data: bytes, chunk_size: int = 1 << 20) -> None:
    python, _ = _events(data, chunk_size, accelerated=False)
    accelerated, events = _events(data, chunk_size, accelerated=True)
    # Segment.text is only set by the C path; elsewhere it must be None.
    assert [[t for _, t in m] for m in python[-1]] == [[True] * len(m) for m in python[-1]]
    python[-1] = [[r for r, _ in m] for m in python[-1]]
    texts = accelerated[-1]
    accelerated[-1] = [[r for r, _ in m] for m in texts]
    assert accelerated == python
    # Where the C path keeps a segment's text, splitting it gives the elements.
    for event in events:
        if isinstance(event, MessageRead):
            d = event.message.delimiters
            for segment in event.message.segments:
                if segment.text is not None:
                    parts = segment.text.split(d.element)
                    assert parts[0] == segment.tag
                    assert [p.split(d.component) for p in parts[1:]] == segment.elements


def _corpus() -> list[Path]:
    folder = SAMPLES / "edifact"
    files = sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
    files += sorted(p for p in FIXTURES.rglob("*") if p.is_file() and p.suffix.lower() in {".edi", ".txt", ".edifact"})
    return files


CORPUS = _corpus()


@needs_accelerator
def test_corpus_is_there():
    assert len(CORPUS) > 20, f"sample corpus not found at {SAMPLES}"


@needs_accelerator
@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
@pytest.mark.parametrize("chunk_size", [1 << 20, 5, 64, 1000])
def test_same_events_on_the_corpus(path: Path, chunk_size: int):
    assert_same(path.read_bytes(), chunk_size)


UNB = b"UNB+UNOC:3+SENDER:ZZ+RECIPIENT:ZZ+250101:1200+REF1'"
MSG = (
    b"UNH+1+CUSDEC:D:96B:UN'BGM+929+12345678901234500001+9'FTX+AAA+++WOMEN?'S ?+ ?: ??'"
    b"NAD+IM+123456782RM0001++SOCI\xc9T\xc9'MOA+38:12.5:USD'UNT+6+1'"
)


@needs_accelerator
@pytest.mark.parametrize(
    "data",
    [
        b"UNA:+.? '" + UNB + MSG + b"UNZ+1+REF1'",
        UNB + MSG + MSG + b"UNZ+2+REF1'",
        UNB + MSG.replace(b"UNT+6+1'", b"") + MSG + b"UNZ+2+REF1'",  # UNT missing
        UNB + MSG + b"UNZ+1+REF1'junk after" + UNB + MSG,  # junk, then an interchange without UNZ
        UNB.replace(b"UNOC", b"UNOA") + MSG + b"UNZ+1+REF1'",  # lower case / Latin-1 outside UNOA
        UNB.replace(b"UNOC", b"UNOB") + MSG.replace(b"WOMEN", b"women") + b"UNZ+1+REF1'",
        UNB.replace(b"UNOC:3", b"UNOC:4") + MSG.replace(b"12.5", b"1*2?*3") + b"UNZ+1+REF1'",  # repetition
        UNB.replace(b"UNOC", b"UNOA") + MSG.replace(b"WOMEN", b"\xff\xfe") + b"UNZ+1+REF1'",  # undecodable
        UNB + b"BGM+1'UNT+2+1'UNE+1'" + MSG + b"UNZ+1+REF1",  # stray segments, last one unterminated
        UNB + MSG + b"  \r\n''  'U:NH+2'UN+X'ABCD+1'" + MSG + b"UNZ+2+REF1'",  # odd tags, blank pieces
        UNB + b"UNG+CUSDEC+S+R+250101:1200+G1'" + MSG + b"UNE+1+G1'UNZ+1+REF1'",
        UNB + MSG + b"FTX+AAA+++END WITH RELEASE?",  # a release character as the last byte
        b"UNA:+.? '" + UNB + MSG + b"UNA*+.? 'UNB*UNOC+S+R+250101+R2'UNH*1*X+D'UNT*2*1'UNZ*1*R2'",
        b"UNA:+,? '" + UNB + MSG + b"UNZ+1+REF1'",
    ],
)
@pytest.mark.parametrize("chunk_size", [1 << 20, 1, 3, 17, 64])
def test_same_events_on_malformed_inputs(data: bytes, chunk_size: int):
    assert_same(data, chunk_size)


_PIECES = [
    b"'",
    b"+",
    b":",
    b"?",
    b"*",
    b"??",
    b"?'",
    b"?+",
    b"\n",
    b"\r\n",
    b" ",
    b"\x1a",
    b"\x00",
    b"\xe9",
    b"\xff",
    b"UNH+",
    b"UNT+2+1'",
    b"UNZ+1+R'",
    b"UNB+UNOC:3+S+R+250101:1200+R'",
    b"UNB+UNOA:4+S+R+1+R'",
    b"UNA:+.? '",
    b"UNA:+.?*'",
    b"UNG+X'",
    b"UNE+1'",
    b"MOA+38:1.5'",
    b"FTX+AAA+++A?'B'",
    b"abc",
    b"LOC",
]


@needs_accelerator
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_PIECES), max_size=40), st.sampled_from([1 << 20, 1, 7, 64]))
def test_same_events_on_envelope_soup(parts: list[bytes], chunk_size: int):
    assert_same(UNB + b"".join(parts), chunk_size)


@needs_accelerator
@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.sampled_from([1 << 20, 2, 64]), st.sampled_from([b"UNOC:3", b"UNOA:4", b"UNOB:3"]))
def test_same_events_on_arbitrary_bytes(data: bytes, chunk_size: int, syntax: bytes):
    assert_same(b"UNA:+.? 'UNB+" + syntax + b"+S+R+1+R'UNH+1+X:D'" + data, chunk_size)


@needs_accelerator
def test_same_events_on_mutated_samples():
    rng = random.Random(96)
    sources = [p.read_bytes() for p in CORPUS if p.stat().st_size < 50_000][:30]
    assert sources
    for _ in range(300):
        data = bytearray(rng.choice(sources))
        for _ in range(rng.randint(1, 6)):
            at = rng.randrange(len(data) + 1)
            data[at:at] = rng.choice(_PIECES)
        if data and rng.random() < 0.5:
            del data[rng.randrange(len(data))]
        assert_same(bytes(data), rng.choice([1 << 20, 16, 100]))


@needs_accelerator
def test_tokenize_rejects_bad_arguments_without_crashing():
    from parsers.edifact import _tokenizer

    good = ("A'", 0, 0, 4096, 1, False, "+", ":", "?", None, "'", None)
    segments, stops, until = _tokenizer.tokenize(*good)
    assert until == 2 and stops == [(0, 0, 1, True)] and segments == [None]  # tag "A" is odd: decoded in Python
    bad = [
        (b"A'", *good[1:]),
        ("A'", -1, *good[2:]),
        ("A'", 3, *good[2:]),
        ("A'", 0, 0, 0, *good[4:]),
        (*good[:6], "++", *good[7:]),
        (*good[:8], 5, *good[9:]),
        (*good[:11], b"short"),
        ("A'", 0, -1, *good[3:]),
        ("A'", 0, 2**63 - 2, *good[3:]),
        ("A'", 0, 0, 4096, 2**63 - 2, *good[5:]),
        ("A'", 0, 0, 4096, 2**70, *good[5:]),
        good[:5],
    ]
    for arguments in bad:
        with pytest.raises((TypeError, ValueError, OverflowError)):
            _tokenizer.tokenize(*arguments)
    with pytest.raises(TypeError):
        _tokenizer.configure(int)


@needs_accelerator
def test_segments_built_in_c_behave_like_python_ones():
    from parsers.edifact import _tokenizer

    (segment,), stops, until = _tokenizer.tokenize(
        "MOA+38:1.5:USD'", 0, 100, 4096, 7, False, "+", ":", "?", None, "'", None
    )
    assert type(segment) is Segment
    assert (segment.tag, segment.elements, segment.position, segment.offset) == ("MOA", [["38", "1.5", "USD"]], 7, 100)
    assert segment.repetitions is None and segment.text == "MOA+38:1.5:USD"
    assert segment == Segment("MOA", [["38", "1.5", "USD"]]) and stops == [] and until == 15
    segment.elements[0].append("X")  # ordinary lists
    assert segment.get(1, 4) == "X"


# Segments of many elements and components, short and long: the tokenizer
# sizes its lists from a first pass over the separators (on the stack up to
# 256 of them, on the heap beyond), copies all-ASCII values without looking for
# their largest character, and reads one-byte texts (UNOC) and two-byte ones
# (UNOE, UNOF: Cyrillic and Greek decode above U+00FF) with the same code.
_BYTES = [b"A", b"Z", b"0", b"9", b" ", b".", b"-", b"\xe9", b"\xc4", b"\xff", b"??", b"?+", b"?:", b"?'"]
_VALUE = st.lists(st.sampled_from(_BYTES), max_size=12).map(b"".join)
_ELEMENT = st.lists(_VALUE, min_size=1, max_size=6).map(b":".join)
_SEGMENT = st.builds(
    lambda tag, elements: tag + b"".join(b"+" + e for e in elements),
    st.sampled_from([b"FTX", b"MOA", b"NAD", b"CST"]),
    st.lists(_ELEMENT, max_size=80),
)


@needs_accelerator
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(_SEGMENT, min_size=1, max_size=6),
    st.sampled_from([b"UNOC:3", b"UNOE:3", b"UNOF:3", b"UNOA:3"]),
    st.sampled_from([1 << 20, 7, 300]),
)
def test_same_events_on_long_and_short_segments(segments: list[bytes], syntax: bytes, chunk_size: int):
    body = b"'".join(segments) + b"'"
    data = (
        b"UNA:+.? 'UNB+"
        + syntax
        + b"+S+R+1+R'UNH+1+CUSDEC:D:96B:UN'"
        + body
        + b"UNT+%d+1'UNZ+1+R'" % (len(segments) + 2)
    )
    assert_same(data, chunk_size)


@needs_accelerator
def test_long_segments_split_as_written():
    """Hand-written: 300 one-character components (more separators than the
    tokenizer keeps on its stack) and an ASCII and a Latin-1 value."""
    values = [chr(ord("A") + i % 26) for i in range(300)]
    segment = "FTX+AAA+++" + ":".join(values) + "+ASCII ONLY+SOCI\xc9T\xc9"
    data = ("UNB+UNOC:3+S+R+1+R'UNH+1+CUSDEC:D:96B:UN'" + segment + "'UNT+3+1'UNZ+1+R'").encode("latin-1")
    [message] = [e.message for e in read_edifact(io.BytesIO(data)) if isinstance(e, MessageRead)]
    ftx = message.segments[1]
    assert ftx.elements == [["AAA"], [""], [""], values, ["ASCII ONLY"], ["SOCIÉTÉ"]]
    assert ftx.text == segment


@needs_accelerator
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.integers(0, len(MSG) + 11),
            st.sampled_from([b"\x85", b"\x80", b"\x9f", b"\xa0", b"\xd0\x96", b"\xc2\x85", b"\r", b"\n", b"\r\n"]),
        ),
        max_size=8,
    ),
    st.sampled_from([b"UNOC:3", b"UNOE:3", b"UNOB:3", b"UNOY:4", b"XXXX:3"]),
    st.sampled_from([1 << 20, 1, 2, 7, 64]),
)
def test_same_events_with_line_breaks_and_bytes_outside_the_charset(
    inserts: list[tuple[int, bytes]], syntax: bytes, chunk_size: int
):
    """Layout line breaks dropped and C1 controls reported (21) alike on both
    paths, for every charset family (UNOE: characters above U+00FF)."""
    body = MSG + b"UNZ+1+REF1'"
    for at, piece in sorted(inserts, reverse=True):
        body = body[:at] + piece + body[at:]
    assert_same(UNB.replace(b"UNOC:3", syntax) + body, chunk_size)
