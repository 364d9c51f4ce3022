"""What the SFTP and S3 readers share: a seekable, read-only raw stream of a
remote file of known size, whose position is ours to keep."""

from __future__ import annotations

import io


class RemoteReader(io.RawIOBase):
    """Position bookkeeping of a remote file of ``size`` bytes; subclasses
    implement ``readinto`` from ``self._pos`` and may react to a seek in
    ``_moved``."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self._size = size
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        target = max(0, base + offset)
        if target != self._pos:
            self._moved()
            self._pos = target
        return self._pos

    def _moved(self) -> None:
        """Called before the position changes by a seek (nothing by default)."""
