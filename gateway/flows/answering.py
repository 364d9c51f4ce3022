"""The post-and-answer loop every declaration flow shares (phase 2): each
spooled declaration that passed every check is posted with its idempotency
key, the portal's rejections and warnings (``P310`` on an accepted one) are placed
in the file, and every declaration, posted or not, is answered in the format's own
acknowledgement."""

from __future__ import annotations

from collections.abc import Callable, Iterable

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


def post_and_answer(
    spooled: Iterable[tuple[SpooledDeclaration, DocumentReport]], poster: Poster | None, locate: Locator, answer: Answer
) -> None:
    for item, document in spooled:
        outcome: DeclarationOutcome | None = None
        portal_findings: list[Finding] = []
        if item.status is None and item.declaration is not None and poster is not None:
            outcome = poster(item.declaration, idempotency_key(item.declaration))
            portal_findings = [Finding(e.code, e.message, locate(item, e.pointer)) for e in outcome.errors]
            portal_findings += [
                Finding(w.code, w.message, locate(item, w.pointer), Severity.WARNING) for w in outcome.warnings
            ]
            document.errors.extend(portal_findings)
            document.record_outcome(outcome)
        answer(item, outcome, portal_findings)
