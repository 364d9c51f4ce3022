"""Which format a file is, from its first bytes (the stream is not consumed)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO

from lxml import etree

_HEAD = 64 * 1024


@dataclass(frozen=True)
class Sniffed:
    format: str  # "edifact", "xml", "empty" or "unknown"
    root: str | None = None  # XML: "{namespace}localname" of the root element


def sniff(stream: BinaryIO) -> Sniffed:
    """Look at the head of a seekable stream and rewind it."""
    head = stream.read(_HEAD)
    stream.seek(0)
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if not text:
        return Sniffed("empty")
    if text.startswith(b"<"):
        return Sniffed("xml", _xml_root(head))
    if b"UNA" in head[:4096] or b"UNB" in head[:4096] or b"UNH" in head[:4096]:
        return Sniffed("edifact")
    return Sniffed("unknown")


def _xml_root(head: bytes) -> str | None:
    """The root element's name, read with a parser that loads nothing external."""
    parser = etree.XMLPullParser(
        events=("start",), resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    try:
        parser.feed(head)
        for _event, element in parser.read_events():
            return str(element.tag)
    except etree.XMLSyntaxError:
        return None
    return None
