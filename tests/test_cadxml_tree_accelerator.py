"""The C tree reader of the CAD-IN fast path (mappings/_cadxml_tree.c) against the patterns.

``cadxml_fast.map_fast`` takes the groups of ``_HEADER`` and ``_LINE`` from
``mappings._cadxml_tree.groups`` when the extension is built and its layout
probe passed (and ``CARM_EDIFACT_ACCELERATOR`` is not "0"), from
``text_groups`` (``etree.tostring`` and the regular expressions) otherwise.
``text_groups`` is the reference: on any Declaration element the tree reader
must give up exactly where it does and otherwise give the same groups.

Set ``CARM_REQUIRE_ACCELERATOR=1`` (CI, release builds) to make a missing
extension a failure instead of a skip.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from lxml import etree

from benchmarks.xml_throughput import generate
from mappings import cadxml_fast
from mappings.cadxml_declaration import NAMESPACE, cadin_document
from mappings.cadxml_fast import _HEADER, _LINE, map_fast, text_groups
from parsers.xml.cad_reader import DeclarationRead, read_cad_in
from tests.builders import declaration
from tests.xml_helpers import XML_FIXTURES

needs_accelerator = pytest.mark.skipif(
    not cadxml_fast.accelerator_available(), reason="C tree reader not built (pip install -e . builds it)"
)
N = f"{{{NAMESPACE}}}"
V01 = (XML_FIXTURES / "valid" / "v01_single.xml").read_text()


def test_accelerator_is_built_when_required() -> None:
    if os.environ.get("CARM_REQUIRE_ACCELERATOR") == "1":
        assert cadxml_fast.accelerator_available(), (
            "CARM_REQUIRE_ACCELERATOR=1 but mappings._cadxml_tree is not importable or refused lxml's layout: "
            "build it with `pip install -e .` (needs a C compiler and the Python headers)"
        )


@contextmanager
def accelerated(enabled: bool) -> Iterator[None]:
    was = cadxml_fast.use_accelerator(enabled)
    try:
        yield
    finally:
        cadxml_fast.use_accelerator(was)


def tree_groups(element: etree._Element) -> Any:
    assert cadxml_fast._c_groups is not None
    return cadxml_fast._c_groups(element)


def assert_same_groups(element: etree._Element) -> bool:
    """Both readers agree on ``element``; returns whether they matched it."""
    expected = text_groups(element)
    assert tree_groups(element) == expected
    return expected is not None


def elements(data: bytes, parser: etree.XMLParser | None = None) -> list[etree._Element]:
    """Every Declaration element of a document (parsed whole: they stay alive)."""
    root = etree.fromstring(data, parser or etree.XMLParser(huge_tree=True))
    return list(root.iter(f"{N}Declaration"))


# The groups as the patterns define them ------------------------------------------------


@needs_accelerator
def test_the_groups_are_the_patterns_groups() -> None:
    [element] = elements(V01.encode())
    found = tree_groups(element)
    assert found is not None
    fields, lines = found
    assert list(fields) == list(_HEADER.groupindex)
    assert lines and all(len(groups) == _LINE.groups for groups in lines)


@needs_accelerator
def test_v01_as_expected() -> None:
    """Hand-written: the fixture's header and line groups (so that both readers cannot be wrong alike)."""
    [element] = elements(V01.encode())
    fields, [line] = tree_groups(element)
    assert (fields["function"], fields["transaction_number"], fields["type_code"], fields["currency"]) == ("9", "10207000300014", "AB", "USD")
    assert (fields["importer_account"], fields["declarant_account"], fields["office_of_release"]) == ("123456782RM0001", "123026635RM0001", "0497")
    assert fields["amendment"] is None and fields["reason_code"] is None
    assert line[:10] == ("1", "COTTON T-SHIRTS, MEN'S", "6109100010", "2", "810.00", "NMB", "120", "USD", "600.00", "CN")


# Files ---------------------------------------------------------------------------------


NOT_WELL_FORMED = {"i07_xxe.xml", "i08_billion_laughs.xml", "i12_not_well_formed.xml", "i16_truncated.xml"}
"""Fixtures no parser yields an element of (the reader refuses them)."""


@needs_accelerator
@pytest.mark.parametrize(
    "path",
    [path for path in sorted(XML_FIXTURES.rglob("*.xml")) if path.name not in NOT_WELL_FORMED],
    ids=lambda path: str(path.relative_to(XML_FIXTURES)),
)
def test_fixture_declarations_give_the_same_groups(path: Path) -> None:
    found = elements(path.read_bytes())
    assert found or path.name in ("i11_deep_nesting.xml", "i13_wrong_namespace.xml")  # no CAD Declaration in those
    for element in found:
        assert_same_groups(element)


def test_the_fixtures_left_out_are_not_well_formed() -> None:
    for name in NOT_WELL_FORMED:
        with pytest.raises(etree.XMLSyntaxError):
            elements((XML_FIXTURES / "invalid" / name).read_bytes())


@needs_accelerator
@pytest.mark.parametrize("indent", [False, True])
def test_benchmark_declarations_give_the_same_groups(tmp_path: Path, indent: bool) -> None:
    path = tmp_path / "bench.xml"
    generate(path, 200_000, indent)
    taken = [assert_same_groups(element) for element in elements(path.read_bytes())]
    assert len(taken) > 10 and all(taken)


@needs_accelerator
def test_declarations_through_the_reader_map_the_same_either_way() -> None:
    """map_fast's result, tree reader on and off, on what the real reader yields."""
    for path in sorted(XML_FIXTURES.rglob("*.xml")):
        for read in read_cad_in(io.BytesIO(path.read_bytes())):
            if isinstance(read, DeclarationRead):
                with accelerated(True):
                    on = map_fast(read.element)
                with accelerated(False):
                    off = map_fast(read.element)
                assert on == off, path


# Edits of a valid declaration ---------------------------------------------------------

LINE_NUMBER = "<Commodity>\n          <SequenceNumeric>1<"
EDITS = [
    ("<RateNumeric>", "<RateNumeric>&#49;"),
    ("<Name>NORTHERN", "<Name>&#x4E;&#78;&apos;&quot;&gt;&amp;&lt;"),
    ('currencyID="CAD"', 'currencyID="&#67;AD"'),
    ('currencyID="CAD"', 'currencyID="CAD "'),
    ('currencyID="CAD"', 'currencyID="cad"'),
    ('currencyID="CAD"', 'currencyID=""'),
    ('currencyID="CAD"', 'currencyID="CAD" other="1"'),
    ('currencyID="CAD"', 'xml:lang="en" currencyID="CAD"'),
    ('unitCode="NMB"', 'unitCode="&#9;NMB&#10;"'),
    ('unitCode="NMB"', 'unitCode="a&quot;b&lt;"'),
    ("<Description>COTTON", "<Description>&#13;\tCOTTON&#x9;&#10;"),
    ("<Description>COTTON", "<Description>\u00a0COTTON"),
    ("<TypeCode>CUD</TypeCode>", "<TypeCode>\n CUD\t</TypeCode>"),
    ("<SequenceNumeric>1<", "<SequenceNumeric>x<"),  # the GoodsShipment's: any text
    (LINE_NUMBER, LINE_NUMBER.replace(">1<", ">01<")),  # the Commodity's: ASCII digits
    (LINE_NUMBER, LINE_NUMBER.replace(">1<", ">١<")),
    (LINE_NUMBER, LINE_NUMBER.replace(">1<", "> 1<")),
    (">810.00<", ">000810.0000<"),
    (">810.00<", ">810.001<"),
    (">120<", ">120.1234567<"),
    (">47.79<", ">12345678901234567<"),
    ("<Origin>", "<Origin>\u3000"),
    ("<Origin>", "<Origin>\u00a0"),
    ("<Origin>", "<Origin>\x85"),
    ("<Origin>", "<Origin>x"),
    ("</Commodity>", "<DutyTaxFee><TypeCode>CUD</TypeCode></DutyTaxFee></Commodity>"),
    ("</Commodity>", "<DutyTaxFee><TypeCode>X</TypeCode></DutyTaxFee><DutyTaxFee><TypeCode>Y</TypeCode></DutyTaxFee></Commodity>"),
    ("</Commodity>", "<Extra/></Commodity>"),
    ("<Origin>", '<Origin xmlns="urn:wco:datamodel:WCO:Declaration:1">'),
    ("<Origin>", '<Origin xmlns:x="urn:x">'),
    ("<Origin>", '<Origin a="1">'),
    ("<Invoice>", "<Invoice><!-- c -->"),
    ("<ID>10207000300014</ID>", "<ID>10207<!-- c -->000300014</ID>"),
    ("<ID>10207000300014</ID>", "<ID>10207<?pi x?>000300014</ID>"),
    ("<ID>10207000300014</ID>", "<ID></ID>"),
    ("<ID>10207000300014</ID>", "<ID><X/></ID>"),
    ("<ID>10207000300014</ID>", "<ID>1<X/>2</ID>"),
    ("<Description>COTTON", "<Description><![CDATA[<COTTON>]]>"),
    ("</GovernmentAgencyGoodsItem>", "</GovernmentAgencyGoodsItem><Extra/>"),
    ("</GoodsShipment>", "</GoodsShipment>   <Extra/>"),
    ("</GoodsShipment>", "</GoodsShipment>tail"),
    ("</GovernmentAgencyGoodsItem>", "</GovernmentAgencyGoodsItem>\n  "),
    ("<Declaration>", '<Declaration a="1" xmlns:w="urn:x">'),
    ("<Declaration>", "<Declaration>&#13;"),  # tostring writes &#13;: not whitespace to the patterns
    ("<Origin>", "<Origin>\n&#13;\n"),
    ("<Declaration>", '<w:Declaration xmlns:w="urn:wco:datamodel:WCO:Declaration:1">'),
]


def edited(old: str, new: str) -> str:
    assert old in V01, old
    text = V01.replace(old, new, 1)
    if new.startswith("<w:Declaration"):
        text = text.replace("</Declaration>", "</w:Declaration>", 1)
    return text


@needs_accelerator
@pytest.mark.parametrize(("old", "new"), EDITS)
@pytest.mark.parametrize("strip_cdata", [True, False])
def test_edits_give_the_same_groups(old: str, new: str, strip_cdata: bool) -> None:
    text = edited(old, new)
    root = etree.fromstring(text.encode(), etree.XMLParser(strip_cdata=strip_cdata, remove_comments=False))
    found = list(root.iter(f"{N}Declaration", "{urn:wco:datamodel:WCO:Declaration:1}Declaration"))
    assert found
    for element in found:
        assert_same_groups(element)


@needs_accelerator
def test_a_few_edits_as_expected() -> None:
    """Hand-written verdicts for some edits."""
    def matched(old: str, new: str) -> bool:
        [element] = elements(edited(old, new).encode())
        return tree_groups(element) is not None

    assert matched("<RateNumeric>", "<RateNumeric>&#49;")
    assert matched(">810.00<", ">000810.0000<")
    assert matched("<Origin>", "<Origin>\u3000")  # Python's \\s: Unicode whitespace between elements
    assert not matched('currencyID="CAD"', 'currencyID="cad"')
    assert not matched("<ID>10207000300014</ID>", "<ID></ID>")
    assert not matched("</Commodity>", "<Extra/></Commodity>")
    assert not matched("<Origin>", '<Origin xmlns="urn:wco:datamodel:WCO:Declaration:1">')
    assert not matched(">810.00<", ">810.001<")
    assert not matched(LINE_NUMBER, LINE_NUMBER.replace(">1<", ">١<"))
    assert matched("<SequenceNumeric>1<", "<SequenceNumeric>x<")
    [element] = elements(edited("<Name>NORTHERN", "<Name>&#x4E;&amp;&lt;").encode())
    fields, _ = tree_groups(element)
    assert fields["declarant_name"] == "N&< CUSTOMS BROKERS LTD"


# Random edits ------------------------------------------------------------------------

PIECES = [
    " ", "\n  ", "\t", "\u3000", "\u00a0", "x", "&amp;", "&#13;", "<!-- c -->", "<X/>", "<ID>1</ID>",
    "<DutyTaxFee><TypeCode>GST</TypeCode></DutyTaxFee>", '<Pointer><Location>/a</Location></Pointer>',
    "<Address/>", "<Consignment/>", "<![CDATA[z]]>", "<TypeCode>AB</TypeCode>", "<VersionID>2</VersionID>",
]


@st.composite
def edited_documents(draw: st.DrawFn) -> bytes:
    text = V01 if draw(st.booleans()) else UNUSUAL_TEXT
    start = text.index("<Declaration")
    end = text.rindex("</Declaration>")
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["insert", "insert", "delete", "delete", "rename", "attribute", "swap"]))
        opening = [i for i in range(start + 1, end) if text[i] == "<" and text[i + 1] != "/"]
        at = draw(st.sampled_from(opening))
        name = text[at + 1 : text.index(">", at)].split()[0].rstrip("/")
        close = text.find(f"</{name}>", at)
        after = close + len(name) + 3 if close >= 0 else text.index(">", at) + 1  # the end of the element
        if kind == "insert":
            text = text[:at] + draw(st.sampled_from(PIECES)) + text[at:]
        elif kind == "delete":
            text = text[:at] + text[after:]
        elif kind == "rename" and close >= 0:
            new = draw(st.sampled_from(["Renamed", "ID", "TypeCode", "DutyTaxFee", "Name"]))
            text = text[:at] + f"<{new}" + text[at + 1 + len(name) : close] + f"</{new}>" + text[after:]
        elif kind == "attribute":
            text = text[: at + 1 + len(name)] + draw(st.sampled_from([' a="1"', ' currencyID="CAD"', ' unitCode="X"'])) + text[at + 1 + len(name) :]
        elif kind == "swap":
            following = text.find("<", after)
            if following >= 0 and text[following + 1] != "/":
                other = text[following + 1 : text.index(">", following)].split()[0].rstrip("/")
                other_close = text.find(f"</{other}>", following)
                if other_close >= 0:
                    other_end = other_close + len(other) + 3
                    text = text[:at] + text[following:other_end] + text[after:following] + text[at:after] + text[other_end:]
        end = text.rindex("</Declaration>") if "</Declaration>" in text else len(text)
    return text.encode()


UNUSUAL_TEXT = cadin_document(
    [declaration(amendment={"reason_code": "R1", "explanation": "WHY & <NOT>", "kind": "adjustment"}, cargo_control_number="ABCD-12345")],
    "FAST-2",
    [("123456782RM0001", "HN")],
).decode()


@needs_accelerator
@given(edited_documents())
@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_edits_give_the_same_groups(data: bytes) -> None:
    try:
        root = etree.fromstring(data, etree.XMLParser(remove_comments=False, strip_cdata=False))
    except etree.XMLSyntaxError:
        event("not well-formed")
        return
    for element in root.iter(f"{N}Declaration"):
        event("matched" if assert_same_groups(element) else "gave up")


# Arguments and configuration ------------------------------------------------------------


@needs_accelerator
def test_arguments_are_checked() -> None:
    from mappings import _cadxml_tree

    with pytest.raises(TypeError):
        _cadxml_tree.groups("<Declaration/>")
    assert _cadxml_tree.groups(etree.fromstring(b"<Other/>")) is None
    assert _cadxml_tree.groups(etree.fromstring(b"<Declaration/>")) is None
    probe = etree.fromstring(b'<p:probe xmlns:p="urn:probe" a="v">text<c/></p:probe>')
    limits = {"value_for_duty": (16, 2), "quantity": (12, 6), "invoice_amount": (16, 2), "duty_rate": (12, 6),
              "value_for_tax": (16, 2), "paid": (16, 2)}
    with pytest.raises(RuntimeError):  # another element than the probe: the layout check fails
        _cadxml_tree.configure(etree._Element, etree.fromstring(b"<probe/>"), limits)
    with pytest.raises(TypeError):
        _cadxml_tree.configure(etree._Element, "probe", limits)
    with pytest.raises(ValueError):
        _cadxml_tree.configure(etree._Element, probe, {k: v for k, v in limits.items() if k != "paid"})
    _cadxml_tree.configure(etree._Element, probe, cadxml_fast_limits())


def cadxml_fast_limits() -> dict[str, tuple[int, int]]:
    """The limits cadxml_fast configures (the same as its patterns')."""
    from mappings.cadxml_fast import _PAID, _amount_limits

    fields = ["value_for_duty", "quantity", "invoice_amount", "duty_rate", "value_for_tax"]
    return {**{field: _amount_limits(field) for field in fields}, "paid": _amount_limits(*_PAID)}
