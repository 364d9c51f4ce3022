"""The fast CAD-IN path (``mappings.cadxml_fast``) against the walk.

``map_cad_declaration`` must give the same declaration and findings whether
the fast path mapped the element or gave up, so every Declaration here is
mapped both ways while the reader still holds it: with ``with_sources=False``
(fast path, no sources) and by default (the walk only). Where the fast path
does not give up, the dict it builds must be the walk's, and the walk must
have found nothing; where it gives up, the ``with_sources=False`` call returns
the walk's sources too. The walk's sources themselves are checked against the element:
each is the line of the element at the field's XPath.
"""

from __future__ import annotations

import copy
import io
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from lxml import etree

from benchmarks.xml_throughput import generate
from mappings.cadxml_declaration import NAMESPACE, XmlMappingResult, _walk, cadin_document, map_cad_declaration, xpath_of
from mappings.cadxml_fast import map_fast
from parsers.xml.cad_reader import DeclarationRead, read_cad_in
from tests.builders import declaration
from tests.xml_helpers import XML_FIXTURES

N = f"{{{NAMESPACE}}}"
SENDERS = [("123456782RM0001", "HN"), ("123026635RM0001", "AK")]


def outcome(element: etree._Element, base: str, **options: Any) -> tuple[tuple[Any, ...], dict[str, Any] | None]:
    """What ``map_cad_declaration`` gives (or the exception the walk raises on odd input), and its sources."""
    try:
        result = map_cad_declaration(element, base, **options)
    except Exception as error:  # the walk's own behaviour on schema-invalid input
        return ("raised", type(error), str(error)), None
    dump = result.declaration.model_dump(mode="json") if result.declaration is not None else None
    summary = (result.declaration, dump, result.findings, result.base, result.line, result.transaction_number, result.version, result.filer_reference)
    return summary, result.sources


def assert_same(element: etree._Element, base: str) -> bool:
    """Both paths agree on ``element``; returns whether the fast path took it."""
    (fast_result, fast_sources), (walk, walk_sources) = outcome(element, base, with_sources=False), outcome(element, base)
    assert fast_result == walk
    fast = map_fast(element)
    if fast is not None:
        builder, version = _walk(element, base)
        assert (fast.data, fast.version, builder.findings) == (builder.data, version, [])
    taken = fast is not None and fast_sources == {}
    assert taken or fast_sources == walk_sources
    return taken


def declarations(data: bytes) -> Iterator[DeclarationRead]:
    """The file's declarations through the real reader (each alive until the next is asked for)."""
    for event_ in read_cad_in(io.BytesIO(data)):
        if isinstance(event_, DeclarationRead):
            yield event_


def check_file(data: bytes) -> list[bool]:
    """Both paths agree on every declaration of the file; whether the fast path took each."""
    taken = []
    for read in declarations(data):
        taken.append(assert_same(read.element, read.xpath))
        if not read.findings:
            assert_sources_are_lines(read.element, map_cad_declaration(read.element, read.xpath))
    return taken


def assert_sources_are_lines(element: etree._Element, result: XmlMappingResult) -> None:
    """Each recorded source is the line of the element at the field's XPath (attributes: their element's)."""
    for path, line in result.sources.items():
        steps = [step for step in xpath_of(path).split("/") if step and not step.startswith("@")]
        found = element.xpath("./" + "/".join(_prefixed(step) for step in steps), namespaces={"w": NAMESPACE})
        assert found, path
        assert line == found[0].sourceline, path


def _prefixed(step: str) -> str:
    """``DutyTaxFee[TypeCode='GST']`` → ``w:DutyTaxFee[normalize-space(w:TypeCode)='GST']``."""
    name, bracket, predicate = step.partition("[")
    if predicate[:1].isdigit() or not bracket:
        return f"w:{step}"
    child, _, value = predicate.partition("=")
    return f"w:{name}[normalize-space(w:{child})={value}"


def indented(data: bytes) -> bytes:
    """The same file pretty-printed: whitespace between every tag."""
    root = etree.fromstring(data)
    etree.indent(root, space="  ")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


# Fixtures and generated files ---------------------------------------------------------------

FIXTURE_FILES = sorted(XML_FIXTURES.rglob("*.xml"))


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda path: str(path.relative_to(XML_FIXTURES)))
def test_fixture_declarations_map_the_same(path: Path) -> None:
    check_file(path.read_bytes())


def test_fast_path_is_taken_for_ordinary_fixtures() -> None:
    taken = {path.name: check_file(path.read_bytes()) for path in sorted((XML_FIXTURES / "valid").glob("*.xml"))}
    assert taken and all(flags and all(flags) for flags in taken.values()), taken


@pytest.mark.parametrize("name", ["i04_bad_date.xml", "i14_two_shipments.xml"])
def test_fast_path_gives_up_where_the_walk_reports(name: str) -> None:
    reported = 0
    for read in declarations((XML_FIXTURES / "invalid" / name).read_bytes()):
        walk = map_cad_declaration(read.element, read.xpath)
        if walk.findings:
            reported += 1
            assert map_fast(read.element) is None
            assert map_cad_declaration(read.element, read.xpath, with_sources=False).findings == walk.findings
    assert reported


@pytest.fixture(scope="module")
def benchmark_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    directory = tmp_path_factory.mktemp("cadin")
    files = {}
    for indent in (False, True):
        path = directory / f"bench_{indent}.xml"
        generate(path, 250_000, indent)
        files["indented" if indent else "compact"] = path.read_bytes()
    return files


@pytest.mark.parametrize("layout", ["compact", "indented"])
def test_benchmark_declarations_take_the_fast_path(benchmark_files: dict[str, bytes], layout: str) -> None:
    data = benchmark_files[layout]
    if layout == "indented":
        assert re.search(rb"\n +<Commodity>\n +<SequenceNumeric>", data)
    taken = check_file(data)
    assert len(taken) > 10 and all(taken)


UNUSUAL = declaration(
    function="4",
    version=12,
    filer_reference="REF <1> & \"2\"",
    importer={"account": "123456782RM0001", "name": "SOCIÉTÉ GÉNÉRALE D'IMPORTATION"},
    declarant={"account": "123026635RM0001", "name": "ÆØÅ + Zürich: 東京 😀 ?'"},
    amendment={"reason_code": "R2-74-1-C11", "explanation": "WRONG TREATMENT: <USE 10> & MORE 'quoted' \"too\"", "kind": "adjustment"},
    cargo_control_number="ABCD-1234567",
    invoice={"number": "INV&<1>", "total_amount": Decimal("10.00")},
    vendor={"name": "O'BRIEN & SONS <TOOLS> ?+:'", "street": "1 RUE DE L'ÉGLISE", "city": "MÜNCHEN", "postcode": "80331", "country": "DE"},
    lines=[
        {
            "line_number": 1, "description": "A&B <C> ?:+' é", "hs_code": "0901210000", "tariff_treatment": "2", "country_of_origin": "CO",
            "quantity": Decimal("250.5"), "unit": "KGM", "value_for_duty": Decimal("1350.00"), "excise_tax": Decimal("1.00"),
            "customs_duty": Decimal("2.00"), "gst": Decimal("3.00"), "value_for_tax": Decimal("4.00"), "duty_rate": Decimal("5"),
        },
        {
            "line_number": 2, "description": "B", "hs_code": "8415100000", "tariff_treatment": "10", "country_of_origin": "US",
            "quantity": Decimal("4"), "unit": "NMB", "value_for_duty": Decimal("1620.00"),
        },
    ],
)


@pytest.mark.parametrize("layout", ["compact", "indented"])
def test_escaped_and_non_ascii_text_takes_the_fast_path(layout: str) -> None:
    data = cadin_document([UNUSUAL, declaration()], "FAST-1", SENDERS)
    if layout == "indented":
        data = indented(data)
    assert b"&amp;" in data and b"&lt;" in data
    assert check_file(data) == [True, True]
    [result, _] = [map_cad_declaration(read.element, read.xpath, with_sources=False) for read in declarations(data)]
    assert result.declaration == UNUSUAL and result.sources == {}
    assert result.locate("lines[0].hs_code").line == result.line  # no sources: the Declaration's line


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("<RateNumeric>", "<RateNumeric>&#49;"),  # character references the parser resolves
        ("<Name>NORTHERN", "<Name>&#x4E;&#78;&apos;&quot;&gt;"),
        ('currencyID="CAD"', 'currencyID="&#67;AD"'),
        ("<Description>COTTON", "<Description>&#13;\tCOTTON&#x9;&#10;"),
        ('unitCode="NMB"', 'unitCode="&#9;NMB&#10;"'),
        ("<TypeCode>CUD</TypeCode>", "<TypeCode>\n CUD\t</TypeCode>"),
    ],
)
def test_references_and_padding_take_the_fast_path(old: str, new: str) -> None:
    text = (XML_FIXTURES / "valid" / "v01_single.xml").read_text()
    assert old in text
    assert check_file(text.replace(old, new, 1).encode()) == [True]


def test_pydantic_complaints_come_from_the_walk() -> None:
    # schema-valid (xs:string, length 3), but not the domain's Text (stripped, at least 1)
    text = (XML_FIXTURES / "valid" / "v01_single.xml").read_text().replace("<Description>COTTON T-SHIRTS, MEN'S<", "<Description>   <")
    for read in declarations(text.encode()):  # the element lives until the next is asked for
        assert map_fast(read.element) is not None
        assert not assert_same(read.element, read.xpath)
        result = map_cad_declaration(read.element, read.xpath, with_sources=False)
        assert [(f.code, f.location.line) for f in result.findings] == [("12", 66)] and result.sources


@pytest.mark.parametrize(
    ("old", "new", "fast"),
    [
        (">810.00<", ">000810.0000<", True),  # leading and trailing zeros do not count
        (">120<", ">120.123456<", True),  # a quantity may have 6 decimal places
        (">18<", ">18.000001<", True),  # so may a rate
        (">145.80<", ">145.805<", False),  # an amount only 2
        (">120<", ">120.1234567<", False),
        (">47.79<", ">12345678901234567<", False),  # 17 integer digits
        (">955.80<", "> 955.80<", False),  # not a plain number: the walk's to convert
        (">600.00<", ">+600.00<", False),
        (">120<", ">0<", True),  # fits its digits; pydantic refuses it (quantity > 0)
    ],
)
def test_line_amounts_are_checked_against_their_digit_limits(old: str, new: str, fast: bool) -> None:
    """The fast path checks the line amounts' digits, which ``validate_checked``
    then leaves out; where one does not fit, the walk maps and reports it."""
    text = (XML_FIXTURES / "valid" / "v01_single.xml").read_text()
    position = text.index(old, text.index("<GovernmentAgencyGoodsItem>"))
    element = _direct(text[:position] + new + text[position + len(old) :], etree.XMLParser())
    assert (map_fast(element) is not None) is fast
    assert_same(element, "/DocumentMetaData/Declaration[1]")
    result = map_cad_declaration(element, "/DocumentMetaData/Declaration[1]", with_sources=False)
    assert (result.declaration is None) is (new in (">145.805<", ">120.1234567<", ">12345678901234567<", ">0<"))


def _direct(text: str, parser: etree.XMLParser) -> etree._Element:
    root = etree.fromstring(text.encode(), parser)
    return root.find(f"{N}Declaration")


@pytest.mark.parametrize(
    ("old", "new", "parser"),
    [
        ("<ID>10207000300014</ID>", "<ID>10207<!-- c -->000300014</ID>", etree.XMLParser()),
        ("<ID>10207000300014</ID>", "<ID>10207<?pi x?>000300014</ID>", etree.XMLParser()),
        ("<Description>COTTON", "<Description><![CDATA[<COTTON>]]>", etree.XMLParser(strip_cdata=False)),
        ("<Name>NORTHERN", "<Name>&brand;", etree.XMLParser(resolve_entities=False)),
        ("<Declaration>", '<w:Declaration xmlns:w="urn:wco:datamodel:WCO:Declaration:1">', etree.XMLParser()),
    ],
)
def test_gives_up_on_what_it_does_not_read(old: str, new: str, parser: etree.XMLParser) -> None:
    """Comments, PIs, CDATA and entities never reach the mapper through the
    reader (it drops them, or refuses a DTD); other callers get the walk."""
    text = (XML_FIXTURES / "valid" / "v01_single.xml").read_text()
    text = text.replace(old, new, 1)
    if new.startswith("<w:Declaration"):
        text = text.replace("</Declaration>", "</w:Declaration>")
    if "&brand;" in new:
        text = text.replace("<DocumentMetaData", '<!DOCTYPE DocumentMetaData [<!ENTITY brand "NORTHERN">]>\n<DocumentMetaData', 1)
    element = _direct(text, parser)
    assert map_fast(element) is None
    assert_same(element, "/DocumentMetaData/Declaration[1]")


# Mutations of valid declarations, through the reader -----------------------------------------

BASES = {
    "v01": (XML_FIXTURES / "valid" / "v01_single.xml").read_bytes(),
    "v04": (XML_FIXTURES / "valid" / "v04_correction.xml").read_bytes(),
    "unusual": cadin_document([UNUSUAL], "MUT-1", SENDERS),
}
VALUES = st.one_of(
    st.sampled_from(["", " ", "X", "garbage", "-1", "0", "00001", "99999999", "1.234567891", "CUD", "GST", "EXC", "ADJ", "9", "4", "1"]),
    st.sampled_from(["USD", "CAD", " CAD ", "EUR", "20250230", "2025011", "²", "٣", "1e3", "&", "<x>", "\r\n", "A\u00a0B", "A  B", "N\"M'"]),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Cn")), max_size=8),
)
WHITESPACE = st.sampled_from([" ", "  ", "\t", "\n", "\r\n ", "\u00a0"])
TREE_MUTATIONS = ("drop", "duplicate", "swap", "text", "pad", "attribute", "comment")
TEXT_MUTATIONS = ("prefix", "reference")  # lxml would write these back plainly


def _apply(element: etree._Element, kind: str, value: str) -> None:
    """One mutation of ``element``: ``value`` is the new text or attribute value, or the padding."""
    if kind == "drop":
        element.getparent().remove(element)
    elif kind == "duplicate":
        element.addnext(copy.deepcopy(element))
    elif kind == "swap":
        following = element.getnext()
        if following is not None:
            following.addnext(element)
    elif kind == "text" and len(element) == 0:
        element.text = value
    elif kind == "pad" and len(element) == 0:
        element.text = f"{value}{element.text or ''}{value}"
    elif kind == "attribute":
        for name in element.attrib:
            element.set(name, value)
    elif kind == "comment":
        element.insert(0, etree.Comment("note"))


def _elements(root: etree._Element) -> list[etree._Element]:
    """The elements inside the (first) Declaration."""
    return list(root.find(f"{N}Declaration").iter(etree.Element))[1:]


@pytest.mark.parametrize("base", sorted(BASES))
@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("drop", ""), ("duplicate", ""), ("swap", ""), ("pad", " \n\t"), ("text", "  "), ("text", "X"), ("text", "1 \t 2"),
        ("attribute", " CAD "), ("attribute", 'N"M\t'),
    ],
)
def test_every_single_mutation_maps_the_same(base: str, kind: str, value: str) -> None:
    """Each element of the declaration in turn: dropped, repeated, moved, padded, blanked…"""
    for index in range(len(_elements(etree.fromstring(BASES[base])))):
        root = etree.fromstring(BASES[base])
        _apply(_elements(root)[index], kind, value)
        check_mutated(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def check_mutated(data: bytes) -> None:
    for read in declarations(data):
        assert_same(read.element, read.xpath)


_LEAF = re.compile(rb"<(\w+)>([^<]*)</\1>")


def _rewrite(document: bytes, kind: str, data: st.DataObject) -> bytes:
    """A namespace prefix on one leaf of the Declaration, or one character of
    a value written as a character or entity reference."""
    start = document.index(b"<Declaration")
    leaf = data.draw(st.sampled_from([m for m in _LEAF.finditer(document, start) if m.group(2)]))
    if kind == "prefix":
        name, text = leaf.group(1), leaf.group(2)
        written = b"<w:%s xmlns:w=\"%s\">%s</w:%s>" % (name, NAMESPACE.encode(), text, name)
        return document[: leaf.start()] + written + document[leaf.end() :]
    spot = leaf.start(2)
    char = document[spot : spot + 1].decode("ascii", errors="replace")
    if not char.isalnum():  # a multi-byte character, or a reference already
        return document
    written = data.draw(st.sampled_from([f"&#{ord(char)};", f"&#x{ord(char):X};", f"&amp;{char}", f"&lt;&gt;&quot;&apos;{char}"]))
    return document[:spot] + written.encode() + document[spot + 1 :]


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_declarations_map_the_same(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(BASES)))
    root = etree.fromstring(BASES[name])
    if data.draw(st.booleans()):
        etree.indent(root, space="  ")
    kinds = data.draw(st.lists(st.sampled_from(TREE_MUTATIONS + TEXT_MUTATIONS), min_size=1, max_size=3))
    for kind in kinds:
        if kind in TREE_MUTATIONS:
            value = data.draw(VALUES if kind in ("text", "attribute") else WHITESPACE)
            _apply(data.draw(st.sampled_from(_elements(root))), kind, value)
    mutated = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    for kind in kinds:
        if kind in TEXT_MUTATIONS:
            mutated = _rewrite(mutated, kind, data)
    for read in declarations(mutated):
        taken = assert_same(read.element, read.xpath)
        event(f"{'valid' if not read.findings else 'schema-invalid'}, fast path {'taken' if taken else 'given up'}")
        if not read.findings:
            event(f"valid after {'+'.join(sorted(set(kinds)))}: fast path {'taken' if taken else 'given up'}")
