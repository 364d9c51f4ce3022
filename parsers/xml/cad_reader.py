"""Streaming CAD-IN reader: one ``Declaration`` subtree at a time.

The file is fed to lxml's pull parser in chunks (``XmlLimits.chunk_bytes``);
only ``Declaration`` end events come back to Python. Each declaration is
validated against cad-in.xsd as it completes (the first one together with the
document header, so the header is validated too), handed to the caller, then
cleared and removed from the tree: memory stays flat however many
declarations the file holds, and the tree never grows past what can be read
without a declaration completing (``max_declaration_bytes``).

Events, in file order:
- ``HeaderRead`` once, before the first declaration: the document metadata.
- ``DeclarationRead`` per declaration, with its position, line, XPath and the
  schema errors found in it (an empty list: valid).
- ``ReadProblem`` when reading must stop: refused input (DTD, encoding, size),
  a well-formedness error, the wrong root element, or a schema error outside
  any declaration. Nothing follows a ``ReadProblem``.

Schema errors carry the line (``Location.line``) and an XPath in CARM's
pointer style with local names (``/DocumentMetaData/Declaration[2]/
GoodsShipment[1]/GovernmentAgencyGoodsItem/Commodity[3]/Classification/ID``).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from lxml import etree

from diagnostics import Finding, Location
from parsers.xml.secure import (
    PARSER_OPTIONS,
    SCHEMA_ERROR,
    TOO_LARGE,
    WRONG_ROOT,
    XmlLimits,
    check_prolog,
    describe_parse_error,
    load_element_schema,
    load_schema,
    peek_root,
    refuse,
)

NAMESPACE = "urn:wco:datamodel:WCO:Declaration:1"
ROOT_TAG = f"{{{NAMESPACE}}}DocumentMetaData"
DECLARATION_TAG = f"{{{NAMESPACE}}}Declaration"
SCHEMA = "cad-in.xsd"
_NS = f"{{{NAMESPACE}}}"

# Elements that repeat: their XPath steps always carry a position.
REPEATING = frozenset({"Declaration", "Sender", "GoodsShipment", "Commodity", "DutyTaxFee", "Pointer"})


@dataclass(frozen=True)
class Sender:
    id: str
    role: str  # HN importer, AK declarant
    xpath: str
    line: int | None


@dataclass(frozen=True)
class HeaderRead:
    application_reference: str | None
    senders: tuple[Sender, ...]
    line: int | None


@dataclass
class DeclarationRead:
    element: etree._Element
    index: int  # 1-based position in the file
    line: int | None
    xpath: str  # /DocumentMetaData/Declaration[index]
    findings: list[Finding] = field(default_factory=list)  # schema errors in this declaration


@dataclass(frozen=True)
class ReadProblem:
    finding: Finding
    status: str  # the CAD-OUT status it calls for: "400" refused/not well-formed, "503" schema


CadEvent = HeaderRead | DeclarationRead | ReadProblem


def local_name(tag: object) -> str:
    text = str(tag)
    return text[text.index("}") + 1 :] if text.startswith("{") else text


def element_xpath(element: etree._Element, declaration_index: int | None = None) -> str:
    """The element's XPath with local names; repeating elements (and any with
    same-named siblings) carry their 1-based position. Declarations already
    removed from the tree are accounted for through ``declaration_index``."""
    steps: list[str] = []
    node: etree._Element | None = element
    while node is not None:
        name = local_name(node.tag)
        parent = node.getparent()
        if parent is None:
            steps.append(name)
            break
        if (
            node.tag == DECLARATION_TAG
            and declaration_index is not None
            and local_name(parent.tag) == "DocumentMetaData"
        ):
            steps.append(f"{name}[{declaration_index}]")
        else:
            same = [sibling for sibling in parent if sibling.tag == node.tag]
            if name in REPEATING or len(same) > 1:
                steps.append(f"{name}[{same.index(node) + 1}]")
            else:
                steps.append(name)
        node = parent
    return "/" + "/".join(reversed(steps))


_CLARK = re.compile(r"\{" + re.escape(NAMESPACE) + r"\}")


def _schema_findings(
    schema: etree.XMLSchema, subtree: etree._Element, base_index: int | None, anchor: etree._Element
) -> list[Finding]:
    """Validate ``subtree`` (as if it were a document) and locate each error
    in the original tree: libxml2's path (``/*/*[9]``) is resolved against
    ``anchor``, the original of the subtree's root."""
    if schema.validate(subtree):
        return []
    findings = []
    for entry in schema.error_log:
        node = _resolve(anchor, entry.path)
        xpath = element_xpath(node, base_index) if node is not None else None
        message = _CLARK.sub("", entry.message)
        findings.append(
            Finding(
                SCHEMA_ERROR,
                f"schema: {message}",
                Location(xpath=xpath, line=entry.line or (node.sourceline if node is not None else None)),
            )
        )
    return findings


def _resolve(anchor: etree._Element, path: str | None) -> etree._Element | None:
    """libxml2's error path ``/*/*[9]/*[2]`` relative to the validated root."""
    if not path or not path.startswith("/*"):
        return anchor
    rest = path[2:]
    if not rest:
        return anchor
    try:
        found = anchor.xpath("." + rest)
    except etree.XPathError:
        return anchor
    return found[0] if isinstance(found, list) and found and isinstance(found[0], etree._Element) else anchor


class _CountingReader:
    """Reads a stream in chunks, refusing it past ``limit`` bytes."""

    def __init__(self, stream: BinaryIO, limit: int) -> None:
        self.stream = stream
        self.limit = limit
        self.total = 0

    def read(self, size: int) -> bytes:
        chunk = self.stream.read(size)
        self.total += len(chunk)
        return chunk


def read_cad_in(stream: BinaryIO, limits: XmlLimits | None = None) -> Iterator[CadEvent]:
    """Read a CAD-IN file, yielding its header, then its declarations one by one.

    The caller must be done with a ``DeclarationRead.element`` when it asks
    for the next event: the element is then cleared and removed."""
    limits = limits or XmlLimits()
    reader = _CountingReader(stream, limits.max_file_bytes)
    head = reader.read(limits.max_prolog_bytes)
    complete = len(head) < limits.max_prolog_bytes
    problem = check_prolog(head, complete)
    if problem is not None:
        yield ReadProblem(problem, "400")
        return
    root = peek_root(head, complete)
    if root.tag is not None and root.tag != ROOT_TAG:
        yield ReadProblem(
            root.problem  # well-formedness first: a root followed by junk is not a wrong root
            or refuse(
                WRONG_ROOT,
                f"root element {root.tag} is not CAD-IN: expected {ROOT_TAG}",
                root.line,
                "/" + local_name(root.tag),
            ),
            "400",
        )
        return

    parser = etree.XMLPullParser(events=("end",), tag=DECLARATION_TAG, **PARSER_OPTIONS)
    state = _State()
    chunk = head
    pending = 0  # bytes fed since a declaration last completed
    closed: etree._Element | None = None
    try:
        while True:
            if reader.total > limits.max_file_bytes:
                yield ReadProblem(
                    refuse(TOO_LARGE, f"the file is larger than {limits.max_file_bytes} bytes", None, None), "400"
                )
                return
            if chunk:
                parser.feed(chunk)
                pending += len(chunk)
            else:
                closed = parser.close()
            completed = False
            for _event, element in parser.read_events():
                completed = True
                for event in state.declaration(element):
                    yield event
                    if isinstance(event, ReadProblem):
                        return
            if completed:
                pending = 0
            elif pending > limits.max_declaration_bytes:
                yield ReadProblem(
                    refuse(
                        TOO_LARGE,
                        f"more than {limits.max_declaration_bytes} bytes without a complete Declaration",
                        None,
                        None,
                    ),
                    "400",
                )
                return
            if not chunk:
                break
            chunk = reader.read(limits.chunk_bytes)
    except etree.XMLSyntaxError as error:
        yield ReadProblem(describe_parse_error(error), "400")
        return
    yield from state.finish(closed)


class _State:
    def __init__(self) -> None:
        self.root: etree._Element | None = None
        self.count = 0
        self.schema = load_schema(SCHEMA)
        self.declaration_schema = load_element_schema(SCHEMA, "Declaration", "DeclarationType")

    def declaration(self, element: etree._Element) -> Iterator[CadEvent]:
        self.count += 1
        parent = element.getparent()
        if self.root is None:
            self.root = element.getroottree().getroot()
            if parent is not self.root:
                yield self._misplaced(element)
                return
            findings = self._first(element)
            header_errors = [
                f for f in findings if not (f.location.xpath or "").startswith("/DocumentMetaData/Declaration[")
            ]
            if header_errors:
                yield ReadProblem(header_errors[0], "503")
                return
            yield self._header()
        else:
            if parent is not self.root:
                yield self._misplaced(element)
                return
            previous = element.getprevious()
            while previous is not None and not isinstance(previous.tag, str):
                previous = previous.getprevious()
            if previous is not None:
                yield ReadProblem(self._unexpected(previous), "503")
                return
            findings = _schema_findings(self.declaration_schema, element, self.count, element)
        index = self.count
        yield DeclarationRead(element, index, element.sourceline, f"/DocumentMetaData/Declaration[{index}]", findings)
        # done with it: free the subtree and everything before it
        element.clear()
        root = self.root
        while element.getprevious() is not None:
            del root[0]
        root.remove(element)

    def _first(self, element: etree._Element) -> list[Finding]:
        """Validate the header with the first declaration, on a copy holding
        just those (the tree may already hold parts of later declarations)."""
        root = self.root
        assert root is not None
        copy = etree.Element(root.tag, nsmap=root.nsmap)
        for child in root:
            copy.append(_deep_copy(child))
            if child is element:
                break
        return _schema_findings(self.schema, copy, self.count, root)

    def _header(self) -> HeaderRead:
        root = self.root
        assert root is not None
        reference = root.findtext(f"{_NS}CommunicationMetaData/{_NS}ApplicationReferenceID")
        senders = []
        for position, sender in enumerate(root.iterfind(f"{_NS}CommunicationMetaData/{_NS}Sender"), start=1):
            identifier = sender.find(f"{_NS}ID")
            senders.append(
                Sender(
                    (identifier.text or "").strip() if identifier is not None else "",
                    (sender.findtext(f"{_NS}RoleCode") or "").strip(),
                    f"/DocumentMetaData/CommunicationMetaData/Sender[{position}]/ID",
                    identifier.sourceline if identifier is not None else sender.sourceline,
                )
            )
        return HeaderRead(reference.strip() if reference else None, tuple(senders), root.sourceline)

    def _misplaced(self, element: etree._Element) -> ReadProblem:
        finding = Finding(
            SCHEMA_ERROR,
            "schema: Declaration is not expected here: declarations are children of DocumentMetaData",
            Location(xpath=element_xpath(element), line=element.sourceline),
        )
        return ReadProblem(finding, "503")

    def _unexpected(self, element: etree._Element) -> Finding:
        name = local_name(element.tag)
        return Finding(
            SCHEMA_ERROR,
            f"schema: Element '{name}': This element is not expected. Expected is ( Declaration ).",
            Location(xpath=f"/DocumentMetaData/{name}", line=element.sourceline),
        )

    def finish(self, closed: etree._Element | None) -> Iterator[CadEvent]:
        """After the last chunk: anything left after the last declaration, or
        a document without any, is a schema error."""
        root = self.root
        if root is None:
            if closed is None:
                return
            root = closed
            findings = _schema_findings(self.schema, root, None, root)
            if findings:
                yield ReadProblem(findings[0], "503")
            return
        for child in root:
            if isinstance(child.tag, str):
                yield ReadProblem(self._unexpected(child), "503")
                return


def _deep_copy(element: etree._Element) -> etree._Element:
    return copy.deepcopy(element)
