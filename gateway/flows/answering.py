"""The post-and-answer loop every declaration flow shares (phase 2): each
spooled declaration that passed every check is posted with its idempotency
key, the portal's rejections and warnings (``P310`` on an accepted one) are placed
in the file, and every declaration, posted or not, is answered in the format's own acknowledgement.

Up to ``window`` posts are in flight at once (each on a thread of its own; the
poster records each answer in the ledger as it arrives), but declarations are
answered strictly in their order in the file, so the acknowledgements are the
same bytes as one post at a time would write. At most ``window`` spooled
declarations are held, whatever the file's size. When a post fails, no further
post starts; the posts already in flight are waited for (and so recorded)
before the first failure, in the file's order, is raised.

A declaration whose transaction number is already in flight (a correction after its
original in the same file, or the same version twice) waits until the posts before it
are answered: the portal decides a transaction's versions in the file's order, as one
post at a time would have it do."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor

from diagnostics import Finding, Location, Severity
from domain import DeclarationOutcome
from gateway.flows.contract import Poster, idempotency_key
from gateway.flows.spool import SpooledDeclaration
from gateway.report import DocumentReport

Locator = Callable[[SpooledDeclaration, str | None], Location]
"""Where a domain pointer of a spooled declaration is in the file (with ``field`` set to the pointer)."""

Answer = Callable[[SpooledDeclaration, DeclarationOutcome | None, list[Finding]], None]
"""Writes the answer to one declaration: its outcome (None: not posted) and the portal's findings
(its errors, and its warnings with ``Severity.WARNING``)."""

_Pending = tuple[SpooledDeclaration, DocumentReport, "Future[DeclarationOutcome] | None"]


def post_and_answer(
    spooled: Iterable[tuple[SpooledDeclaration, DocumentReport]],
    poster: Poster | None,
    locate: Locator,
    answer: Answer,
    window: int = 1,
) -> None:
    if window < 1:
        raise ValueError(f"the window of posts in flight must be at least 1, not {window}")
    with ThreadPoolExecutor(max_workers=window, thread_name_prefix="post") as pool:
        pending: deque[_Pending] = deque()
        try:
            for item, document in spooled:
                future = None
                if item.status is None and item.declaration is not None and poster is not None:
                    key = idempotency_key(item.declaration)
                    if _in_flight(pending, item.declaration.transaction_number):
                        while pending:
                            _answer(pending.popleft(), locate, answer)
                    future = _inline(poster, item, key) if window == 1 else pool.submit(poster, item.declaration, key)
                pending.append((item, document, future))
                if len(pending) >= window:
                    _answer(pending.popleft(), locate, answer)
            while pending:
                _answer(pending.popleft(), locate, answer)
        finally:  # a failure: what has not started never starts; the pool waits for what has
            for _, _, future in pending:
                if future is not None:
                    future.cancel()


def _in_flight(pending: deque[_Pending], transaction_number: str) -> bool:
    """Whether a post of ``transaction_number`` is among the ``pending`` (at most a window's)."""
    return any(
        future is not None
        and item.declaration is not None
        and item.declaration.transaction_number == transaction_number
        for item, _, future in pending
    )


def _inline(poster: Poster, item: SpooledDeclaration, key: str) -> Future[DeclarationOutcome]:
    """One post at a time: posted here, on the flow's own thread, as before posts were in flight."""
    assert item.declaration is not None
    done: Future[DeclarationOutcome] = Future()
    try:
        done.set_result(poster(item.declaration, key))
    except BaseException as error:
        done.set_exception(error)
    return done


def _answer(pending: _Pending, locate: Locator, answer: Answer) -> None:
    item, document, future = pending
    outcome: DeclarationOutcome | None = None
    portal_findings: list[Finding] = []
    if future is not None:
        outcome = future.result()
        portal_findings = placed(item, outcome, locate)
        document.errors.extend(portal_findings)
        document.record_outcome(outcome)
    answer(item, outcome, portal_findings)


def placed(item: SpooledDeclaration, outcome: DeclarationOutcome, locate: Locator) -> list[Finding]:
    """The portal's errors and warnings (``Severity.WARNING``) on a declaration, each at the place
    in the partner's file its pointer names: an immediate answer's, and a pending version's final one."""
    findings = [Finding(e.code, e.message, locate(item, e.pointer)) for e in outcome.errors]
    return findings + [Finding(w.code, w.message, locate(item, w.pointer), Severity.WARNING) for w in outcome.warnings]
