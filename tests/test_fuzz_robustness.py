"""Mutated fixtures through ``check_stream``: it never raises, its report is
always JSON-serializable, a rejected report always says why and where, and the
CONTRL it writes is always clean EDIFACT our own reader accepts.

Mutations of every file in fixtures/cusdec and fixtures/edifact-syntax: byte
flips, deletions, insertions of separators / release characters / CR / LF,
truncations, duplicated and swapped segments. Bounded so the module takes well
under a minute.
"""

from __future__ import annotations

import io
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.flows.contract import FlowOptions
from gateway.flows.dispatch import check_stream
from parsers.edifact.model import MessageRead, SyntaxProblem
from parsers.edifact.reader import read_edifact
from tests.edifact_helpers import FIXTURES
from tests.test_syntax_fixtures import MemorySink

FILES = sorted(
    p
    for folder in ("cusdec", "edifact-syntax")
    for p in (FIXTURES / folder).rglob("*")
    if p.is_file() and p.suffix != ".json"
)
DATA = {p: p.read_bytes() for p in FILES}
SPECIAL = [
    b"'",
    b"+",
    b":",
    b"?",
    b"*",
    b"\r",
    b"\n",
    b"\r\n",
    b"??",
    b"?'",
    b"UNA",
    b"UNB+",
    b"UNH+",
    b"UNT+",
    b"UNZ+",
    b"UNG+",
    b"UNE+",
    b"\x1c",
    b"\x1d",
    b"\x1f",
    b"\xff",
    b"\x00",
]


def _segments(data: bytes) -> list[bytes]:
    return data.split(b"'")


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    path = draw(st.sampled_from(FILES))
    data = bytearray(DATA[path])
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "delete", "insert", "truncate", "duplicate", "swap"]))
        size = len(data)
        if kind == "flip" and size:
            i = draw(st.integers(0, size - 1))
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif kind == "delete" and size:
            i = draw(st.integers(0, size - 1))
            del data[i : i + draw(st.integers(1, 8))]
        elif kind == "insert":
            i = draw(st.integers(0, size))
            data[i:i] = draw(st.sampled_from(SPECIAL))
        elif kind == "truncate":
            del data[draw(st.integers(0, size)) :]
        elif kind in ("duplicate", "swap"):
            segments = _segments(bytes(data))
            if len(segments) > 1:
                i = draw(st.integers(0, len(segments) - 2))
                if kind == "duplicate":
                    segments.insert(i, segments[i])
                else:
                    j = draw(st.integers(0, len(segments) - 2))
                    segments[i], segments[j] = segments[j], segments[i]
                data = bytearray(b"'".join(segments))
    return path.name, bytes(data)


def _check(name: str, data: bytes) -> None:
    sink = MemorySink()
    report = check_stream(io.BytesIO(data), name, FlowOptions(sink=sink, seed="fuzz", receipt_contrl=True))
    as_dict = report.to_dict()
    json.dumps(as_dict)
    if not report.accepted:
        errors = report.all_errors()
        assert errors or (not report.documents and not report.interchanges and not report.errors), as_dict
        assert errors, as_dict
        for error in errors:
            assert error.code and error.message and isinstance(error.location.describe(), str)
            assert error.location.to_dict() or error.location.describe() == "file"
    # what we answer must itself be clean EDIFACT
    for ack_name, ack in sink.files.items():
        for event in read_edifact(io.BytesIO(ack)):
            assert not isinstance(event, SyntaxProblem), (ack_name, event, ack)
            assert not isinstance(event, MessageRead) or not event.message.findings, (
                ack_name,
                event.message.findings,
                ack,
            )


def test_every_fixture_unmutated() -> None:
    for path, data in DATA.items():
        _check(path.name, data)


@settings(
    max_examples=4000,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(mutated())
def test_mutated_fixtures_never_crash_the_check(case: tuple[str, bytes]) -> None:
    _check(*case)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_crash_the_check(data: bytes) -> None:
    _check("random.edi", data)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    st.lists(
        st.sampled_from(
            [
                *SPECIAL,
                b"UNA:+.? '",
                b"UNA:+.?*'",
                b"UNB+UNOC:4+A+B+1:1+R'",
                b"UNH+1+CUSDEC:D:96B:UN:CAD01'",
                b"UNT+2+1'",
                b"UNZ+1+R'",
                b"BGM+929'",
                b"X",
            ]
        ),
        max_size=30,
    )
)
def test_envelope_soup_never_crashes_the_check(parts: list[bytes]) -> None:
    _check("soup.edi", b"".join(parts))
