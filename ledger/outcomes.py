"""A file's outcome in words, from the ledger's facts: what an operator (and the partner)
would say became of it. ``files.state`` says where the bytes are (archived, quarantined,
parked...), ``files.outcome`` where the file was filed (archive or quarantine); neither
tells a file whose every declaration the portal rejected (archived: its interchange was
sound) from one that was accepted. The word is derived here and kept in ``files.result``
(revision 0006), set on every state move (``Ledger._move``).

The words, checked in this order:

* ``failed``: internal error ("failed: internal error", the poison-file outcome);
* ``parked``: the portal was unavailable; the file waits in processing/;
* ``duplicate``: the same content was already delivered (that delivery answers it);
* ``in progress``: not filed away yet (claimed, released for a retry...);
* ``refused``: refused unread (too large, an unsafe name): nothing in it was read;
* ``accepted``: everything in it was accepted (warnings may travel with it);
* ``pending``: nothing rejected, but a declaration's answer is not final yet (CARM 200/42);
* ``partly rejected``: something accepted (or pending) and something rejected;
* ``rejected``: nothing in it accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

FAILED = "failed"
PARKED = "parked"
DUPLICATE = "duplicate"
IN_PROGRESS = "in progress"
REFUSED = "refused"
ACCEPTED = "accepted"
PENDING = "pending"
PARTLY_REJECTED = "partly rejected"
REJECTED = "rejected"

WORDS = (ACCEPTED, PARTLY_REJECTED, REJECTED, REFUSED, DUPLICATE, PENDING, PARKED, FAILED, IN_PROGRESS)
"""Every outcome word, in the order the page's filter lists them."""

PROBLEMS = (PARTLY_REJECTED, REJECTED, REFUSED, DUPLICATE, PARKED, FAILED)
"""The words an operator is shown as a problem (a warning or an error in the logs)."""

REFUSAL_CODES = frozenset({"SIZE", "NAME"})
"""Finding codes of a file refused without being read (gateway.pipeline ``_refusal``)."""

_ACCEPTED_STATUSES = frozenset({"accepted", "received", "40"})
_PENDING_STATUSES = frozenset({"pending", "200", "42"})


def outcome_word(
    *,
    state: str,
    accepted: bool | None,
    duplicate_of: int | None,
    summary: Mapping[str, Any] | None,
) -> str:
    """The outcome word of a file with these ledger facts (``summary``: the stored report,
    ``gateway.stored_report.stored_summary``: its document statuses, interchange counts
    and first findings)."""
    if state == "failed":
        return FAILED
    if state == "parked":
        return PARKED
    if duplicate_of is not None and state == "quarantined":
        return DUPLICATE
    if state not in ("archived", "quarantined"):
        return IN_PROGRESS
    data = summary or {}
    findings = [f for f in data.get("errors") or [] if isinstance(f, Mapping)]
    interchanges = data.get("interchanges")
    read_nothing = not interchanges or (isinstance(interchanges, Mapping) and not interchanges.get("count"))
    if read_nothing and findings and findings[0].get("code") in REFUSAL_CODES:
        return REFUSED
    if accepted:
        return ACCEPTED
    taken, pending, refused = _document_counts(data.get("documents"))
    rejected_interchanges = 0
    if isinstance(interchanges, Mapping):
        rejected_interchanges = int(interchanges.get("count", 0)) - int(interchanges.get("accepted", 0))
    if taken + pending == 0:
        return REJECTED
    if refused or rejected_interchanges:
        return PARTLY_REJECTED
    if pending:
        return PENDING
    # nothing counted rejected, yet the file is not accepted: a finding of the file's own (an error outside
    # any interchange or document) refused a part of it
    return PARTLY_REJECTED


def _document_counts(documents: Any) -> tuple[int, int, int]:
    """(accepted, pending, rejected) documents of a stored summary (format 3: statuses; older: a list)."""
    statuses: dict[str, int] = {}
    if isinstance(documents, Mapping):
        statuses = {str(k): int(v) for k, v in (documents.get("statuses") or {}).items()}
    elif isinstance(documents, list):
        for document in documents:
            status = str(document.get("status")) if isinstance(document, Mapping) else ""
            statuses[status] = statuses.get(status, 0) + 1
    taken = sum(n for s, n in statuses.items() if s in _ACCEPTED_STATUSES)
    pending = sum(n for s, n in statuses.items() if s in _PENDING_STATUSES)
    return taken, pending, sum(statuses.values()) - taken - pending
