"""What a run did, told truthfully: one log line per file at its level, the per-file XCom
(outcome word, errors apart from warnings), the run's summary (outcome words counted, per
partner inbox) and its note (the same in one line), and the verdict: the causes that make
the run fail once every partner has been served (an inbox that could not be listed, a
batch that failed, parked files, files failed by an internal error). Quarantines and rejections are business outcomes:
counted, logged at WARNING, never a failed run.

Nothing here quotes a credential or a whole document: a file's line names its partner,
name, ledger id, outcome word and its first finding's code and location; the XCom quotes
at most three findings of each severity."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from diagnostics import Finding
from gateway.flows.refusal import INTERNAL
from gateway.pipeline import ProcessedFile
from gateway.report import FileReport
from gateway.stored_report import stored_summary
from ledger import Ledger
from ledger.outcomes import ACCEPTED, FAILED, IN_PROGRESS, PENDING, WORDS, outcome_word
from ledger.store import FileState

files_log = logging.getLogger("carm_edi.files")
summary_log = logging.getLogger("carm_edi.summary")

QUOTED = 3
"""Findings of each severity a file's XCom quotes (the partner's report.json has them all)."""

IDLE_LABEL = "no files waiting"
"""The label of the one batch of a run that found nothing to do: its task succeeds doing
nothing, so an idle run is green, not a row of skipped tasks."""


def idle_batch() -> dict[str, Any]:
    return {"partner": "", "files": [], "label": IDLE_LABEL}


def is_idle(batch: Mapping[str, Any]) -> bool:
    return not batch.get("files") and not batch.get("resume") and "unlisted" not in batch


def unlisted_batch(partner: str, why: str) -> dict[str, Any]:
    """The batch of a partner whose inbox could not be listed: its task fails saying why
    (``InboxUnlisted``), a red task named after the partner, the others served."""
    return {"partner": partner, "files": [], "unlisted": why, "label": f"{partner}: inbox not listed"}


class InboxUnlisted(Exception):
    """A partner's inbox could not be listed (its channel down, its connection missing)."""


def findings(report: Any) -> list[dict[str, str]]:
    """``{code, severity, where, message}`` of a report's findings, errors before warnings
    (a fresh ``FileReport`` or the ``StoredReport`` of an earlier attempt)."""
    if isinstance(report, FileReport):
        return [_finding(f) for f in report.all_errors()]
    return list(report.findings())


def _finding(f: Finding) -> dict[str, str]:
    return {"code": f.code, "severity": f.severity.value, "where": f.location.describe(), "message": f.message}


def _quote(f: Mapping[str, str]) -> str:
    where = f" {f['where']}:" if f.get("where") else ""
    return f"[{f.get('code', '')}]{where} {f.get('message', '')}"


def file_summary(processed: ProcessedFile, word: str | None = None) -> dict[str, Any]:
    """One file as the run's XCom carries it: its outcome word (``word``, the ledger's
    ``files.result``; derived from the state when not given), counts, the first errors and,
    apart, the first warnings."""
    report = processed.report
    documents = report.documents
    found = findings(report)
    errors = [f for f in found if f["severity"] != "warning"]
    warnings = [f for f in found if f["severity"] == "warning"]
    return {
        "name": processed.name,
        "ledger_id": processed.file_id,
        "outcome": word or _word_of(processed),
        "state": processed.state,
        "format": report.format,
        "accepted": report.accepted,
        "documents": len(documents),
        "documents_accepted": sum(1 for d in documents if d.status == "accepted"),
        "errors": [_quote(f) for f in errors[:QUOTED]],
        "warnings": [_quote(f) for f in warnings[:QUOTED]],
        "first_error": {k: errors[0][k] for k in ("code", "where")} if errors else None,
        "acknowledgements": report.acknowledgements,
    }


def _word_of(processed: ProcessedFile) -> str:
    """The outcome word from what processing returned, as ``ledger.outcomes`` derives it from
    the ledger (for callers that did not read the ledger's ``files.result``)."""
    report = processed.report
    summary = stored_summary(report) if isinstance(report, FileReport) else report.to_dict()
    duplicate = processed.state == FileState.QUARANTINED and any(f["code"] == "DUP" for f in findings(report))
    return outcome_word(
        state=processed.state, accepted=report.accepted, duplicate_of=0 if duplicate else None, summary=summary
    )


def summarize_files(ledger: Ledger, processed: Iterable[ProcessedFile]) -> list[dict[str, Any]]:
    """Each processed file's XCom entry, its outcome word read from the ledger."""
    entries = []
    for item in processed:
        record = ledger.find_file(item.file_id) if item.file_id is not None else None
        entries.append(file_summary(item, record.result if record is not None else None))
    return entries


def log_file(partner: str, entry: Mapping[str, Any]) -> None:
    """One line per file at its level: INFO accepted (or pending), WARNING rejected,
    refused, duplicate or parked, ERROR failed (or an internal error to be retried)."""
    word = entry["outcome"]
    first: Mapping[str, str] | None = entry.get("first_error")
    internal = first is not None and first.get("code") == INTERNAL
    if word == FAILED or internal:
        level = logging.ERROR
    elif word in (ACCEPTED, PENDING) or (word == IN_PROGRESS and not first):
        level = logging.INFO
    else:
        level = logging.WARNING
    where = f" at {first['where']}" if first and first.get("where") else ""
    finding = f"; first error [{first['code']}]{where}" if first else ""
    files_log.log(
        level,
        "%s/%s: ledger file %s: %s, %d/%d documents accepted%s",
        partner, entry["name"], entry.get("ledger_id"), word, entry["documents_accepted"], entry["documents"], finding,
    )  # fmt: skip


def summarize(results: Sequence[Mapping[str, Any]], plan: Sequence[Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """The run: files, their outcome words counted, documents; per partner inbox the same
    counts; and what the verdict needs: parked, failed and released files, the batches
    that ended without a result (their planned files named) and the inboxes that could
    not be listed (``plan``: the planner's batches)."""
    files = [(batch.get("partner", ""), f) for batch in results for f in batch["files"]]
    words = Counter(f["outcome"] for _, f in files)
    summary: dict[str, Any] = {
        "files": len(files),
        **{word: count for word, count in sorted(words.items())},
        "documents": sum(f["documents"] for _, f in files),
        "documents_accepted": sum(f["documents_accepted"] for _, f in files),
    }
    inboxes: dict[str, dict[str, int]] = {}
    for partner, f in files:
        counts = inboxes.setdefault(partner, {"files": 0, "documents": 0, "documents_accepted": 0})
        counts["files"] += 1
        counts[f["outcome"]] = counts.get(f["outcome"], 0) + 1
        counts["documents"] += f["documents"]
        counts["documents_accepted"] += f["documents_accepted"]
    if inboxes:
        summary["inboxes"] = inboxes
    for key, state in (("parked", FileState.PARKED), ("failed", FileState.FAILED), ("released", FileState.RELEASED)):
        names = [f"{partner}/{f['name']}" if partner else f["name"] for partner, f in files if f["state"] == state]
        if names:
            summary[f"{key}_files"] = names
    if plan is not None:
        done = {batch["label"] for batch in results}
        lost = [b for b in plan if b["label"] not in done and "unlisted" not in b]
        unlisted = {b["partner"]: b["unlisted"] for b in plan if "unlisted" in b}
        if lost:  # a batch task failed: its files are named from the plan, the others' results stand
            summary["failed_batches"] = [
                {"label": b["label"], "partner": b["partner"], "files": list(b.get("files") or []),
                 "resume": list(b.get("resume") or [])}
                for b in lost
            ]  # fmt: skip
        if unlisted:
            summary["unlisted_partners"] = unlisted
    return summary


def log_summary(summary: Mapping[str, Any]) -> None:
    counted = ", ".join(f"{summary[w]} {w}" for w in _words(summary)) or "nothing"
    summary_log.info(
        "%d files: %s; %d/%d documents accepted",
        summary["files"], counted, summary["documents_accepted"], summary["documents"],
    )  # fmt: skip
    for partner, counts in sorted((summary.get("inboxes") or {}).items()):
        level = logging.INFO if all(w in (ACCEPTED, PENDING) for w in _words(counts)) else logging.WARNING
        summary_log.log(level, "inbox %s: %s", partner, ", ".join(f"{counts[w]} {w}" for w in _words(counts)))


def _words(counts: Mapping[str, Any]) -> list[str]:
    return [w for w in WORDS if counts.get(w)]


NOTE_LIMIT = 1000
"""The longest run note Airflow stores (``dag_run_note.content`` is a ``String(1000)``)."""


def run_note(summary: Mapping[str, Any] | None, limit: int = NOTE_LIMIT) -> str:
    """The run's note: per partner inbox its files counted by outcome word, e.g.
    ``broker01: 12 files — 9 accepted, 2 rejected, 1 refused``; then the inboxes that could
    not be listed and the batches that failed (their files are not counted). At most
    ``limit`` characters: the parts that do not fit are counted, not dropped silently.
    Only partner ids, words, numbers and batch labels: no finding, name or credential."""
    if summary is None:
        return "no summary: the summary task failed (see its log)"
    parts = []
    for partner, counts in sorted((summary.get("inboxes") or {}).items()):
        words = ", ".join(f"{counts[w]} {w}" for w in _words(counts))
        parts.append(f"{partner}: {_files(counts['files'])} — {words}")
    parts += [f"{partner}: inbox not listed" for partner in sorted(summary.get("unlisted_partners") or {})]
    parts += [f"{batch['label']}: batch failed" for batch in summary.get("failed_batches") or []]
    if not parts:
        return "no files"
    return _bounded(parts, limit)


def _files(count: int) -> str:
    return "1 file" if count == 1 else f"{count} files"


def _bounded(parts: Sequence[str], limit: int) -> str:
    """``parts`` joined by "; ", as many as fit in ``limit`` with "… N more" for the rest."""
    note = "; ".join(parts)
    if len(note) <= limit:
        return note
    kept: list[str] = []
    for part in parts:  # a part is kept when it fits with the count of those after it
        if len("; ".join([*kept, part, f"… {len(parts) - len(kept) - 1} more"])) > limit:
            break
        kept.append(part)
    return "; ".join([*kept, f"… {len(parts) - len(kept)} more"])


def causes(summary: Mapping[str, Any] | None) -> list[str]:
    """Why the run must end failed (empty: it succeeded), one sentence per cause."""
    if summary is None:
        return ["the run's summary is missing: its task failed (see its log)"]
    found = []
    for partner, why in sorted((summary.get("unlisted_partners") or {}).items()):
        found.append(f"partner {partner}: its inbox could not be listed ({why}); its files wait for the next run")
    for batch in summary.get("failed_batches") or []:
        named = [*batch["files"], *(f"ledger file {i}" for i in batch["resume"])]
        found.append(f"batch {batch['label']!r} failed (see its log); its files: {', '.join(named) or 'none'}")
    if summary.get("parked_files"):
        found.append(
            f"{len(summary['parked_files'])} files parked, the portal unavailable: {', '.join(summary['parked_files'])}"
        )
    if summary.get("failed_files"):
        found.append(
            f"{len(summary['failed_files'])} files failed (internal error; quarantined, answered): "
            + ", ".join(summary["failed_files"])
        )
    return found


class RunFailed(Exception):
    """The run served every partner it could, but something needs an operator."""
