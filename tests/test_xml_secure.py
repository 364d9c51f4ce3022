"""Hostile XML is refused with a clear finding, without memory or time blow-up."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from lxml import etree

from gateway.flows.cadxml import XmlFlow
from gateway.flows.contract import FlowOptions
from parsers.xml.cad_reader import DeclarationRead, ReadProblem, read_cad_in
from parsers.xml.secure import PARSER_OPTIONS, XmlLimits, check_prolog, secure_parser
from tests.xml_helpers import XML_FIXTURES, MemorySink, read_cadout

ROOT = Path(__file__).resolve().parents[1]
ATTACKS = {
    "i07_xxe.xml": "XML-DTD",
    "i08_billion_laughs.xml": "XML-DTD",
    "i09_external_dtd.xml": "XML-DTD",
    "i11_deep_nesting.xml": "XML-SIZE",
    "i12_not_well_formed.xml": "XML-WF",
    "i13_wrong_namespace.xml": "XML-ROOT",
    "i15_utf16.xml": "XML-ENC",
}


def problems(data: bytes, limits: XmlLimits | None = None) -> list[ReadProblem]:
    return [event for event in read_cad_in(io.BytesIO(data), limits) if isinstance(event, ReadProblem)]


@pytest.mark.parametrize(("name", "code"), ATTACKS.items())
def test_attack_fixtures_are_refused_and_answered(name: str, code: str) -> None:
    sink = MemorySink()
    report = XmlFlow(name, FlowOptions(sink=sink)).run((XML_FIXTURES / "invalid" / name).open("rb"))
    assert not report.accepted
    assert [f.code for f in report.all_errors()] == [code]
    [response] = read_cadout(sink.files[f"{name}.cadout.xml"])
    assert response["status"] == "400" and response["sequence"] is None
    assert [e["code"] for e in response["errors"]] == [code]


def test_oversize_file_is_refused() -> None:
    data = (XML_FIXTURES / "invalid" / "i10_oversize.xml").read_bytes()
    assert len(data) > 2048
    [problem] = problems(data, XmlLimits(max_file_bytes=2048))
    assert problem.finding.code == "XML-SIZE" and problem.status == "400"


def test_a_huge_element_without_declarations_is_refused_early() -> None:
    head = b'<?xml version="1.0"?>\n<DocumentMetaData xmlns="urn:wco:datamodel:WCO:Declaration:1"><Junk>'
    data = head + b"<x>aaaaaaaaaaaaaaaa</x>" * 200_000 + b"</Junk></DocumentMetaData>"
    [problem] = problems(data, XmlLimits(max_declaration_bytes=256 * 1024, chunk_bytes=64 * 1024))
    assert problem.finding.code == "XML-SIZE"
    assert "without a complete Declaration" in problem.finding.message


def test_the_prolog_check() -> None:
    assert check_prolog(b'<?xml version="1.0"?>\n<!-- c --><?pi x?>\n<A/>', complete=True) is None
    assert check_prolog(b'<?xml version="1.0"?>\n<!DOCTYPE a>\n<a/>', complete=True).code == "XML-DTD"
    assert check_prolog(b'<?xml version="1.0" encoding="ISO-8859-1"?><a/>', complete=True).code == "XML-ENC"
    assert check_prolog(b"\xef\xbb\xbf<?xml version='1.0' encoding='utf-8'?><a/>", complete=True) is None
    assert check_prolog(b"<!-- " + b"x" * 100, complete=False).code == "XML-SIZE"


def test_the_parser_itself_expands_nothing_and_fetches_nothing() -> None:
    """Defence in depth: even past the prolog check, the hardened parser neither
    reads the external entity nor expands the billion laughs."""
    xxe = (XML_FIXTURES / "invalid" / "i07_xxe.xml").read_bytes()
    tree = etree.fromstring(xxe, secure_parser())
    text = etree.tostring(tree)
    assert b"root:" not in text  # nothing of /etc/passwd
    laughs = (XML_FIXTURES / "invalid" / "i08_billion_laughs.xml").read_bytes()
    parser = etree.XMLPullParser(events=("end",), **PARSER_OPTIONS)
    try:  # libxml2 either keeps the references unexpanded or refuses the amplification
        parser.feed(laughs)
        root = parser.close()
    except etree.XMLSyntaxError as error:
        assert "amplification" in str(error)
    else:
        assert len(etree.tostring(root)) < 2 * len(laughs)


_BOUNDED = textwrap.dedent(
    """
    import json, os, sys, time
    sys.path.insert(0, sys.argv[1])
    from gateway.flows.contract import FlowOptions
    from gateway.flows.cadxml import XmlFlow
    workdir, names = sys.argv[2], sys.argv[3:]
    head = b'<?xml version="1.0"?>\\n<DocumentMetaData xmlns="urn:wco:datamodel:WCO:Declaration:1">'
    junk = os.path.join(workdir, "junk.xml")  # ~100 MB of elements that never complete a Declaration
    with open(junk, "wb") as out:
        out.write(head + b"<Junk>")
        for _ in range(100):
            out.write(b"<x>aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa</x>" * 20_000)
        out.write(b"</Junk></DocumentMetaData>")
    deep = os.path.join(workdir, "deep.xml")  # a million nested elements
    with open(deep, "wb") as out:
        out.write(head + b"<a>" * 1_000_000)
    started = time.perf_counter()
    codes = {}
    for name in [*names, junk, deep]:
        with open(name, "rb") as stream:
            report = XmlFlow(name, FlowOptions()).run(stream)
        codes[os.path.basename(name)] = [f.code for f in report.all_errors()]
    seconds = time.perf_counter() - started
    # VmHWM is this process's own peak: exec resets it, unlike ru_maxrss, which on
    # Linux carries the peak of the (large) pytest process that forked us.
    with open("/proc/self/status") as status:
        rss = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    print(json.dumps({"codes": codes, "seconds": seconds, "rss_mib": rss}))
    """
)


def test_attacks_are_refused_within_bounded_time_and_memory(tmp_path: Path) -> None:
    """In a fresh process: every attack fixture, a ~100 MB file of junk and a
    million-deep nesting; wall time and peak RSS (VmHWM) are bounded."""
    names = [str(XML_FIXTURES / "invalid" / name) for name in ATTACKS]
    done = subprocess.run(
        [sys.executable, "-c", _BOUNDED, str(ROOT), str(tmp_path), *names],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    for name, code in ATTACKS.items():
        assert result["codes"][name] == [code]
    assert result["codes"]["junk.xml"] == ["XML-SIZE"]
    assert result["codes"]["deep.xml"] == ["XML-SIZE"]
    assert result["seconds"] < 20, result
    assert result["rss_mib"] < 128, result  # interpreter + lxml + pydantic ≈ 45 MiB; the rest is the bounded tree


def test_declarations_are_freed_while_streaming() -> None:
    """The tree never holds more than a few declarations: each is removed once handed out."""
    from mappings.cadxml_declaration import cadin_document
    from tests.builders import declaration

    data = cadin_document([declaration()] * 200, "MEM-1", [("123456782RM0001", "HN"), ("123026635RM0001", "AK")])
    sizes = []
    for event in read_cad_in(io.BytesIO(data), XmlLimits(max_prolog_bytes=4096, chunk_bytes=4096)):
        if isinstance(event, DeclarationRead):
            sizes.append(len(event.element.getparent()))
    assert len(sizes) == 200 and max(sizes) <= 8
