"""Streaming UN/EDIFACT reader: a binary stream in, envelope and message events out.

``read_edifact(stream)`` reads the stream in chunks (never the whole file) and
yields, in file order, ``InterchangeStart``, ``GroupStart``, one ``MessageRead``
per UNH..UNT, ``GroupEnd``, ``InterchangeEnd`` and ``SyntaxProblem`` events
(see ``parsers.edifact.model``). Memory is bounded by the chunk size plus the
longest segment (segments longer than ``max_segment_bytes`` are skipped and
reported) plus one message (at most ``max_message_bytes`` and
``max_message_segments``: a longer one is rejected unread). It never raises on bad input: every problem
becomes a ``Finding`` — on ``Message.findings`` when it is inside a message
(location: message reference, segment position within the message with UNH = 1,
tag, element, component), otherwise as a ``SyntaxProblem`` event (location:
segment position within the interchange with UNB = 1). Findings about the UNB
itself follow the ``InterchangeStart`` event.

Syntax rules applied
--------------------
* Delimiters: a UNA service string advice (exactly 9 characters) sets them.
  Without UNA the defaults are ``:+.? '``, or — when the byte after ``UNB`` is
  0x1D — the control-character set of ISO 9735 level B (component 0x1F,
  element 0x1D, terminator 0x1C, no release character). A space in the UNA
  release position means "no release character".
* Repetition: only in syntax version 4 (UNB 0002 = 4) — the UNA reserved
  position when it is not a space, else ``*`` (0x1E with control-character
  delimiters). In versions 1-3 that position is reserved and ignored. The UNB
  itself is never split on repetitions (its version is not known before).
* Release: the release character makes the next character data (``?'``,
  ``??``, ``?+``, ``?:``, ``?*``); a released terminator does not end a
  segment. A release character as the very last byte of the file is dropped.
* Start of an interchange: leading bytes before the first UNA/UNB (or bare UNH)
  are skipped; a UTF-8 BOM, blanks, line breaks and Ctrl-Z are skipped
  silently, anything else (a header line, ``###`` banners) is reported (15).
  Bytes after UNZ that do not start a new interchange are reported the same
  way. A file with no UNA/UNB/UNH at all yields one finding saying that it is
  not an EDIFACT interchange (13); an empty or blank file yields "empty file".
* Line breaks: CR and LF are layout, not data. From the start of the first
  interchange on, every CR and LF that is not one of its delimiters is dropped
  from the byte stream before it is cut into segments, wherever it stands:
  between segments, inside a tag or a value, between a release character and
  the character it releases. Writers that wrap their output at a fixed width
  (80 or 999 columns: bank and legacy exports) break segments anywhere, so a
  wrapped file reads exactly like its unwrapped twin, and a file cut into
  chunks reads the same wherever a chunk edge falls. Byte offsets
  (``Segment.offset`` and the "at byte" of findings) then count the bytes read
  without those line breaks. A partner that really sends line breaks as data
  (multi-line free text) is read with ``keep_line_breaks=True``: line breaks
  and blanks between segments are still ignored, inside a segment they are
  data (outside the UNOA/UNOB repertoires and reported there), except inside a
  segment tag (tags are 3 letters). The choice is made once per file, at its
  first interchange.
* Encoding: segments are cut on bytes (delimiters are single ASCII/control
  bytes, which never occur inside a UTF-8 multi-byte sequence), then each
  segment is decoded with the codec of the UNB syntax identifier (0001) and
  split into elements/components. Undecodable bytes are replaced (U+FFFD) and
  reported (21); for UNOA/UNOB, characters outside the level A/B repertoire are
  reported (21). At most one code-21 finding per segment.
  Level B follows code list 0001: ISO 646 without its national/alternative
  positions, i.e. level A plus lower-case letters and ``_`` (not ``# $ @ [ \\
  ] ^ ` { | } ~``).
* Speed: for single-byte charsets the batch path below cuts and splits a chunk
  at a time; with the optional C extension ``parsers.edifact._tokenizer``
  (built by ``pip install``; see ``accelerator_available``) the cutting,
  splitting and ``Segment`` building run in C, and such segments keep their
  decoded text (``Segment.text``) for the directory validator. Without it the
  pure-Python batch path gives the same events (tests/test_tokenizer_accelerator.py);
  ``CARM_EDIFACT_ACCELERATOR=0`` switches it off.
* Structure recovery: UNH before the previous UNT closes the previous message
  (13 "UNT missing"); UNG without UNE, or UNZ/EOF inside a group, closes the
  group with ``GroupEnd(None)`` (13); EOF or a new UNA/UNB before UNZ closes the
  interchange with ``InterchangeEnd(None)`` (13); UNH..UNT without UNB are
  yielded as messages after one "UNB missing" finding (13) per run of bare
  messages (they get no interchange events); segments outside messages are
  reported (15); a final segment without terminator is kept and reported (13).
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from itertools import accumulate, compress, count, repeat
from operator import add, contains, itemgetter, ne, sub
from typing import Any, BinaryIO, cast

from diagnostics import Finding, Location
from parsers.edifact.model import (
    Delimiters,
    Event,
    GroupEnd,
    GroupHeader,
    GroupStart,
    InterchangeEnd,
    InterchangeHeader,
    InterchangeStart,
    Message,
    MessageRead,
    Segment,
    SyntaxProblem,
)

__all__ = ["CODECS", "accelerator_available", "read_edifact", "use_accelerator"]

# The optional C accelerator of the batch path (parsers/edifact/_tokenizer.c).
# Without it (not built, or CARM_EDIFACT_ACCELERATOR=0) the pure-Python batch
# path below does the same work; tests/test_tokenizer_accelerator.py checks
# that both give the same events.
_Tokenize = Callable[
    [str, int, int, int, int, bool, str, str, str | None, str | None, str, bytes | None],
    tuple[list[Segment | None], list[tuple[int, int, int, bool]], int],
]
"""``_tokenizer.tokenize`` (see parsers/edifact/_tokenizer.pyi)."""


def _load_accelerator() -> _Tokenize | None:
    try:
        from parsers.edifact import _tokenizer

        _tokenizer.configure(Segment)
    except Exception:  # not built, or built for another Segment layout  # pragma: no cover
        return None
    return _tokenizer.tokenize


_ACCELERATOR = _load_accelerator()
_tokenize = _ACCELERATOR if os.environ.get("CARM_EDIFACT_ACCELERATOR", "1") != "0" else None


def accelerator_available() -> bool:
    """Whether the C tokenizer was built and imported."""
    return _ACCELERATOR is not None


def use_accelerator(enabled: bool) -> bool:
    """Switch the C tokenizer on or off (when available); returns whether it was on."""
    global _tokenize
    was = _tokenize is not None
    _tokenize = _ACCELERATOR if enabled else None
    return was


DEFAULT_DELIMITERS = Delimiters()
CONTROL_DELIMITERS = Delimiters(component="\x1f", element="\x1d", release=None, terminator="\x1c")
CONTROL_REPETITION = "\x1e"

CODECS: dict[str, str] = {
    "UNOA": "ascii",
    "UNOB": "ascii",
    "UNOC": "latin-1",
    "UNOD": "iso8859-2",
    "UNOE": "iso8859-5",
    "UNOF": "iso8859-7",
    "UNOG": "iso8859-3",
    "UNOH": "iso8859-4",
    "UNOI": "iso8859-6",
    "UNOJ": "iso8859-8",
    "UNOK": "iso8859-9",
    "UNOW": "utf-8",
    "UNOY": "utf-8",
}
"""Python codec for each UNB 0001 syntax identifier (code list 0001)."""

# C1 control characters: in no EDIFACT repertoire. ISO 8859 charsets leave
# 0x80-0x9F undefined (Python decodes them to U+0080-U+009F); in UTF-8 text they
# are almost always bytes written in another charset (Windows-1252 quotes, UTF-8 read as latin-1).
_C1_CONTROLS = "[\x80-\x9f]"
_LEVEL_A = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,-()/='+:?!\"%&*;<>"
_REPERTOIRES = {"UNOA": _LEVEL_A, "UNOB": _LEVEL_A + "abcdefghijklmnopqrstuvwxyz_"}

_START = re.compile(rb"(?<![A-Za-z0-9])(?:UNA|UNB[+\x1d]|UNH[+\x1d])")
_BLANK = b" \t\r\n\x1a"
_BOM = b"\xef\xbb\xbf"
_BREAKS = (b"\r", b"\n")
_PREVIEW = 40
_UNA_LOOKAHEAD = 1024  # bytes after a UNA looked at for its UNB or UNH (see ``_Scanner.una_opens``)
_TAG_SHOWN = 12  # characters of an overlong "tag" (junk) a finding quotes
_ENVELOPE_TAGS = frozenset({"UNH", "UNT", "UNG", "UNE", "UNZ"})
_STOP_TAGS = _ENVELOPE_TAGS | {"UNA", "UNB"}  # segments the batch path hands to the dispatcher

# The batch path (``_Scanner.batches`` + ``_Reader._read_batches``) -------------
# Used for single-byte charsets with ASCII, non-blank delimiters, i.e. nearly
# every real interchange. It decodes a whole chunk at
# once (one character per byte, so character and byte offsets agree), cuts it
# with one ``str.split``, and splits every segment into elements and components
# with ``map`` chains that run in C. Any segment it cannot vouch for (release or
# repetition character, undecodable byte, character outside the UNOA/UNOB
# repertoire, a tag that is not three characters) goes through the per-segment
# path below with its raw bytes, so findings and values are the same as there.
_SINGLE_BYTE_CODECS = frozenset(codec for codec in CODECS.values() if codec != "utf-8") | {"latin-1"}
_BLANK_TEXT = _BLANK.decode("ascii")
_MARKS = "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f\x10\x11\x12"  # length-preserving masks
_WINDOW = 4096  # characters cut into segments at once: small batches stay in the CPU caches
_SPLITS = repeat(str.split)
_ZEROS, _ONES, _THREES = repeat(0), repeat(1), repeat(3)
_first = itemgetter(0)


MAX_MESSAGE_BYTES = 4 << 20
MAX_MESSAGE_SEGMENTS = 200_000
"""The most of one message the reader keeps: 8 MiB and 250,000 segments, room
for a CAD of 9,999 lines (the directory's SG30 maximum) written generously; past
either a message is rejected unread, so junk inside a UNH costs bounded memory
(docs/decisions.md)."""


def read_edifact(
    stream: BinaryIO,
    *,
    chunk_size: int = 1 << 20,
    max_segment_bytes: int = 1 << 22,
    max_message_bytes: int = MAX_MESSAGE_BYTES,
    max_message_segments: int = MAX_MESSAGE_SEGMENTS,
    keep_line_breaks: bool = False,
) -> Iterator[Event]:
    """Yield the events of every interchange in ``stream``, reading it chunk by chunk.

    ``keep_line_breaks``: line breaks inside segments are data (a partner
    setting), not layout to drop (the default; see the module docstring).
    A message longer than ``max_message_bytes`` (UNH to its last segment) or
    ``max_message_segments`` is not kept: its segments are dropped as they
    come, counted in ``Message.skipped``, and a finding (18) says so."""
    scanner = _Scanner(stream, chunk_size, max_segment_bytes)
    yield from _Reader(scanner, keep_line_breaks, max_message_bytes, max_message_segments).events()


# Bytes -> raw segments ---------------------------------------------------------


_Raw = tuple[bytes, int, bool, bool]
"""A raw segment: bytes without terminator and leading blanks, file offset,
terminated?, oversized? (skipped; bytes then hold a preview). Plain tuple: hot path."""


@dataclass(slots=True)
class _Skipped:
    """Bytes skipped while looking for the start of an interchange."""

    offset: int = -1  # of the first byte that is not blank (-1: all blank so far)
    size: int = 0  # bytes skipped from that offset on
    preview: bytes = b""

    def add(self, data: bytes, offset: int) -> None:
        bom = 0  # a UTF-8 BOM at the start of the file is not junk, even split over chunks
        while bom < len(data) and offset + bom < 3 and data[bom] == _BOM[offset + bom]:
            bom += 1
        data, offset = data[bom:], offset + bom
        if self.offset < 0:
            stripped = data.lstrip(_BLANK)
            if not stripped:
                return
            offset += len(data) - len(stripped)
            data, self.offset = stripped, offset
        self.size += len(data)
        if len(self.preview) < _PREVIEW:
            self.preview += data[: _PREVIEW - len(self.preview)]

    @property
    def junk(self) -> bool:
        """Whether anything but blanks (and a BOM) was skipped."""
        return self.offset >= 0


@dataclass(slots=True)
class _Batch:
    """Terminated segments of one chunk, cut but not yet split."""

    texts: list[str]  # decoded, leading blanks stripped, terminator excluded
    offsets: list[int]  # file offset of each text
    terminators: list[int]  # file offset of the terminator that ends each text
    region: bytes  # the raw bytes the texts were decoded from ...
    base: int  # ... starting at this file offset
    replaced: bool  # whether undecodable bytes were replaced by U+FFFD


def _decode(region: bytes, codec: str) -> tuple[str, bool]:
    """``region`` decoded, and whether some bytes were undecodable (replaced:
    with a single-byte codec still one character per byte)."""
    try:
        return region.decode(codec), False
    except UnicodeDecodeError:
        return region.decode(codec, "replace"), True


class _Scanner:
    """Cuts the byte stream into raw segments, holding at most one chunk plus
    the segment in progress."""

    def __init__(self, stream: BinaryIO, chunk_size: int, max_segment: int) -> None:
        self._stream = stream
        self._chunk_size = max(1, chunk_size)
        self.max_segment = max(1, max_segment)
        self._buf = b""
        self._pos = 0  # index in _buf of the first unconsumed byte
        self._base = 0  # file offset of _buf[0]
        self._eof = False
        self._drop: tuple[bytes, ...] | None = None  # layout line breaks dropped from here on (None: undecided)

    @property
    def offset(self) -> int:
        return self._base + self._pos

    def _fill(self) -> bool:
        """Append the next chunk (dropping consumed bytes); False at end of file."""
        if self._eof:
            return False
        data = self._stream.read(self._chunk_size)
        if not data:
            self._eof = True
            return False
        if self._drop:
            data = _without(data, self._drop)
        self._base += self._pos
        self._buf = self._buf[self._pos :] + data
        self._pos = 0
        return True

    def drop_line_breaks(self, breaks: tuple[bytes, ...]) -> None:
        """Drop ``breaks`` from every byte not yet consumed, now and in every
        later chunk; only the first call of a file counts (its first interchange decides)."""
        if self._drop is not None:
            return
        self._drop = breaks
        if breaks:
            self._buf = self._buf[: self._pos] + _without(self._buf[self._pos :], breaks)

    def is_empty(self) -> bool:
        return not self._buf[self._pos :] and not self._fill()

    def find_start(self, skipped: _Skipped) -> bytes | None:
        """Skip to the next UNA, UNB or UNH; return its tag (None at end of file)."""
        while True:
            match = _START.search(self._buf, self._pos)
            if match:
                skipped.add(self._buf[self._pos : match.start()], self.offset)
                self._pos = match.start()
                return match.group()[:3]
            keep = max(self._pos, len(self._buf) - 4)  # a tag may straddle chunks
            skipped.add(self._buf[self._pos : keep], self.offset)
            self._pos = keep
            if not self._fill():
                skipped.add(self._buf[self._pos :], self.offset)
                self._pos = len(self._buf)
                return None

    def una_opens(self) -> bool:
        """Whether the UNA here is followed by a UNB or UNH (blanks and line
        breaks between them ignored), by nothing but blanks within
        ``_UNA_LOOKAHEAD`` bytes, or by the end of the file: then it is read
        as an interchange's start.
        A UNA followed by anything else is three letters in junk (random bytes
        spell it once every 16 MB), skipped with the junk around it instead of
        reading the junk after it segment by segment."""
        ahead = self.peek(9 + _UNA_LOOKAHEAD)[9:]
        rest = _without(ahead, _BREAKS).lstrip(_BLANK)
        return len(rest) < 3 or rest[:3] in (b"UNB", b"UNH")

    def take(self, size: int) -> bytes:
        """The next ``size`` bytes (fewer at end of file)."""
        while len(self._buf) - self._pos < size and self._fill():
            pass
        data = self._buf[self._pos : self._pos + size]
        self._pos += len(data)
        return data

    def peek(self, size: int) -> bytes:
        while len(self._buf) - self._pos < size and self._fill():
            pass
        return self._buf[self._pos : self._pos + size]

    def rewind(self, offset: int) -> None:
        """Step back to a segment just yielded by ``segments`` (it is still buffered)."""
        self._pos = offset - self._base

    def segments(self, terminator: bytes, release: int | None, trailing: bytes = b"") -> Iterator[_Raw]:
        """Yield the non-blank segments from here on, cut at unreleased terminators.

        Each chunk is cut with one ``bytes.split``; the unterminated tail waits
        for the next chunk. ``trailing`` bytes are stripped from segment ends
        (CR when the terminator is LF). Leading blanks are always stripped,
        except blank bytes that are delimiters.
        """
        blank = bytes(b for b in _BLANK if b not in terminator)
        release_byte = bytes([release]) if release is not None else b""
        released_terminator = release_byte + terminator
        while True:
            region = self._buf[self._pos :]
            pieces = region.split(terminator)
            if release_byte and released_terminator in region:
                pieces = _join_released(pieces, terminator, release_byte)
            tail = pieces.pop()
            offset = self.offset
            for piece in pieces:
                start = offset
                offset += len(piece) + 1
                self._pos = offset - self._base
                data = piece.lstrip(blank)
                if trailing:
                    data = data.rstrip(trailing)
                if data:
                    yield data, start + len(piece) - len(data), True, False
            if len(tail) > self.max_segment:
                yield self._skip_oversized(terminator)
            elif not self._fill():
                data = tail.lstrip(blank)
                self._pos = len(self._buf)
                if data.strip(_BLANK):
                    yield data, offset + len(tail) - len(data), False, False
                return

    def first_segment(self, terminator: bytes, release: int | None, trailing: bytes = b"") -> _Raw | None:
        """The segment ``segments`` would yield first, when it is complete in the
        buffer and not blank; else None (then ask ``segments``). Cheap: it does not
        cut the rest of the chunk, which the batch path will cut anyway."""
        buf, begin = self._buf, self._pos
        at = begin
        while True:
            end = buf.find(terminator, at)
            if end < 0:
                return None
            run = end
            while release is not None and run > begin and buf[run - 1] == release:
                run -= 1
            if not (end - run) % 2:  # an even run of release bytes: a real terminator
                break
            at = end + 1
        piece = buf[begin:end]
        data = piece.lstrip(bytes(b for b in _BLANK if b not in terminator))
        if trailing:
            data = data.rstrip(trailing)
        if not data:
            return None
        start = self.offset
        self._pos = end + 1
        return data, start + len(piece) - len(data), True, False

    def batches(self, decoder: _SegmentDecoder) -> Iterator[_Batch | _Raw]:
        """The batch counterpart of ``segments`` for a decoder whose ``batchable`` is true.

        Yields a ``_Batch`` for each run of terminated segments (about
        ``_WINDOW`` bytes each) and a ``_Raw`` for an oversized or
        unterminated last segment, which take the per-segment path. Before a
        batch is yielded the scanner already stands after it; a consumer that
        stops inside a batch must ``rewind`` to where it stopped.
        """
        terminator, release, codec = decoder.terminator, decoder.release, decoder.codec
        term_byte = terminator.encode("ascii")
        while True:
            region = self._buf[self._pos :]
            base = self.offset
            text, replaced = _decode(region, codec)
            masked = text
            if release is not None and release + terminator in text:
                # Hide released terminators behind characters of the same length,
                # so that the split below cuts only at real ones.
                mark = next((m for m in _MARKS if m not in text), None)
                if mark is not None:
                    pair = mark + mark
                    masked = text.replace(release + release, pair).replace(release + terminator, pair)
            else:
                mark = ""
            if mark is None:  # pathological chunk that holds every mark: one segment at a time
                yield from self._single_segments(term_byte, release, base)
                cut = self.offset - base
            else:
                cut = masked.rfind(terminator) + 1  # up to and including the last real terminator
                self._pos += cut
                # Small windows keep each batch's objects in the CPU caches.
                at = 0
                while at < cut:
                    until = masked.rfind(terminator, at, at + _WINDOW) + 1 or masked.find(terminator, at) + 1
                    yield self._cut(text, masked, mark, at, until, region, base, replaced)
                    at = until
            if len(region) - cut > self.max_segment:
                yield self._skip_oversized(term_byte)
            elif not self._fill():
                tail = region[cut:]
                data = tail.lstrip(_BLANK)
                self._pos = len(self._buf)
                if data.strip(_BLANK):
                    yield (data, base + len(region) - len(data), False, False)
                return

    @staticmethod
    def _cut(
        text: str, masked: str, mark: str, at: int, until: int, region: bytes, base: int, replaced: bool
    ) -> _Batch:
        """The segments of ``text[at:until]``, which ends with a real terminator."""
        pieces = masked[at : until - 1].split(masked[until - 1])
        # terms[k + 1]: offset of the terminator that ends pieces[k]
        terms = list(accumulate(map(add, map(len, pieces), _ONES), initial=base + at - 1))
        if mark:
            for k in compress(range(len(pieces)), map(contains, pieces, repeat(mark))):
                pieces[k] = text[terms[k] + 1 - base : terms[k + 1] - base]
        texts = list(map(str.lstrip, pieces, repeat(_BLANK_TEXT)))
        del terms[0]
        offsets = list(map(sub, terms, map(len, texts)))
        if "" in texts:  # blank-only pieces (e.g. a doubled terminator) are no segments
            keep = list(map(bool, texts))
            texts = list(compress(texts, keep))
            offsets = list(compress(offsets, keep))
            terms = list(compress(terms, keep))
        return _Batch(texts, offsets, terms, region, base, replaced)

    def _single_segments(self, terminator: bytes, release: str | None, base: int) -> Iterator[_Raw]:
        """Hand the complete segments of the buffer one by one to the per-segment path."""
        region = self._buf[self._pos :]
        pieces = region.split(terminator)
        if release is not None:
            pieces = _join_released(pieces, terminator, release.encode("ascii"))
        pieces.pop()
        offset = base
        for piece in pieces:
            start = offset
            offset += len(piece) + 1
            self._pos = offset - self._base
            data = piece.lstrip(_BLANK)
            if data:
                yield (data, start + len(piece) - len(data), True, False)

    def _skip_oversized(self, terminator: bytes) -> _Raw:
        """Drop a segment that exceeds ``max_segment`` bytes, up to its terminator."""
        start = self.offset
        preview = self._buf[self._pos : self._pos + _PREVIEW]
        while True:
            end = self._buf.find(terminator, self._pos)
            if end >= 0:
                self._pos = end + 1
                return preview, start, True, True
            self._pos = len(self._buf)
            if not self._fill():
                return preview, start, False, True


def _without(data: bytes, breaks: tuple[bytes, ...]) -> bytes:
    """``data`` without the single bytes ``breaks`` (CR, LF)."""
    for brk in breaks:
        data = data.replace(brk, b"")
    return data


def _join_released(pieces: list[bytes], terminator: bytes, release: bytes) -> list[bytes]:
    """Re-join pieces that were cut at a released terminator (odd run of release bytes)."""
    joined: list[bytes] = []
    carry: bytes | None = None
    for piece in pieces:
        if carry is not None:
            piece = carry + terminator + piece
            carry = None
        if piece.endswith(release) and (len(piece) - len(piece.rstrip(release))) % 2:
            carry = piece
        else:
            joined.append(piece)
    if carry is not None:  # the tail ends in a release byte: its next byte is still to come
        joined.append(carry)
    return joined


# Raw segment -> tag, elements --------------------------------------------------


_Problem = tuple[int, int | None, str]  # element, component, text of a code-21 finding
_Decoded = tuple[str, list[list[str]], dict[int, list[list[str]]] | None, _Problem | None]
"""A decoded segment: tag, elements, repetitions, character problem (plain tuple: hot path)."""

# Stand-ins for released service characters while a segment is split: Unicode
# noncharacters, which no 8-bit charset decodes to and no interchange should
# contain (UTF-8 segments that do take the slower character loop instead).
_PLACEHOLDERS = "\ufdd0\ufdd1\ufdd2\ufdd3\ufdd4"
_PLACEHOLDER_RE = re.compile(f"[{_PLACEHOLDERS}]")  # only UTF-8 text can contain them


class _SegmentDecoder:
    """Decodes raw segments of one interchange: charset, splitting."""

    def __init__(
        self,
        delimiters: Delimiters,
        syntax_identifier: str = "",
        codec: str = "latin-1",
        *,
        repeat: bool = False,
    ) -> None:
        self.delimiters = delimiters
        self.element = delimiters.element
        self.component = delimiters.component
        self.release = delimiters.release
        self.repetition = delimiters.repetition if repeat else None
        self.terminator = delimiters.terminator
        self.codec = codec
        self.syntax_identifier = syntax_identifier
        service = [delimiters.element, delimiters.component, self.repetition, delimiters.terminator]
        self._escapes = [
            (f"{self.release}{char}", placeholder)
            for char, placeholder in zip([self.release, *service], _PLACEHOLDERS, strict=True)
            if char
        ]
        service_chars = {c for c in [self.release, *service] if c}
        allowed = _REPERTOIRES.get(syntax_identifier)
        self.invalid: re.Pattern[str] | None = None
        """A character outside the declared repertoire (reported 21): for UNOA and
        UNOB anything but their characters, for the other charsets a C1 control."""
        if allowed:
            self.invalid = re.compile(f"[^{re.escape(allowed + ''.join(service_chars))}]")
        elif syntax_identifier in CODECS:
            self.invalid = re.compile(_C1_CONTROLS)
        self.batchable = codec in _SINGLE_BYTE_CODECS and all(
            c.isascii() and c not in _BLANK_TEXT for c in service_chars
        )
        """Whether the batch path may read this interchange (see ``_SINGLE_BYTE_CODECS``)."""
        table = None
        if allowed:
            permitted = bytearray(256)
            for char in allowed + "".join(service_chars):
                if ord(char) < 256:
                    permitted[ord(char)] = 1
            table = bytes(permitted)
        elif self.invalid is not None:
            table = bytes(0 if 0x80 <= code <= 0x9F else 1 for code in range(256))
        self.tokenizer_args = (self.element, self.component, self.release, self.repetition, self.terminator, table)
        """The delimiter arguments of ``_tokenizer.tokenize`` (``table``: the repertoire, or None)."""

    def decode(self, raw: bytes) -> _Decoded:
        try:
            text = raw.decode(self.codec)
            undecodable = False
        except UnicodeDecodeError:
            text = raw.decode(self.codec, "replace")
            undecodable = True
        release, repetition = self.release, self.repetition
        if release is not None and release in text:
            tag, elements, repetitions = self._split_released(text, release)
        elif repetition is not None and repetition in text:
            tag, elements, repetitions = self._split(text)
        else:  # the common case, inlined for speed
            parts = text.split(self.element)
            tag, component, repetitions = parts[0], self.component, None
            elements = [p.split(component) for p in parts[1:]]
        if len(tag) != 3:  # blanks or wrapped line breaks inside the tag
            tag = "".join(tag.split())
        if undecodable:
            return tag, elements, repetitions, self._locate_undecodable(tag, elements, repetitions)
        if self.invalid is not None and self.invalid.search(text):
            return tag, elements, repetitions, self._locate_invalid(tag, elements, repetitions)
        return tag, elements, repetitions, None

    def _split(self, text: str) -> tuple[str, list[list[str]], dict[int, list[list[str]]] | None]:
        parts = text.split(self.element)
        repetition = self.repetition
        if repetition is not None and repetition in text:
            return (parts[0], *self._split_repeated(parts[1:], repetition))
        component = self.component
        return parts[0], [p.split(component) for p in parts[1:]], None

    def _split_repeated(
        self, parts: list[str], repetition: str
    ) -> tuple[list[list[str]], dict[int, list[list[str]]] | None]:
        elements: list[list[str]] = []
        repetitions: dict[int, list[list[str]]] = {}
        for number, part in enumerate(parts, 1):
            occurrences = [o.split(self.component) for o in part.split(repetition)]
            elements.append(occurrences[0])
            if len(occurrences) > 1:
                repetitions[number] = occurrences
        return elements, repetitions or None

    def _split_released(
        self, text: str, release: str
    ) -> tuple[str, list[list[str]], dict[int, list[list[str]]] | None]:
        """Split a segment containing the release character.

        Released pairs are swapped for placeholders (``??`` first, so ``???+``
        reads as a literal ``?`` and a separator), remaining release characters
        drop out (they release ordinary characters), the segment is split as
        usual and the placeholders are restored in each value.
        """
        if self.codec == "utf-8" and _PLACEHOLDER_RE.search(text):
            return self._split_released_slowly(text)
        protected: list[tuple[str, str]] = []  # (placeholder, the released character)
        for pair, placeholder in self._escapes:
            if pair in text:
                text = text.replace(pair, placeholder)
                protected.append((placeholder, pair[1]))
        tag, elements, repetitions = self._split(text.replace(release, ""))
        if not protected:
            return tag, elements, repetitions
        elements = [[_restore(c, protected) for c in element] for element in elements]
        if repetitions:
            repetitions = {
                n: [[_restore(c, protected) for c in occ] for occ in occs] for n, occs in repetitions.items()
            }
        return _restore(tag, protected), elements, repetitions

    def _split_released_slowly(self, text: str) -> tuple[str, list[list[str]], dict[int, list[list[str]]] | None]:
        """Character loop for the rare segment that contains a placeholder character."""
        occurrences: list[list[list[str]]] = []  # per element: its occurrences
        current: list[list[str]] = []  # occurrences of the element being read
        components: list[str] = []
        chars: list[str] = []
        escaped = False
        for ch in text:
            if escaped:
                chars.append(ch)
                escaped = False
            elif ch == self.release:
                escaped = True
            elif ch == self.component:
                components.append("".join(chars))
                chars = []
            elif ch == self.element or ch == self.repetition:
                components.append("".join(chars))
                current.append(components)
                chars, components = [], []
                if ch == self.element:
                    occurrences.append(current)
                    current = []
            else:
                chars.append(ch)
        components.append("".join(chars))
        current.append(components)
        occurrences.append(current)
        tag = "".join(c for comps in occurrences[0] for c in comps)
        elements = [occ[0] for occ in occurrences[1:]]
        repetitions = {n: occ for n, occ in enumerate(occurrences[1:], 1) if len(occ) > 1}
        return tag, elements, repetitions or None

    def _locate_undecodable(
        self,
        tag: str,
        elements: list[list[str]],
        repetitions: dict[int, list[list[str]]] | None,
    ) -> _Problem:
        where = _first_component(tag, elements, lambda value: "\ufffd" in value, repetitions)
        return (
            *where,
            f"bytes that are not valid {self.codec} (syntax identifier "
            f"{self.syntax_identifier or 'unknown'}) were replaced by U+FFFD",
        )

    def _locate_invalid(
        self,
        tag: str,
        elements: list[list[str]],
        repetitions: dict[int, list[list[str]]] | None,
    ) -> _Problem | None:
        invalid = self.invalid
        assert invalid is not None
        found: list[str] = []

        def offending(value: str) -> bool:
            match = invalid.search(value)
            if match:
                found.append(match.group())
            return match is not None

        where = _first_component(tag, elements, offending, repetitions)
        if not found:  # only a delimiter-like character in a released position
            return None
        return (*where, f"character {found[0]!r} is outside the {self.syntax_identifier} character repertoire")


def _restore(value: str, protected: list[tuple[str, str]]) -> str:
    """Put the released characters back in place of their placeholders
    (``str.replace`` chains: much faster than ``str.translate`` with a dict)."""
    if value.isascii():  # O(1); placeholders are not ASCII
        return value
    for placeholder, char in protected:
        value = value.replace(placeholder, char)
    return value


def _first_component(
    tag: str,
    elements: list[list[str]],
    bad: Callable[[str], bool],
    repetitions: dict[int, list[list[str]]] | None = None,
) -> tuple[int, int | None]:
    """1-based (element, component) of the first value for which ``bad`` is true."""
    if bad(tag):
        return 0, None
    for e, element in enumerate(elements, 1):
        for occurrence in (repetitions or {}).get(e, [element]):
            for c, value in enumerate(occurrence, 1):
                if bad(value):
                    return e, (c if len(occurrence) > 1 else None)
    return 0, None


# Events ------------------------------------------------------------------------


def _problem(code: str, text: str, **where: Any) -> SyntaxProblem:
    """A syntax problem at the ``Location`` the keywords describe."""
    return SyntaxProblem(Finding(code, text, Location(**where)))


def _parse_una(raw: bytes) -> tuple[Delimiters, list[Finding]]:
    """Delimiters from the 9 bytes of a UNA service string advice."""
    chars = raw.decode("latin-1")[3:]
    if len(chars) < 6:
        return DEFAULT_DELIMITERS, [
            Finding("13", f"UNA service string advice is truncated: {raw!r}", Location(tag="UNA"))
        ]
    component, element, decimal, release, repetition, terminator = tuple(chars)
    delimiters = Delimiters(
        component=component,
        element=element,
        decimal=decimal,
        release=None if release == " " else release,
        repetition=None if repetition == " " else repetition,
        terminator=terminator,
    )
    service = [component, element, terminator] + [c for c in (release, repetition) if c != " "]
    if len(set(service)) != len(service):
        return DEFAULT_DELIMITERS, [
            Finding(
                "20",
                f"UNA {chars!r} uses one character for two service functions; default delimiters used",
                Location(tag="UNA"),
            )
        ]
    return delimiters, []


@dataclass(slots=True)
class _Interchange:
    """State of the interchange (or run of bare messages) being read."""

    decoder: _SegmentDecoder
    position: int = 0
    message: Message | None = None
    group_open: bool = False
    pending: list[Event] = field(default_factory=list)
    stray_first: int = 0  # position of the first segment of a run outside any message (0: no run)
    stray_last: int = 0  # ... and of its last one so far


class _Reader:
    """Turns the scanner's raw segments into events, one interchange at a time."""

    def __init__(
        self,
        scanner: _Scanner,
        keep_line_breaks: bool = False,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        max_message_segments: int = MAX_MESSAGE_SEGMENTS,
    ) -> None:
        self._scanner = scanner
        self._keep_line_breaks = keep_line_breaks
        self._max_message = max(1, max_message_bytes)
        self._max_segments = max(2, max_message_segments)

    def events(self) -> Iterator[Event]:
        scanner = self._scanner
        if scanner.is_empty():
            yield _problem("13", "empty file")
            return
        found = False
        skipped = _Skipped()
        while True:
            tag = scanner.find_start(skipped)
            if tag is None:
                yield from self._finish_file(found, skipped)
                return
            if tag == b"UNA" and not scanner.una_opens():  # three letters that happen to spell UNA in junk
                offset = scanner.offset
                skipped.add(scanner.take(3), offset)
                continue
            if skipped.junk:
                yield self._skipped_problem(skipped, found)
            found = True
            yield from self._read_interchange(tag)
            skipped = _Skipped()

    @staticmethod
    def _finish_file(found: bool, skipped: _Skipped) -> Iterator[Event]:
        if not found and not skipped.junk:
            yield _problem("13", "empty file (only blanks)")
        elif not found:
            yield _problem(
                "13",
                f"not an EDIFACT interchange: no UNA, UNB or UNH segment found (starts with {skipped.preview!r})",
            )
        elif skipped.junk:
            yield _Reader._skipped_problem(skipped, found)

    @staticmethod
    def _skipped_problem(skipped: _Skipped, after_interchange: bool) -> SyntaxProblem:
        where = "after the interchange trailer" if after_interchange else "before the interchange"
        return _problem(
            "15",
            f"{skipped.size} bytes of non-EDIFACT data at byte {skipped.offset} {where} "
            f"were skipped: {skipped.preview!r}",
        )

    # One interchange -----------------------------------------------------------

    def _read_interchange(self, start: bytes) -> Iterator[Event]:
        scanner = self._scanner
        una_present = start == b"UNA"
        if una_present:
            delimiters, findings = _parse_una(scanner.take(9))
            yield from (SyntaxProblem(f) for f in findings)
        elif scanner.peek(4)[3:] == b"\x1d":
            delimiters = CONTROL_DELIMITERS
        else:
            delimiters = DEFAULT_DELIMITERS
        scanner.drop_line_breaks(() if self._keep_line_breaks else _layout_breaks(delimiters))
        cutting = (
            delimiters.terminator.encode("latin-1"),
            ord(delimiters.release) if delimiters.release else None,
            b"\r" if delimiters.terminator == "\n" else b"",
        )
        first = scanner.first_segment(*cutting)
        segments = scanner.segments(*cutting)
        if first is None:
            first = next(segments, None)
        if first is None:
            yield _problem("13", "UNA service string advice is not followed by a UNB segment", tag="UNA")
            return
        if first[0].startswith(b"UNB"):
            header, state = self._start_interchange(first, delimiters, una_present)
            yield InterchangeStart(header)
            yield from self._flush(state)
            yield from self._read_body(state, segments, enveloped=True)
        else:
            yield _problem(
                "13",
                "UNB interchange header missing: message(s) without an interchange envelope",
                segment=1,
                tag=first[0][:3].decode("latin-1"),
            )
            state = _Interchange(_SegmentDecoder(delimiters))
            yield from self._read_body(state, itertools.chain([first], segments), enveloped=False)

    def _start_interchange(
        self, raw: _Raw, una_delimiters: Delimiters, una_present: bool
    ) -> tuple[InterchangeHeader, _Interchange]:
        """Read UNB, choose charset and repetition, and build the header."""
        data, offset = raw[0], raw[1]
        provisional = _SegmentDecoder(una_delimiters).decode(data)[1]
        syntax = provisional[0] if provisional else [""]
        syntax_identifier, syntax_version = syntax[0], (syntax[1] if len(syntax) > 1 else "")
        delimiters = _effective_delimiters(una_delimiters, una_present, syntax_version)
        codec = CODECS.get(syntax_identifier, "latin-1")
        state = _Interchange(
            _SegmentDecoder(delimiters, syntax_identifier, codec, repeat=delimiters.repetition is not None),
            position=1,
        )
        decoded = _SegmentDecoder(delimiters, syntax_identifier, codec).decode(data)
        unb = Segment(decoded[0], decoded[1], 1, offset)
        if syntax_identifier and syntax_identifier not in CODECS:
            state.pending.append(
                _problem(
                    "2",
                    f"syntax identifier {syntax_identifier!r} is not supported; decoded as latin-1",
                    segment=1,
                    tag="UNB",
                    element=1,
                    component=1,
                )
            )
        self._segment_problems(state, unb, raw, decoded)
        return _header(unb, delimiters, una_present, codec), state

    def _read_body(self, state: _Interchange, segments: Iterator[_Raw], enveloped: bool) -> Iterator[Event]:
        """Segments after UNB (or from the first bare UNH) up to UNZ, a new interchange or EOF."""
        if enveloped and state.decoder.batchable:
            if _tokenize is not None:
                yield from self._read_tokenized(state, enveloped, _tokenize)
            else:
                yield from self._read_batches(state, enveloped)
            return
        decode = state.decoder.decode
        for raw in segments:
            if (yield from self._one(state, raw, enveloped, decode)):
                return
        yield from self._close_all(state, enveloped, "end of file")

    def _one(
        self, state: _Interchange, raw: _Raw, enveloped: bool, decode: Callable[[bytes], _Decoded]
    ) -> Generator[Event, None, int]:
        """Read one raw segment; returns 0 to go on, 1 after a new UNA/UNB (the
        scanner is rewound to it), 2 after UNZ."""
        data, offset, terminated, oversized = raw
        if data[:3] in (b"UNA", b"UNB") and not oversized:
            self._scanner.rewind(offset)
            yield from self._close_all(state, enveloped, f"a new {data[:3].decode()} at byte {offset}")
            return 1
        state.position += 1
        if oversized:
            self._oversized(state, raw)
            yield from self._flush(state)
            return 0
        decoded = decode(data)
        segment = Segment(decoded[0], decoded[1], state.position, offset, decoded[2])
        message = state.message
        if message is not None and segment.tag not in _ENVELOPE_TAGS:
            message.segments.append(segment)  # the common case
            self._bound(message)
            if decoded[3] is not None or not terminated:
                self._segment_problems(state, segment, raw, decoded)
            return 0
        done = yield from self._dispatch(state, segment, raw, decoded, enveloped)
        yield from self._flush(state)
        return 2 if done else 0

    def _read_batches(self, state: _Interchange, enveloped: bool) -> Iterator[Event]:
        """``_read_body`` on the batch path: the same events, a chunk at a time.

        Plain segments (no release/repetition character, a 3-character tag, no
        character problem) are split in C-level ``map`` chains and appended to
        the open message in runs; every other segment is handed to ``_one``
        with its raw bytes, envelope segments to ``_dispatch``.
        """
        scanner = self._scanner
        decoder = state.decoder
        decode = decoder.decode
        element, component = repeat(decoder.element), repeat(repeat(decoder.component))
        suspects = [c for c in (decoder.release, decoder.repetition) if c]
        invalid = decoder.invalid
        for batch in scanner.batches(decoder):
            if not isinstance(batch, _Batch):  # a raw segment for the per-segment path
                if (yield from self._one(state, batch, enveloped, decode)):
                    return
                continue
            texts = batch.texts
            n = len(texts)
            if not n:  # only blank pieces (e.g. a doubled terminator): no segments
                continue
            elements = list(map(list, map(map, _SPLITS, map(str.split, texts, element), component)))
            heads = list(map(list.pop, elements, _ZEROS))  # the tag, split on components
            tags = list(map(_first, heads))
            odd: set[int] = set()
            if max(map(len, heads)) > 1:
                odd.update(compress(range(n), map(ne, map(len, heads), _ONES)))
            sizes = list(map(len, tags))
            if min(sizes) != 3 or max(sizes) != 3:
                odd.update(compress(range(n), map(ne, sizes, _THREES)))
            for char in suspects:
                odd.update(compress(range(n), map(contains, texts, repeat(char))))
            if batch.replaced:
                odd.update(compress(range(n), map(contains, texts, repeat("\ufffd"))))
            if invalid is not None:
                odd.update(compress(range(n), map(invalid.search, texts)))
            stops = odd.union(compress(range(n), map(_STOP_TAGS.__contains__, tags)))
            first = state.position + 1
            segments = list(map(Segment, tags, elements, count(first), batch.offsets))
            start = 0
            for stop in (*sorted(stops), n):
                if start < stop:
                    message = state.message
                    if message is not None:
                        message.segments += segments[start:stop]  # the common case
                        self._bound(message)
                    else:
                        for k in range(start, stop):  # outside any message: reported one by one
                            state.position = first + k
                            segment = segments[k]
                            ok = (b"", segment.offset, True, False)
                            yield from self._dispatch(
                                state, segment, ok, (segment.tag, segment.elements, None, None), enveloped
                            )
                            yield from self._flush(state)
                if stop == n:
                    break
                start = stop + 1
                state.position = first + stop - 1
                end = batch.terminators[stop]
                if stop in odd:
                    offset = batch.offsets[stop]
                    raw = (batch.region[offset - batch.base : end - batch.base], offset, True, False)
                    done = yield from self._one(state, raw, enveloped, decode)
                else:
                    segment = segments[stop]
                    if segment.tag in ("UNA", "UNB"):
                        scanner.rewind(segment.offset)
                        yield from self._close_all(state, enveloped, f"a new {segment.tag} at byte {segment.offset}")
                        return
                    state.position += 1
                    done = yield from self._dispatch_decoded(state, segment, segment.offset, enveloped)
                if done == 2:
                    scanner.rewind(end + 1)
                if done:
                    return
            state.position = first + n - 1
        yield from self._close_all(state, enveloped, "end of file")

    def _dispatch_decoded(
        self, state: _Interchange, segment: Segment, offset: int, enveloped: bool
    ) -> Generator[Event, None, int]:
        """Hand a segment the fast paths decoded already to the per-segment
        dispatcher; 2 when it ends the reading of this interchange, else 0."""
        ok = (b"", offset, True, False)
        done = yield from self._dispatch(state, segment, ok, (segment.tag, segment.elements, None, None), enveloped)
        yield from self._flush(state)
        return 2 if done else 0

    def _read_tokenized(self, state: _Interchange, enveloped: bool, tokenize: _Tokenize) -> Iterator[Event]:
        """``_read_batches`` with the C tokenizer: the same events.

        ``tokenize`` cuts about ``_WINDOW`` characters of the decoded chunk at a
        time into ``Segment`` objects (None for a segment the per-segment path
        must decode: release or repetition character, character problem, odd
        tag) and lists those and the service segments as stops. The scanner is
        moved past each window before its segments are dispatched; a stop that
        ends the interchange rewinds it, as on the pure-Python path.
        """
        scanner = self._scanner
        decoder = state.decoder
        decode = decoder.decode
        codec = decoder.codec
        arguments = decoder.tokenizer_args
        delimiters = decoder.delimiters
        term_byte = decoder.terminator.encode("ascii")
        while True:
            region = scanner._buf[scanner._pos :]
            base = scanner.offset
            text, replaced = _decode(region, codec)
            at = 0
            while True:
                first = state.position + 1
                found, stops, until = tokenize(text, at, base, _WINDOW, first, replaced, *arguments)
                # None stands only at the odd stops, which are decoded from ``region``, never read from here.
                segments = cast("list[Segment]", found)
                if until == at:
                    break
                at = until
                scanner._pos = base + until - scanner._base
                n = len(segments)
                if not stops:  # the common case: a run of plain segments
                    message = state.message
                    if message is not None:
                        message.segments += segments
                        self._bound(message)
                    else:
                        for k in range(n):  # outside any message: reported one by one
                            state.position = first + k
                            segment = segments[k]
                            ok = (b"", segment.offset, True, False)
                            yield from self._dispatch(
                                state, segment, ok, (segment.tag, segment.elements, None, None), enveloped
                            )
                            yield from self._flush(state)
                    state.position = first + n - 1
                    continue
                start = 0
                for stop, offset, end, odd in (*stops, (n, 0, 0, False)):
                    if start < stop:
                        message = state.message
                        if message is not None:
                            message.segments += segments[start:stop]
                            self._bound(message)
                        else:
                            for k in range(start, stop):
                                state.position = first + k
                                segment = segments[k]
                                ok = (b"", segment.offset, True, False)
                                yield from self._dispatch(
                                    state, segment, ok, (segment.tag, segment.elements, None, None), enveloped
                                )
                                yield from self._flush(state)
                    if stop == n:
                        break
                    start = stop + 1
                    state.position = first + stop - 1
                    if odd:
                        raw = (region[offset - base : end - base], offset, True, False)
                        done = yield from self._one(state, raw, enveloped, decode)
                    else:
                        segment = segments[stop]
                        tag = segment.tag
                        if tag in ("UNA", "UNB"):
                            scanner.rewind(offset)
                            yield from self._close_all(state, enveloped, f"a new {tag} at byte {offset}")
                            return
                        state.position += 1
                        # The two stops of every message, when nothing is pending: what
                        # ``_dispatch`` does for them then, without its generators.
                        if not state.pending and not state.stray_first:
                            message = state.message
                            if tag == "UNT" and message is not None:
                                message.segments.append(segment)
                                state.message = None
                                yield MessageRead(message)
                                continue
                            if tag == "UNH" and message is None:
                                state.message = _message(segment, delimiters)
                                continue
                        done = yield from self._dispatch_decoded(state, segment, offset, enveloped)
                    if done == 2:
                        scanner.rewind(end + 1)
                    if done:
                        return
                state.position = first + n - 1
            scanner._pos = base + at - scanner._base
            if len(region) - at > scanner.max_segment:
                raw = scanner._skip_oversized(term_byte)
                if (yield from self._one(state, raw, enveloped, decode)):
                    return
            elif not scanner._fill():
                tail = region[at:]
                data = tail.lstrip(_BLANK)
                scanner._pos = len(scanner._buf)
                if data.strip(_BLANK):
                    raw = (data, base + len(region) - len(data), False, False)
                    if (yield from self._one(state, raw, enveloped, decode)):
                        return
                break
        yield from self._close_all(state, enveloped, "end of file")

    def _dispatch(
        self, state: _Interchange, segment: Segment, raw: _Raw, decoded: _Decoded, enveloped: bool
    ) -> Generator[Event, None, bool]:
        """Route one envelope segment (or a stray one); returns True after UNZ."""
        tag = segment.tag
        message_open = state.message is not None
        stray = not (
            tag == "UNH"
            or (tag == "UNT" and message_open)
            or (tag in ("UNG", "UNZ") and enveloped)
            or (tag == "UNE" and state.group_open)
        )
        if stray:
            if not state.stray_first:  # a run starts: its first segment is reported as such
                state.stray_first = segment.position
                yield self._outside(segment, enveloped)
                self._segment_problems(state, segment, raw, decoded)
            state.stray_last = segment.position  # the rest of the run: counted, reported once at its end
            return False
        yield from self._end_strays(state, enveloped)
        if tag == "UNH":
            yield from self._close_message(state, f"UNH at segment {segment.position}")
            state.message = _message(segment, state.decoder.delimiters)
            self._segment_problems(state, segment, raw, decoded)
        elif tag == "UNT" and state.message is not None:
            message = state.message
            message.segments.append(segment)
            self._segment_problems(state, segment, raw, decoded)
            state.message = None
            yield MessageRead(message)
        elif tag == "UNG" and enveloped:
            yield from self._close_message(state, "UNG")
            yield from self._close_group(state, f"UNG at segment {segment.position}")
            state.group_open = True
            yield GroupStart(GroupHeader(segment, segment.get(5)))
            self._segment_problems(state, segment, raw, decoded)
        elif tag == "UNE" and state.group_open:
            yield from self._close_message(state, "UNE")
            state.group_open = False
            self._segment_problems(state, segment, raw, decoded)
            yield from self._flush(state)
            yield GroupEnd(segment)
        elif tag == "UNZ" and enveloped:
            yield from self._close_message(state, "UNZ")
            yield from self._close_group(state, "UNZ")
            self._segment_problems(state, segment, raw, decoded)
            yield from self._flush(state)
            yield InterchangeEnd(segment, state.position)
            return True
        return False

    @staticmethod
    def _end_strays(state: _Interchange, enveloped: bool) -> Iterator[Event]:
        """End a run of segments outside any message: one finding for all of
        it after its first (junk after a UNB would otherwise be a finding per segment)."""
        first, last = state.stray_first, state.stray_last
        if not first:
            return
        state.stray_first = state.stray_last = 0
        context = _outside_context(None, enveloped)
        if last == first + 1:
            text = f"1 more segment (segment {last}) is not supported in this position: {context}; it was skipped"
        elif last > first:
            text = (
                f"{last - first} more segments (segments {first + 1} to {last}) are not supported in this "
                f"position: {context}; they were skipped"
            )
        else:
            return
        yield _problem("15", text, segment=first + 1)

    @staticmethod
    def _outside(segment: Segment, enveloped: bool) -> SyntaxProblem:
        context = _outside_context(segment.tag, enveloped)
        tag = _shown(segment.tag)
        return _problem(
            "15",
            f"segment {tag or '(empty tag)'} is not supported in this position: {context}",
            segment=segment.position,
            tag=tag or None,
        )

    def _bound(self, message: Message) -> None:
        """After segments were added: drop them if the message outgrew the limits (or did before)."""
        segments = message.segments
        if (
            message.skipped
            or len(segments) > self._max_segments
            or segments[-1].offset - segments[0].offset > self._max_message
        ):
            self._outgrown(message)

    def _outgrown(self, message: Message) -> None:
        """Keep only the UNH of a message longer than ``max_message_bytes``; the
        first time, a finding says so (its position: the first segment past the limit)."""
        segments = message.segments
        if not message.skipped:
            start, limit = segments[0].offset, self._max_message
            position = next(
                (i for i, segment in enumerate(segments) if segment.offset - start > limit), self._max_segments
            )
            position = min(position, self._max_segments)
            message.findings.insert(  # first: the report lists it whatever the budget leaves for the rest
                0,
                Finding(
                    "18",
                    f"message {_shown(message.reference)} is longer than the gateway reads of one message "
                    f"({limit} bytes or {self._max_segments} segments): it is rejected unread from segment "
                    f"{position + 1} (byte {segments[position].offset}) on",
                    Location(message_ref=message.reference, segment=position + 1, tag=segments[position].tag),
                ),
            )
        message.skipped += len(segments) - 1
        del segments[1:]

    def _close_message(self, state: _Interchange, cause: str) -> Iterator[Event]:
        """Close a message that never got its UNT."""
        if state.message is None:
            return
        message = state.message
        message.findings.append(
            Finding(
                "13",
                f"UNT missing: message {message.reference} was not closed before {cause}",
                Location(
                    message_ref=message.reference,
                    segment=len(message.segments) + message.skipped + 1,
                    tag="UNT",
                ),
            )
        )
        state.message = None
        yield MessageRead(message)

    def _close_group(self, state: _Interchange, cause: str) -> Iterator[Event]:
        if not state.group_open:
            return
        state.group_open = False
        yield _problem("13", f"UNE missing: functional group was not closed before {cause}", tag="UNE")
        yield GroupEnd(None)

    def _close_all(self, state: _Interchange, enveloped: bool, cause: str) -> Iterator[Event]:
        yield from self._end_strays(state, enveloped)
        yield from self._close_message(state, cause)
        if not enveloped:
            return
        yield from self._close_group(state, cause)
        yield _problem("13", f"UNZ missing: interchange was not closed before {cause}", tag="UNZ")
        yield InterchangeEnd(None, state.position)

    @staticmethod
    def _flush(state: _Interchange) -> Iterator[Event]:
        if state.pending:
            yield from state.pending
            state.pending.clear()

    # Segment-level findings ------------------------------------------------------

    def _segment_problems(self, state: _Interchange, segment: Segment, raw: _Raw, decoded: _Decoded) -> None:
        if decoded[3] is not None:
            element, component, text = decoded[3]
            self._report(state, segment, "21", f"{_shown(segment.tag)}: {text}", element, component)
        if not raw[2]:
            self._report(state, segment, "13", f"segment terminator missing at end of file after {_shown(segment.tag)}")

    def _oversized(self, state: _Interchange, raw: _Raw) -> None:
        preview, offset = raw[0], raw[1]
        segment = Segment("", [], state.position, offset)
        self._report(
            state,
            segment,
            "18",
            f"segment at byte {offset} is longer than {self._scanner.max_segment} bytes "
            f"without a terminator and was skipped: {preview!r}",
        )

    @staticmethod
    def _report(
        state: _Interchange,
        segment: Segment,
        code: str,
        text: str,
        element: int | None = None,
        component: int | None = None,
    ) -> None:
        """File a finding on the open message (if the segment is in it) or as an event."""
        message = state.message
        tag = _shown(segment.tag) or None
        if message is not None and message.skipped and message.segments[-1] is not segment:
            return  # a segment of a message too long to keep: it is rejected unread from the first such segment
        if message is not None and message.segments[-1] is segment:
            location = Location(
                message_ref=message.reference,
                segment=len(message.segments) + message.skipped,
                tag=tag,
                element=element,
                component=component,
            )
            message.findings.append(Finding(code, text, location))
        else:
            location = Location(segment=segment.position, tag=tag, element=element, component=component)
            state.pending.append(SyntaxProblem(Finding(code, text, location)))


def _outside_context(tag: str | None, enveloped: bool) -> str:
    """Why a segment outside any message is out of place."""
    if tag in ("UNT", "UNE"):
        return f"no open {'UNH' if tag == 'UNT' else 'UNG'} to close"
    if enveloped:
        return "outside any message"
    return "outside any message and without a UNB interchange header"


def _shown(tag: str) -> str:
    """A segment tag as a finding quotes it: junk read as a segment can have a "tag" of megabytes."""
    return tag if len(tag) <= _TAG_SHOWN else f"{tag[:_TAG_SHOWN]}…"


def _layout_breaks(delimiters: Delimiters) -> tuple[bytes, ...]:
    """The line breaks that are layout in an interchange with ``delimiters``: those that are no delimiter."""
    service = {delimiters.component, delimiters.element, delimiters.release, delimiters.repetition}
    service.add(delimiters.terminator)
    return tuple(brk for brk in _BREAKS if brk.decode("latin-1") not in service)


def _effective_delimiters(una: Delimiters, una_present: bool, syntax_version: str) -> Delimiters:
    """Apply the syntax-version rule for the repetition separator."""
    if syntax_version.strip() != "4":
        repetition = None
    elif una_present:
        repetition = una.repetition
    else:
        repetition = CONTROL_REPETITION if una == CONTROL_DELIMITERS else "*"
    return Delimiters(una.component, una.element, una.decimal, una.release, repetition, una.terminator)


def _header(unb: Segment, delimiters: Delimiters, una_present: bool, codec: str) -> InterchangeHeader:
    return InterchangeHeader(
        segment=unb,
        delimiters=delimiters,
        una_present=una_present,
        syntax_identifier=unb.get(1, 1),
        syntax_version=unb.get(1, 2),
        sender=unb.get(2, 1),
        sender_qualifier=unb.get(2, 2),
        recipient=unb.get(3, 1),
        recipient_qualifier=unb.get(3, 2),
        prepared_date=unb.get(4, 1),
        prepared_time=unb.get(4, 2),
        control_reference=unb.get(5, 1),
        application_reference=unb.get(7, 1),
        ack_requested=unb.get(9, 1) == "1",
        test_indicator=unb.get(11, 1) == "1",
        encoding=codec,
    )


def _message(unh: Segment, delimiters: Delimiters | None = None) -> Message:
    elements = unh.elements
    reference = elements[0][0] if elements and elements[0] else ""
    # S009's first five components, "" for those absent (as ``unh.get`` reads them): one slice, not a get each
    identifier = (*(elements[1][:5] if len(elements) > 1 else ()), "", "", "", "", "")
    return Message(
        delimiters=delimiters,
        reference=reference,
        type=identifier[0],
        version=identifier[1],
        release=identifier[2],
        agency=identifier[3],
        association_code=identifier[4],
        segments=[unh],
    )
