"""Fault injection for the fault-matrix tests (docs/reliability.md): test
support, never imported by the gateway. The tools:

* ``FaultyTransport(inner)``: any ``Transport`` with faults on chosen calls:
  ``fail(op, error, nth=...)`` raises on the nth call of ``op`` (claim, open,
  write_outbox, archive, quarantine, release); ``cut_read(after, ...)`` and
  ``cut_write(after, ...)`` let a download or an upload move ``after`` bytes,
  then run ``on_cut`` (e.g. close the real SSH session) and raise, as a dropped
  connection does.
* ``FaultyPoster(poster)``: the portal poster failing for chosen declarations.
* ``kill_at(point, nth)``: a checkpoint hook (``Pipeline(checkpoint=...)``,
  ``service.open_pipeline(checkpoint=...)``) that SIGKILLs the process the nth
  time the pipeline passes ``point`` ("moved", "recorded", "posted",
  "acknowledged", "archived"); ``kill_spec("posted:2")`` reads one from text.
* ``kill_dag_pipelines_at(spec)``: for a child process running the Airflow DAG,
  whose tasks open their pipelines themselves.
* ``FaultyHTTPTransport``: under the portal client, failing chosen requests.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from gateway.pipeline import Checkpoint
from transports.base import ClaimedFile, InboundFile, Transport

_COUNTING = threading.Lock()
"""Guards the counters of the fault hooks, which posts in flight call from several threads."""


class InjectedFault(ConnectionError):
    """A failure made by fault injection (a connection error, as far as callers can tell)."""


@dataclass
class _Fault:
    op: str
    nth: set[int] | None  # None: every call
    error: BaseException | Callable[[], BaseException]


@dataclass
class _Cut:
    after: int
    nth: set[int] | None
    on_cut: Callable[[], None] | None
    error: BaseException | Callable[[], BaseException]


def _error(error: BaseException | Callable[[], BaseException]) -> BaseException:
    return error if isinstance(error, BaseException) else error()


def _nths(nth: int | set[int] | None) -> set[int] | None:
    return {nth} if isinstance(nth, int) else nth


def _cut(
    after: int,
    nth: int | set[int] | None,
    on_cut: Callable[[], None] | None,
    error: BaseException | Callable[[], BaseException] | None,
    done: str,
) -> _Cut:
    """A connection that drops after ``after`` bytes ``done`` (read or written)."""
    return _Cut(after, _nths(nth), on_cut, error or InjectedFault(f"connection dropped after {after} bytes {done}"))


class _CutReader(io.RawIOBase):
    def __init__(self, inner: BinaryIO, cut: _Cut) -> None:
        super().__init__()
        self._inner = inner
        self._cut = cut
        self._count = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._inner.seek(offset, whence)

    def tell(self) -> int:
        return self._inner.tell()

    def readinto(self, buffer: Any) -> int:
        left = self._cut.after - self._count
        if left <= 0:
            if self._cut.on_cut is not None:
                self._cut.on_cut()
            raise _error(self._cut.error)
        data = self._inner.read(min(len(buffer), left))
        buffer[: len(data)] = data
        self._count += len(data)
        return len(data)

    def close(self) -> None:
        with contextlib.suppress(Exception):  # the cut connection may fail to close: the fault is the point
            self._inner.close()
        super().close()


class _CutWriter:
    def __init__(self, inner: BinaryIO, cut: _Cut) -> None:
        self._inner = inner
        self._cut = cut
        self._count = 0

    def write(self, data: bytes) -> int:
        left = self._cut.after - self._count
        if len(data) > left:
            if left > 0:
                self._inner.write(data[:left])
                self._count += left
            if self._cut.on_cut is not None:
                self._cut.on_cut()
            raise _error(self._cut.error)
        self._count += len(data)
        return self._inner.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class FaultyTransport:
    """``inner`` with injected faults; every call is counted in ``calls``."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()
        self._faults: list[_Fault] = []
        self._reads: list[_Cut] = []
        self._writes: list[_Cut] = []

    # configuration -------------------------------------------------------------------
    def fail(
        self, op: str, error: BaseException | Callable[[], BaseException] | None = None, nth: int | set[int] | None = 1
    ) -> FaultyTransport:
        self._faults.append(_Fault(op, _nths(nth), error or InjectedFault(f"injected failure of {op}")))
        return self

    def cut_read(
        self,
        after: int,
        nth: int | set[int] | None = 1,
        on_cut: Callable[[], None] | None = None,
        error: BaseException | Callable[[], BaseException] | None = None,
    ) -> FaultyTransport:
        self._reads.append(_cut(after, nth, on_cut, error, "read"))
        return self

    def cut_write(
        self,
        after: int,
        nth: int | set[int] | None = 1,
        on_cut: Callable[[], None] | None = None,
        error: BaseException | Callable[[], BaseException] | None = None,
    ) -> FaultyTransport:
        self._writes.append(_cut(after, nth, on_cut, error, "written"))
        return self

    def clear(self) -> None:
        self._faults.clear()
        self._reads.clear()
        self._writes.clear()

    def _hit(self, op: str) -> int:
        self.calls[op] += 1
        number = self.calls[op]
        for fault in self._faults:
            if fault.op == op and (fault.nth is None or number in fault.nth):
                raise _error(fault.error)
        return number

    # the Transport protocol ----------------------------------------------------------
    def __getattr__(self, name: str) -> Any:  # describe, area, client, channels ...
        return getattr(self.inner, name)

    def partners(self) -> list[str]:
        return self.inner.partners()

    def list_inbox(self, partner: str) -> list[InboundFile]:
        self._hit("list_inbox")
        return self.inner.list_inbox(partner)

    def claim(self, inbound: InboundFile, claim_id: str | None = None) -> ClaimedFile | None:
        self._hit("claim")
        return self.inner.claim(inbound, claim_id)

    def reclaim(self, inbound: InboundFile, claim_id: str) -> ClaimedFile | None:
        return self.inner.reclaim(inbound, claim_id)

    def open(self, claimed: ClaimedFile) -> BinaryIO:
        number = self._hit("open")
        stream = self.inner.open(claimed)
        for cut in self._reads:
            if cut.nth is None or number in cut.nth:
                return io.BufferedReader(_CutReader(stream, cut), buffer_size=256)  # type: ignore[return-value]  # a reader that cuts: the BinaryIO part the pipeline reads
        return stream

    @contextmanager
    def write_outbox(self, partner: str, name: str) -> Iterator[BinaryIO]:
        number = self._hit("write_outbox")
        with self.inner.write_outbox(partner, name) as stream:
            for cut in self._writes:
                if cut.nth is None or number in cut.nth:
                    yield _CutWriter(stream, cut)  # type: ignore[misc]  # a writer that cuts: the BinaryIO part the sink writes
                    return
            yield stream

    def sweep_temporaries(self, partner: str, older_than: float) -> list[str]:
        return self.inner.sweep_temporaries(partner, older_than)

    def archive(self, claimed: ClaimedFile) -> str:
        self._hit("archive")
        return self.inner.archive(claimed)

    def quarantine(self, claimed: ClaimedFile, reason: str) -> str:
        self._hit("quarantine")
        return self.inner.quarantine(claimed, reason)

    def release(self, claimed: ClaimedFile) -> None:
        self._hit("release")
        self.inner.release(claimed)


@dataclass
class FaultyPoster:
    """The portal poster (``PortalClient.submit_declaration``) failing for chosen
    declarations (``failures``: transaction number → error), not for the nth call:
    with posts in flight the calls come in no fixed order. ``calls`` counts them."""

    poster: Callable[..., Any]
    failures: dict[str, BaseException] = field(default_factory=dict)
    calls: int = 0

    def __call__(self, declaration: Any, key: str) -> Any:
        with _COUNTING:  # posts may be in flight on several threads
            self.calls += 1
        error = self.failures.get(declaration.transaction_number)
        if error is not None:
            raise error
        return self.poster(declaration, key)


def kill_at(point: str, nth: int = 1) -> Checkpoint:
    """A checkpoint hook: SIGKILL this process the ``nth`` time ``point`` is passed."""
    seen: Counter[str] = Counter()

    def checkpoint(name: str) -> None:
        with _COUNTING:  # passed on several threads when posts or files are in flight
            seen[name] += 1
            due = name == point and seen[name] == nth
        if due:
            os.kill(os.getpid(), signal.SIGKILL)

    return checkpoint


def kill_spec(spec: str) -> Checkpoint:
    """``"posted:2"``: SIGKILL at the second post (``point[:nth]``, nth 1 by default)."""
    point, _, nth = spec.partition(":")
    return kill_at(point, int(nth or 1))


def kill_dag_pipelines_at(spec: str) -> None:
    """Every pipeline the DAG's tasks open in this process (``service.open_pipeline``)
    gets one ``kill_spec(spec)`` hook: a DAG task takes no hook of its own, so this
    wraps the entry point it calls (child processes of tests only)."""
    from gateway import service

    checkpoint = kill_spec(spec)
    open_pipeline = service.open_pipeline

    def open_killing_pipeline(settings: Any, task: str | None = None) -> Any:
        return open_pipeline(settings, task, checkpoint)

    service.open_pipeline = open_killing_pipeline  # type: ignore[assignment]  # test support: see the docstring


class FaultyHTTPTransport:
    """An httpx transport in front of the real one (``PortalClient._http``), failing
    chosen requests. ``plan(number, request)`` names what happens to the nth
    matching request (``match``: by default the declaration posts):

    * ``None``: passed through;
    * ``"500"``: answered 500 by the "portal" without reaching it;
    * ``"down"``: connection refused, nothing sent;
    * ``"timeout"``: sent and processed by the portal, then the answer is lost (read timeout);
    * ``"reset"``: sent and processed, then the connection is reset mid-response.
    """

    def __init__(
        self, inner: Any, plan: Callable[[int, Any], str | None], match: Callable[[Any], bool] | None = None
    ) -> None:
        self.inner = inner
        self.plan = plan
        self.match = match or (lambda request: request.method == "POST" and request.url.path.endswith("/declarations"))
        self.calls = 0  # matching requests seen
        self.forwarded = 0  # requests that reached the portal
        self.faults: Counter[str] = Counter()

    @classmethod
    def install(
        cls, client: Any, plan: Callable[[int, Any], str | None], match: Callable[[Any], bool] | None = None
    ) -> FaultyHTTPTransport:
        """Put the fault layer under a ``PortalClient``."""
        faulty = cls(client._http._transport, plan, match)
        client._http._transport = faulty
        return faulty

    def handle_request(self, request: Any) -> Any:
        import httpx

        action = None
        if self.match(request):
            with _COUNTING:  # posts may be in flight on several threads
                self.calls += 1
                action = self.plan(self.calls, request)
        if action is not None:
            with _COUNTING:
                self.faults[action] += 1
        if action == "500":
            return httpx.Response(500, json={"errors": [{"code": "P500", "message": "injected"}]}, request=request)
        if action == "down":
            raise httpx.ConnectError("[Errno 111] Connection refused (injected)", request=request)
        response = self.inner.handle_request(request)
        with _COUNTING:
            self.forwarded += 1
        if action in ("timeout", "reset"):
            response.read()  # the portal has answered (and recorded the post) ...
            response.close()
            if action == "timeout":  # ... but the answer never arrives
                raise httpx.ReadTimeout("timed out (injected, after the portal answered)", request=request)
            raise httpx.RemoteProtocolError(
                "peer closed connection without sending complete message body (injected)", request=request
            )
        return response

    def close(self) -> None:
        self.inner.close()
