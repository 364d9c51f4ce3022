"""A file's document entries (``FileReport.documents``), on disk once settled.

A flow appends a document's entry when it reads the message and fills it in
while it checks it; in phase 2 it may change it again (posted, withdrawn). An
entry the flow no longer holds is *settled*: pickled to a temporary file (in
pieces of ``_BUFFER`` bytes) and dropped from memory, so a file of a million
messages costs what a file of one does (issue 18). What stays in memory per
document is its place in the file (8 bytes) and its status (1 byte), which
answer ``len``, ``statuses`` and whether the file is accepted without reading
anything back.

Reading the log (iterating, indexing) loads the settled entries one by one;
``reopen`` takes one back for a change, until the next ``settle``. An entry is
settled only by ``settle``: whoever holds an entry it has not settled may go on
changing it.
"""

from __future__ import annotations

import pickle
import struct
import tempfile
from array import array
from collections import Counter, deque
from collections.abc import Callable, Collection, Iterable, Iterator
from typing import IO, Any, Generic, Protocol, TypeVar, overload


class Entry(Protocol):
    """What the log keeps of an entry: its status, and its state to save (``saved``)."""

    @property
    def status(self) -> str: ...

    def saved(self) -> tuple[Any, ...]: ...


EntryT = TypeVar("EntryT", bound=Entry)
"""The entries' type (``gateway.report.DocumentReport``)."""

_MEMORY = 1 << 20
"""Bytes of settled entries kept in memory before the log moves to a temporary file."""

_BUFFER = 1 << 16
"""Bytes of settled entries gathered before they are written to the log's file in one piece,
and read back from it in one piece: each settled entry is a few dozen bytes, and a write or
read of the spooled file per entry cost more than pickling it."""

_LENGTH = struct.Struct("<I")
"""Each settled entry is saved as its pickle's length, then the pickle."""


class DocumentLog(Generic[EntryT]):
    """The document entries of one file, in file order (a read-only sequence
    plus ``append``, ``reopen`` and ``settle``); ``restore`` makes an entry
    again from what its ``saved()`` returned."""

    def __init__(self, restore: Callable[[tuple[Any, ...]], EntryT]) -> None:
        self._restore = restore
        self._file: IO[bytes] | None = None  # opened on the first settle that fills the buffer
        self._written = 0  # the file's length
        self._buffer = bytearray()  # settled entries not written yet: the log's bytes from _written on
        self._read_at = 0  # where in the file _read starts
        self._read = b""  # the part of the file read last
        self._offsets = array("Q")  # per entry: where its latest pickle starts (unsettled: unused)
        self._statuses = bytearray()  # per entry: its status, as an index into _names
        self._names: list[str] = []
        self._codes: dict[str, int] = {}  # _names' indexes, by name
        self._open: dict[int, EntryT] = {}  # entries not settled, by index

    # writing ---------------------------------------------------------------
    def append(self, document: EntryT) -> int:
        """Add ``document`` (unsettled: its holder may go on changing it); returns its index."""
        index = len(self._offsets)
        self._offsets.append(0)
        self._statuses.append(self._code(document.status))
        self._open[index] = document
        return index

    def extend(self, documents: Iterable[EntryT]) -> None:
        for document in documents:
            self.append(document)

    def reopen(self, index: int) -> EntryT:
        """Entry ``index`` for a change: unsettled until the next ``settle``."""
        document = self[index]
        self._open[index] = document
        return document

    def reopened(self, indexes: Iterable[int], keep: int = 1) -> Iterator[EntryT]:
        """The entries ``indexes`` one at a time for a change. The ``keep`` taken last stay
        unsettled, for their holder may still change them (with posts in flight, an entry is
        answered up to ``keep - 1`` entries after it was taken); every older one is settled
        before the next is taken. When the iteration ends the ``keep - 1`` taken last stay
        unsettled: a window still holds them (``zip(..., strict=True)`` ends the iteration
        before the window is answered); the next ``settle`` writes them."""
        if keep < 1:
            raise ValueError(f"at least the entry taken last stays unsettled, not {keep}")
        held: deque[int] = deque(maxlen=keep - 1)  # the entries taken before this one still held
        for index in indexes:
            self.settle(keep=held)
            yield self.reopen(index)
            held.append(index)
        self.settle(keep=held)

    def settle(self, keep: Collection[int] = ()) -> None:
        """Write every unsettled entry but those of ``keep`` to the log and drop it from memory."""
        open_ = self._open
        if not open_:
            return
        if len(open_) == 1 and not keep:  # the common case: the entry of the message just read
            settling = list(open_)
        else:
            settling = sorted(index for index in open_ if index not in keep)
            if not settling:
                return
        buffer = self._buffer
        for index in settling:
            document = open_.pop(index)
            self._offsets[index] = self._written + len(buffer)
            self._statuses[index] = self._code(document.status)
            data = pickle.dumps(document.saved(), protocol=pickle.HIGHEST_PROTOCOL)
            buffer += _LENGTH.pack(len(data))
            buffer += data
        if len(buffer) >= _BUFFER:
            self._write()

    def _write(self) -> None:
        """Move the buffered entries to the log's file."""
        if self._file is None:
            self._file = tempfile.SpooledTemporaryFile(max_size=_MEMORY)  # noqa: SIM115  # lives as long as the report
        self._file.seek(self._written)
        self._file.write(self._buffer)
        self._written += len(self._buffer)
        self._buffer.clear()

    # reading ---------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._offsets)

    def __bool__(self) -> bool:
        return len(self._offsets) > 0

    def __iter__(self) -> Iterator[EntryT]:
        for index in range(len(self._offsets)):
            yield self._load(index)

    @overload
    def __getitem__(self, key: int) -> EntryT: ...
    @overload
    def __getitem__(self, key: slice) -> list[EntryT]: ...
    def __getitem__(self, key: int | slice) -> EntryT | list[EntryT]:
        if isinstance(key, slice):
            return [self._load(index) for index in range(*key.indices(len(self)))]
        if not -len(self) <= key < len(self):
            raise IndexError("document index out of range")
        return self._load(key % len(self))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, DocumentLog | list):  # a log reads as the list it replaces
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by content

    def __repr__(self) -> str:
        return f"DocumentLog({list(self)!r})"

    def statuses(self) -> Counter[str]:
        """How many entries have each status (unsettled ones as they are now)."""
        counts = Counter({name: self._statuses.count(code) for code, name in enumerate(self._names)})
        for index, document in self._open.items():
            counts[self._names[self._statuses[index]]] -= 1
            counts[document.status] += 1
        return +counts  # drops the statuses no entry has any more

    def _load(self, index: int) -> EntryT:
        if index in self._open:
            return self._open[index]
        offset = self._offsets[index]
        data: bytes | bytearray
        if offset >= self._written:  # still in the buffer
            data, start = self._buffer, offset - self._written
        else:
            data, start = self._read, offset - self._read_at
            if start < 0 or start + _LENGTH.size > len(data):
                data, start = self._read_from(offset), 0
        begin = start + _LENGTH.size
        end = begin + _LENGTH.unpack_from(data, start)[0]
        if end > len(data):  # the entry runs past the part of the file read last
            data = self._read_from(offset)
            begin, end = _LENGTH.size, end - start
        return self._restore(pickle.loads(data[begin:end]))  # our own temporary file

    def _read_from(self, offset: int) -> bytes:
        """The file from ``offset`` on, at least the entry there and up to ``_BUFFER`` bytes."""
        assert self._file is not None  # an entry is either unsettled, buffered or written
        self._file.seek(offset)
        data = self._file.read(max(_BUFFER, _LENGTH.size))
        missing = _LENGTH.size + _LENGTH.unpack_from(data)[0] - len(data)
        if missing > 0:
            data += self._file.read(missing)
        self._read_at, self._read = offset, data
        return data

    def _code(self, status: str) -> int:
        code = self._codes.get(status)
        if code is None:
            if len(self._names) == 256:  # a report's statuses are a handful (``DocumentStatus``)
                raise ValueError(f"document status {status!r}: a log keeps at most 256 distinct statuses")
            code = self._codes[status] = len(self._names)
            self._names.append(status)
        return code
