"""Hardened XML parsing: what the gateway refuses before lxml sees a byte of content.

- No DTD at all: a ``<!DOCTYPE`` before the root element is refused (code
  ``XML-DTD``), so there are no entity declarations, no external DTD subset,
  no billion-laughs expansion and no XXE. The parser is configured to load
  nothing anyway (``resolve_entities=False``, ``load_dtd=False``,
  ``no_network=True``): defence in depth.
- UTF-8 (or its ASCII subset) only (``XML-ENC``): the prolog check reads bytes,
  and a UTF-16 file could hide a DOCTYPE from it.
- Sizes (``XML-SIZE``): the file (``max_file_bytes``), the prolog before the
  root element (``max_prolog_bytes``) and what may be read without completing
  a declaration (``max_declaration_bytes``) are bounded, so the tree held in
  memory is bounded; libxml2's own limits (``huge_tree=False``: depth 256, text
  nodes of 10 MB) stay in force.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, BinaryIO, cast

from lxml import etree

from diagnostics import Finding, Location

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"

# Finding codes of the XML channel (file level).
DTD_REFUSED = "XML-DTD"
ENCODING_REFUSED = "XML-ENC"
TOO_LARGE = "XML-SIZE"
NOT_WELL_FORMED = "XML-WF"
WRONG_ROOT = "XML-ROOT"
SCHEMA_ERROR = "XSD"

MiB = 1 << 20


@dataclass(frozen=True)
class XmlLimits:
    """Size limits of one XML file. The defaults let a 250 MB batch file through
    and keep any single declaration (at most 9999 commodities) well inside."""

    max_file_bytes: int = 1024 * MiB
    max_declaration_bytes: int = 8 * MiB  # read without a declaration completing (≈ 8000 compact commodities)
    max_prolog_bytes: int = 64 * 1024  # before the root element's start tag
    chunk_bytes: int = 256 * 1024  # what is fed to the parser at a time


PARSER_OPTIONS: dict[str, Any] = {
    "resolve_entities": False,
    "load_dtd": False,
    "dtd_validation": False,
    "no_network": True,
    "huge_tree": False,
    "collect_ids": False,
    "remove_comments": True,
    "remove_pis": True,
    "attribute_defaults": False,
}


def secure_parser(**overrides: Any) -> etree.XMLParser:
    """A whole-document parser with the hardened settings (schemas, tests)."""
    parser: etree.XMLParser = etree.XMLParser(**{**PARSER_OPTIONS, **overrides})
    return parser


@cache
def load_schema(name: str) -> etree.XMLSchema:
    """One of our shipped schemas (``cad-in.xsd``, ``cad-out.xsd``), parsed once."""
    return etree.XMLSchema(etree.parse(str(SCHEMA_DIR / name), secure_parser()))


@cache
def load_element_schema(name: str, element: str, type_name: str) -> etree.XMLSchema:
    """The schema with ``element`` of ``type_name`` added as a global element,
    so one subtree (a Declaration) can be validated on its own."""
    tree = etree.parse(str(SCHEMA_DIR / name), secure_parser())
    xs = "{http://www.w3.org/2001/XMLSchema}"
    etree.SubElement(tree.getroot(), f"{xs}element", name=element, type=type_name)
    return etree.XMLSchema(tree)


_XML_DECL = re.compile(rb"<\?xml\s[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']")
_ACCEPTED_ENCODINGS = {b"utf-8", b"utf8", b"us-ascii", b"ascii"}


def refuse(code: str, message: str, line: int | None = None, xpath: str | None = "/") -> Finding:
    return Finding(code, message, Location(xpath=xpath, line=line))


def check_prolog(head: bytes, complete: bool) -> Finding | None:
    """Check the bytes before the root element; ``complete`` says the file
    ends within ``head``. None when the prolog is acceptable."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00")) or head[:2] in (
        b"\x00<",
        b"<\x00",
    ):
        return refuse(ENCODING_REFUSED, "only UTF-8 XML is accepted (this file is UTF-16 or UTF-32)", 1)
    text = head[3:] if head.startswith(b"\xef\xbb\xbf") else head
    declaration = _XML_DECL.match(text)
    if declaration and declaration.group(1).lower() not in _ACCEPTED_ENCODINGS:
        encoding = declaration.group(1).decode("ascii", "replace")
        return refuse(ENCODING_REFUSED, f"encoding {encoding!r} is not accepted: CAD-IN files are UTF-8", 1)
    position = 0
    while True:
        start = text.find(b"<", position)
        if start < 0:
            if complete:
                return None  # no root element at all: the parser reports it
            return refuse(TOO_LARGE, "no root element within the first bytes of the file", None)
        if text.startswith(b"<?", start):
            end = text.find(b"?>", start)
        elif text.startswith(b"<!--", start):
            end = text.find(b"-->", start)
        elif text.startswith(b"<!", start):
            line = text.count(b"\n", 0, start) + 1
            return refuse(DTD_REFUSED, "DOCTYPE declarations are not accepted: no DTD, no entity declarations", line)
        else:
            return None  # the root element's start tag
        if end < 0:
            if complete:
                return None
            return refuse(TOO_LARGE, "the prolog before the root element is too long", None)
        position = end + 2


def describe_parse_error(error: etree.XMLSyntaxError) -> Finding:
    """A libxml2 parse error as a finding: limits hit are XML-SIZE, entity
    problems XML-DTD, the rest XML-WF; with the line of the error."""
    message = str(error.msg or error).strip()
    line = error.lineno or None
    lowered = message.lower()
    if "xml_parse_huge" in lowered or "excessive depth" in lowered or "huge" in lowered:
        code = TOO_LARGE
    elif "entity" in lowered or "doctype" in lowered:
        code = DTD_REFUSED
    else:
        code = NOT_WELL_FORMED
    return refuse(code, f"not well-formed XML: {message}", line, None)


@dataclass(frozen=True)
class RootPeek:
    """What the head of an XML file shows: the root element's name and line
    (None when no start tag could be read) and the first well-formedness error
    within the head, if any (a file with junk after its root element has both)."""

    tag: str | None
    line: int | None
    problem: Finding | None


def peek_root(head: bytes, complete: bool) -> RootPeek:
    """Read the head of a file for its root element with the hardened parser;
    ``complete``: the file ends within ``head``.

    The events read before an error are kept: an error after the root's start
    tag does not hide the root, and an error is reported, not swallowed."""
    parser = etree.XMLPullParser(events=("start",), **PARSER_OPTIONS)
    problem: Finding | None = None
    try:
        parser.feed(head)
        if complete:
            parser.close()
    except etree.XMLSyntaxError as error:
        problem = describe_parse_error(error)
    for _event, element in parser.read_events():
        return RootPeek(str(element.tag), element.sourceline, problem)
    return RootPeek(None, None, problem)


class _NoTree:
    """A parser target that keeps nothing: reading for well-formedness only
    (lxml calls only the target methods that exist)."""

    def close(self) -> None:
        return None


def first_parse_error(stream: BinaryIO, chunk_bytes: int = XmlLimits.chunk_bytes) -> Finding | None:
    """The first well-formedness error of a whole file, read in chunks without
    building a tree (memory stays flat); None when the file is well-formed."""
    # ParserTarget is the stubs' protocol of every optional target method; lxml needs none but close.
    target = cast("etree.ParserTarget[None]", _NoTree())
    parser = etree.XMLParser(target=target, **PARSER_OPTIONS)
    try:
        while chunk := stream.read(chunk_bytes):
            parser.feed(chunk)
        parser.close()
    except etree.XMLSyntaxError as error:
        return describe_parse_error(error)
    return None
