"""Reading an ISO 20022 pain.001 (customer credit transfer initiation) file with the
hardened settings of ``parsers.xml.secure`` (no DTD, UTF-8 only, bounded size).

Payment files are small (a few thousand transactions at most), so the document is
parsed whole, bounded by ``MAX_PAYMENT_FILE_BYTES``. ``read_pain001`` answers the
root element and the message version, or the file-level finding that stops it.
No XSD: the mapper (mappings/pain001_payment.py) checks the elements it needs and
reports each missing or malformed one at its XPath (docs/formats/payments.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import BinaryIO

from lxml import etree

from diagnostics import Finding, Location
from parsers.xml.secure import TOO_LARGE, check_prolog, describe_parse_error, refuse, secure_parser

MAX_PAYMENT_FILE_BYTES = 64 << 20
PAIN001_NAMESPACE = re.compile(r"pain\.001\.001\.([0-9]{2})")
ISO_NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:pain.001.001."
MIN_VERSION = 9
VERSION_REFUSED = "PAIN-VER"


@dataclass(frozen=True)
class Pain001Document:
    root: etree._Element
    namespace: str
    version: int  # the NN of pain.001.001.NN


def pain001_version(root_tag: str | None) -> int | None:
    """The version of a pain.001 root tag (``{…pain.001.001.09}Document`` → 9), else None."""
    if not root_tag or not root_tag.endswith("}Document"):
        return None
    match = PAIN001_NAMESPACE.search(root_tag)
    return int(match.group(1)) if match else None


def read_pain001(stream: BinaryIO) -> Pain001Document | Finding:
    data = stream.read(MAX_PAYMENT_FILE_BYTES + 1)
    if len(data) > MAX_PAYMENT_FILE_BYTES:
        return refuse(TOO_LARGE, f"payment files are limited to {MAX_PAYMENT_FILE_BYTES} bytes", None)
    problem = check_prolog(data[: 64 * 1024], complete=len(data) <= 64 * 1024)
    if problem is not None:
        return problem
    try:
        root = etree.fromstring(data, secure_parser())
    except etree.XMLSyntaxError as error:
        return describe_parse_error(error)
    namespace = etree.QName(root).namespace or ""
    tag = str(root.tag)  # a parsed element's tag is a str
    version = pain001_version(tag)
    if version is None:
        return Finding("XML-ROOT", f"root element {tag} is not a pain.001 Document", Location(xpath="/*[1]"))
    if version < MIN_VERSION or not namespace.startswith(ISO_NAMESPACE):
        return Finding(
            VERSION_REFUSED,
            f"pain.001 namespace {namespace!r} (version {version:02d}) is not accepted: send "
            f"{ISO_NAMESPACE}09 or later (docs/formats/payments.md)",
            Location(xpath="/Document"),
        )
    return Pain001Document(root, namespace, version)
