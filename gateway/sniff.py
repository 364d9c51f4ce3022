"""Which format a file is, from its first bytes (the stream is not consumed)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO

from diagnostics import Finding
from parsers.xml.secure import peek_root

_HEAD = 64 * 1024


@dataclass(frozen=True)
class Sniffed:
    format: str  # "edifact", "xml", "empty" or "unknown"
    root: str | None = None  # XML: "{namespace}localname" of the root element
    problem: Finding | None = None  # XML: a well-formedness error within the head (it wins over the root)


def sniff(stream: BinaryIO) -> Sniffed:
    """Look at the head of a seekable stream and rewind it."""
    head = stream.read(_HEAD)
    stream.seek(0)
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if not text:
        return Sniffed("empty")
    if text.startswith(b"<"):
        peek = peek_root(head, complete=len(head) < _HEAD)
        return Sniffed("xml", peek.tag, peek.problem)
    if b"UNA" in head[:4096] or b"UNB" in head[:4096] or b"UNH" in head[:4096]:
        return Sniffed("edifact")
    return Sniffed("unknown")
