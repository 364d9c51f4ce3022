"""The fast CUSDEC path (``mappings.cusdec_fast``) against the full mapper.

``map_cusdec`` must give the same declaration, findings and sources whether
the fast path mapped the message or gave up, so every message here is mapped
both ways: by default (fast path, lazy sources) and with ``with_sources=True``
(the full walk only). Where the fast path does not give up, the dict it builds
must be the full walk's, and the full walk must have found nothing.
"""

from __future__ import annotations

import dataclasses
import io
import random
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from benchmarks.edifact_throughput import _declaration as benchmark_declaration
from domain import Declaration
from mappings import cusdec_fast
from mappings.cusdec_declaration import MappingResult, _walk, map_cusdec
from mappings.cusdec_fast import _all_plain, plain_data, plain_decimal, plain_declaration
from mappings.declaration_cusdec import IDENTIFIER, cusdec_segments
from mappings.edifact_writer import InterchangeWriter
from parsers.edifact.model import Delimiters, Message, Segment
from tests.builders import declaration
from tests.edifact_helpers import FIXTURES, messages_of


def outcome(message: Message, mark: str, **options: Any) -> tuple[Any, ...]:
    """What ``map_cusdec`` gives (sources forced), or the exception it raises."""
    try:
        result = map_cusdec(message, mark, **options)
    except Exception as error:  # the full mapper's own behaviour on odd input
        return ("raised", type(error), str(error))
    return (result.declaration, result.findings, result.sources, result.message_ref)


def assert_same(message: Message, mark: str) -> None:
    assert outcome(message, mark) == outcome(message, mark, with_sources=True)
    data = plain_data(message, mark)
    if data is not None:
        builder = _walk(message, mark)
        assert data == builder.data
        assert builder.findings == []


# Fixtures -------------------------------------------------------------------

FIXTURE_FILES = sorted(FIXTURES.rglob("*.edi"))


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda path: str(path.relative_to(FIXTURES)))
def test_fixture_messages_map_the_same(path: Path) -> None:
    for message, mark in messages_of(path.read_bytes()):
        assert_same(message, mark)


def test_fast_path_is_taken_for_ordinary_fixtures() -> None:
    taken = {
        path.name: [plain_declaration(message, mark) is not None for message, mark in messages_of(path.read_bytes())]
        for path in sorted((FIXTURES / "cusdec" / "valid").glob("*.edi"))
    }
    assert taken.pop("v05_decimal_comma.edi") == [False]  # 8000,00: not a plain number
    assert all(all(messages) for messages in taken.values()), taken


def test_fast_path_gives_up_where_the_full_mapper_reports() -> None:
    for name in ("i09_missing_mandatory.edi", "i10_bad_date.edi", "i13_line_count.edi"):
        [(message, mark)] = messages_of((FIXTURES / "cusdec" / "invalid" / name).read_bytes())
        assert plain_declaration(message, mark) is None
        assert map_cusdec(message, mark).findings


# Generated messages -----------------------------------------------------------


def interchange(declarations: list[Declaration], delimiters: Delimiters = Delimiters(), syntax: str = "UNOC") -> bytes:
    out = io.BytesIO()
    writer = InterchangeWriter(
        out, sender=("A", "ZZZ"), recipient=("B", "ZZZ"), control_reference="1", syntax=(syntax, "3"), delimiters=delimiters
    )
    for number, item in enumerate(declarations, start=1):
        writer.write_message(f"M{number}", IDENTIFIER, cusdec_segments(item))
    writer.close()
    return out.getvalue()


def _line(**changes: Any) -> dict[str, Any]:
    return {**declaration().lines[0].model_dump(), **changes}


VARIANTS = [
    declaration(),
    declaration(
        function="4",
        version=3,
        amendment={"reason_code": "R2-74-1-C11", "explanation": "WRONG TREATMENT: USE 10?+'" + " MORE TEXT" * 12, "kind": "adjustment"},
        cargo_control_number="ABCD-1234567",
        vendor={"name": "O'BRIEN + SONS: TOOLS?", "country": "IE"},
    ),
    declaration(function="4", version=2, amendment={"reason_code": "R2-74-1-C11"}),
    declaration(function="1", version=4, amendment={"reason_code": "R1", "explanation": "CANCELLED"}),
    declaration(
        importer={"account": "123456782RM0001"},
        filer_reference=None,
        invoice={"number": "INV-1", "total_amount": Decimal("1200.00")},
        vendor={"name": "MÜLLER & SÖHNE GMBH"},
        lines=[
            _line(invoice_amount=None, duty_rate=None, customs_duty=None, gst=None, value_for_tax=None),
            _line(line_number=2, excise_tax=Decimal("12.50"), duty_rate=Decimal("0"), customs_duty=Decimal("0.00")),
            _line(line_number=3, duty_rate=None, quantity=Decimal("0.000001"), description=("ÉTÉ CHAUD " * 34).strip()),
        ],
    ),
]


def _generated() -> list[tuple[Message, str]]:
    rng = random.Random(7)
    bench = [benchmark_declaration(rng, index) for index in range(1, 13)]
    return (
        messages_of(interchange(bench + VARIANTS))
        + messages_of(interchange(VARIANTS, Delimiters(decimal=",")))
        + messages_of(interchange(VARIANTS[:2], Delimiters(component="|", element="^", release="\\", terminator="~")))
        + messages_of(interchange(VARIANTS[:2], syntax="UNOA"))
    )


GENERATED = _generated()


@pytest.mark.parametrize("index", range(len(GENERATED)))
def test_generated_messages_map_the_same_on_the_fast_path(index: int) -> None:
    message, mark = GENERATED[index]
    assert plain_declaration(message, mark) is not None
    assert_same(message, mark)


def test_round_trips_on_the_fast_path() -> None:
    found = [map_cusdec(message, mark).declaration for message, mark in messages_of(interchange(VARIANTS))]
    assert found == VARIANTS


def test_sources_are_computed_once_when_read() -> None:
    message, mark = GENERATED[0]
    calls = []

    def sources() -> dict[str, Any]:
        calls.append(1)
        return _walk(message, mark).sources

    result = MappingResult(None, [], sources, message.reference)
    assert calls == []
    first = result.sources
    assert result.sources is first and calls == [1]
    assert result.locate("lines[0].hs_code") == map_cusdec(message, mark, with_sources=True).locate("lines[0].hs_code")


def test_the_fast_path_validates_through_the_module_function(monkeypatch: pytest.MonkeyPatch) -> None:
    """The benchmark times pydantic by replacing ``cusdec_fast.validate``."""
    seen = []

    def counting(data: dict[str, Any]) -> Declaration:
        seen.append(data)
        return Declaration.model_validate(data)

    monkeypatch.setattr(cusdec_fast, "validate", counting)
    message, mark = GENERATED[0]
    assert map_cusdec(message, mark).declaration is not None
    assert len(seen) == 1


# Numbers ------------------------------------------------------------------------

NUMBER_TEXT = st.text(alphabet="0123456789.\n eE+-_,٣²", min_size=1, max_size=8)


@given(st.lists(NUMBER_TEXT, min_size=1, max_size=5))
@settings(max_examples=400, deadline=None)
def test_all_plain_is_plain_decimal_of_each(texts: list[str]) -> None:
    try:
        for text in texts:
            Decimal(text)
    except InvalidOperation:
        return  # the walk has given up before
    assert _all_plain(texts) == all(plain_decimal(text) for text in texts)


# Mutations of a valid message ---------------------------------------------------

BASE = messages_of(interchange([VARIANTS[1], VARIANTS[4]]))
GARBAGE = st.one_of(
    st.sampled_from(
        ["", "0", "00", "1,5", "1.", ".5", "1e5", " 12", "12 ", "-1", "1_0", "٣", "²", "NaN", "1.2.3", "ABC", "20250230",
         "2025011", "20250115", "203", "102", "CAD", "USD", "D", "S", "5", "6", "929", "9", "380", "39", "40", "38", "124",
         "125", "CUD", "GST", "EXC", "AAA", "AAE", "27", "22", "271", "3", "CHG", "ADJ", "IM", "DT", "SE", "ABE", "CN",
         "1020700030001400001", "99999999999999999999", "CST", "UNS", "MOA", "TAX"]
    ),
    st.text(alphabet="0123456789.,:AZÉé²٣ -", max_size=6),
)


def _copy(segment: Segment) -> Segment:
    return Segment(segment.tag, [list(values) for values in segment.elements], segment.position)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[Message, str]:
    message, mark = draw(st.sampled_from(BASE))
    segments = [_copy(segment) for segment in message.segments]
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["drop", "duplicate", "swap", "value", "value", "value", "tag", "truncate"]))
        index = draw(st.integers(1, len(segments) - 2))  # UNH and UNT stay
        segment = segments[index]
        if kind == "drop":
            del segments[index]
        elif kind == "duplicate":
            segments.insert(draw(st.integers(1, len(segments) - 1)), _copy(segment))
        elif kind == "swap":
            other = draw(st.integers(1, len(segments) - 2))
            segments[index], segments[other] = segments[other], segments[index]
        elif kind == "tag":
            segment.tag = draw(st.sampled_from(["CST", "UNS", "MOA", "TAX", "FTX", "DTM", "CNT", "UNT", "GIS"]))
        elif kind == "truncate" and segment.elements:
            element = draw(st.integers(0, len(segment.elements) - 1))
            segment.elements = segment.elements[:element] + [segment.elements[element][: draw(st.integers(0, 1))]]
        elif segment.elements:
            element = draw(st.integers(0, len(segment.elements)))
            if element == len(segment.elements):
                segment.elements.append([""])
            values = segment.elements[element]
            component = draw(st.integers(0, len(values)))
            if component == len(values):
                values.append("")
            values[component] = draw(GARBAGE)
    return dataclasses.replace(message, segments=segments), draw(st.sampled_from([mark, mark, ",", "#"]))


@given(mutated())
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_mutated_messages_map_the_same(case: tuple[Message, str]) -> None:
    message, mark = case
    event("fast path taken" if plain_declaration(message, mark) is not None else "fast path gave up")
    assert_same(message, mark)


def test_base_messages_take_the_fast_path() -> None:
    """The mutations start from messages the fast path maps."""
    assert all(plain_declaration(message, mark) is not None for message, mark in BASE)
