"""Issue 18: checking a file costs the same memory whatever its length.

Measured with tracemalloc, not timing: the live memory Python holds while a
file of N declarations is checked and its JSON report written, against the
same for 4N. It is sampled after a full garbage collection at every read of
the file and every piece of the report written, so that what the interpreter
keeps for reuse (free lists, garbage cycles not yet collected: bounded, but
filling up over the first thousands of messages) does not count. Constant
buffers would hide the growth in files this small, so they are made small:
every temporary spool goes to disk from its first byte
(``SpooledTemporaryFile`` with ``max_size=1``), the file is read 16 KiB at a
time (the readers take 1 MiB or 256 KiB chunks) and the report is written 4 KiB
at a time (64 KiB otherwise). Before the fix a file's
report held about 1.7 KB per declaration until the end, and then the whole
JSON text on top.
"""

from __future__ import annotations

import gc
import io
import json
import re
import tempfile
import tracemalloc
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from diagnostics import Finding, Location
from domain.identifiers import transaction_check_digit
from gateway import document_log
from gateway import report as report_module
from gateway.document_log import DocumentLog
from gateway.finding_budget import FindingBudget
from gateway.flows.dispatch import check_stream
from gateway.report import DocumentReport, DocumentStatus, FileReport
from tests.conftest import FIXTURES

N = 50
GROWTH_BOUND = 64 * 1024
"""Bytes the live peak may grow by from N to 4N declarations: the 180 more
declarations at the old 1.7 KB each would be 300 KB, and their report text
45 KB more. What grows now, per declaration of an interchange: the log's 9
bytes, a handler's 8, the envelope check's message reference (duplicates, about
100 bytes); and the reader's window moves (some 20 KB either way)."""


def _transaction_number(index: int) -> str:
    body = f"1{index:012d}"
    return body + str(transaction_check_digit(body))


def cusdec_file(count: int) -> bytes:
    """One interchange of ``count`` valid CUSDEC messages: those of
    v02_multi_message.edi in turn, each with its own UNH reference and
    transaction number."""
    text = (FIXTURES / "cusdec/valid/v02_multi_message.edi").read_text()
    messages = re.findall(r"UNH\+\d+\+.*?UNT\+\d+\+\d+'\n", text, re.S)
    out = ["UNA:+.? '\nUNB+UNOC:3+BROKER01:ZZZ+CARMGW:ZZZ+250115:0930+IC0001'\n"]
    for number in range(1, count + 1):
        message = messages[number % len(messages)]
        message = re.sub(r"^UNH\+\d+", f"UNH+{number}", message)
        message = re.sub(r"UNT\+(\d+)\+\d+'", rf"UNT+\g<1>+{number}'", message)
        message = re.sub(r"BGM\+929\+\d{14}", f"BGM+929+{_transaction_number(number)}", message)
        out.append(message)
    out.append(f"UNZ+{count}+IC0001'\n")
    return "".join(out).encode()


def cad_in_file(count: int) -> bytes:
    """One CAD-IN file of ``count`` declarations: those of v02_multi_declaration.xml
    in turn, each with its own transaction number."""
    text = (FIXTURES / "xml/valid/v02_multi_declaration.xml").read_text()
    first, last = text.index("  <Declaration>"), text.rindex("</Declaration>\n") + len("</Declaration>\n")
    declarations = re.findall(r"  <Declaration>.*?</Declaration>\n", text[first:last], re.S)
    body = [
        re.sub(r"<ID>\d{14}</ID>", f"<ID>{_transaction_number(n)}</ID>", declarations[n % len(declarations)], count=1)
        for n in range(1, count + 1)
    ]
    return (text[:first] + "".join(body) + text[last:]).encode()


def live_peak(data: bytes) -> tuple[int, FileReport]:
    """The most live memory seen while ``data`` is checked and its JSON report
    written (to a sink that keeps nothing)."""
    samples: list[int] = []
    written = 0

    def sample() -> None:
        gc.collect()
        samples.append(tracemalloc.get_traced_memory()[0])

    def sink(text: str) -> None:
        nonlocal written
        written += len(text)
        sample()  # while the text is held

    tracemalloc.start()
    try:
        report = check_stream(_Trickle(data, sample), "batch")
        sample()
        report.write_json(sink)
    finally:
        tracemalloc.stop()
    assert written > len(report.documents) * 100  # the entries were all written
    return max(samples), report


class _Trickle(io.BytesIO):
    """A file that hands out at most 16 KiB per read, as a socket may, and calls ``before`` first."""

    def __init__(self, data: bytes, before: Callable[[], None]) -> None:
        super().__init__(data)
        self._before = before

    def read(self, size: int | None = -1) -> bytes:
        self._before()
        return super().read(16384 if size is None or size < 0 else min(size, 16384))


@pytest.fixture
def small_buffers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report_module, "_CHUNK", 4096)
    real = tempfile.SpooledTemporaryFile

    def on_disk(*args: Any, **kwargs: Any) -> Any:
        return real(*args, **{**kwargs, "max_size": 1})

    monkeypatch.setattr(tempfile, "SpooledTemporaryFile", on_disk)
    monkeypatch.setattr(document_log, "_BUFFER", 1)  # every settled entry written at once, read back alone


@pytest.mark.parametrize("build", [cusdec_file, cad_in_file], ids=["cusdec", "cad-in"])
@pytest.mark.usefixtures("small_buffers")
def test_checking_four_times_the_declarations_takes_no_more_memory(build: Callable[[int], bytes]) -> None:
    live_peak(build(3))  # imports, caches and reference tables loaded before measuring
    small, report = live_peak(build(N))
    large, large_report = live_peak(build(4 * N))
    assert len(report.documents) == N and len(large_report.documents) == 4 * N
    assert report.accepted and large_report.accepted  # valid declarations, all checked
    assert large - small < GROWTH_BOUND, f"peak {small:,} B for {N} declarations, {large:,} B for {4 * N}"


def test_the_streamed_json_is_the_report_as_one_document() -> None:
    named = ("valid/v07_two_interchanges.edi", "invalid/i09_missing_mandatory.edi", "invalid/i11_unknown_hs.edi")
    files = [(FIXTURES / "cusdec" / name).read_bytes() for name in named]
    # findings in the entries, and one that quotes a value that is not ASCII (escaped or not as asked)
    files.append((FIXTURES / "cusdec/invalid/i07_bad_bn9.edi").read_bytes().replace(b"LOC+22+0497", b"LOC+22+\xc997"))
    for data in (cusdec_file(5), b"", *files):
        report = check_stream(io.BytesIO(data), "file.edi")
        for ensure_ascii in (False, True):
            pieces: list[str] = []
            report.write_json(pieces.append, ensure_ascii=ensure_ascii)
            assert "".join(pieces) == json.dumps(report.to_dict(), indent=2, ensure_ascii=ensure_ascii)
            assert json.loads("".join(pieces))["documents"] == [d.to_dict() for d in report.documents]


def test_input_that_reads_like_the_placeholder_is_written_as_it_is() -> None:
    report = FileReport(file="\x00documents\x00", format="edifact")
    report.documents.append(DocumentReport("\x00documents\x00", "CUSDEC", DocumentStatus.ACCEPTED))
    pieces: list[str] = []
    report.write_json(pieces.append)
    assert json.loads("".join(pieces)) == {
        "file": "\x00documents\x00",
        "format": "edifact",
        "accepted": True,  # no finding, and its one document accepted
        "interchanges": [],
        "documents": [
            {
                "message_ref": "\x00documents\x00",
                "type": "CUSDEC",
                "status": "accepted",
                "reference": None,
                "errors": [],
            }
        ],
        "errors": [],
        "acknowledgements": [],
    }


def _log(budget: FindingBudget) -> DocumentLog[DocumentReport]:
    return DocumentLog(partial(DocumentReport.restored, budget=budget))


def _document(ref: str, status: str = DocumentStatus.ACCEPTED) -> DocumentReport:
    return DocumentReport(ref, "CUSDEC", status)


def test_a_settled_entry_is_read_back_as_it_was_and_changes_only_when_reopened() -> None:
    budget = FindingBudget(limit=2)
    log = _log(budget)
    first = DocumentReport("1", "CUSDEC", DocumentStatus.ACCEPTED, "1" * 19)
    first.errors.budget = budget
    first.errors.extend([Finding("A", "a", Location(segment=1)), Finding("B", "b"), Finding("C", "c")])
    assert log.append(first) == 0 and log.append(_document("2", DocumentStatus.REJECTED)) == 1
    log.settle()
    first.status = "changed after settling"  # the log no longer holds it
    again = log[0]
    assert (again.message_ref, again.status, again.reference) == ("1", DocumentStatus.ACCEPTED, "1" * 19)
    assert [f.code for f in again.errors] == ["A", "B"] and again.errors.found == 3
    assert again.errors.first == Finding("A", "a", Location(segment=1))
    assert budget.listed == 2 and dict(budget.omitted) == {"C": 1}  # reading back admits nothing again

    for document in log.reopened([1]):
        document.status = DocumentStatus.ACCEPTED
        document.errors.append(Finding("D", "d"))  # past the budget of two: counted
    assert (
        log[1].status == DocumentStatus.ACCEPTED
        and log[1].errors.found == 1
        and dict(budget.omitted)
        == {
            "C": 1,
            "D": 1,
        }
    )
    assert log.statuses() == {DocumentStatus.ACCEPTED: 2}


def test_entries_held_by_posts_in_flight_stay_open_until_answered() -> None:
    """With posts in flight an entry is changed up to ``keep - 1`` entries after it was
    taken (post_and_answer's window): those changes must reach the log."""
    log = _log(FindingBudget(limit=10))
    for ref in "12345":
        log.append(_document(ref, DocumentStatus.PENDING))
    log.settle()
    taken: list[DocumentReport] = []
    for document in log.reopened(range(5), keep=3):
        taken.append(document)
        if len(taken) == 3:  # answered two entries late, as a window of three does
            taken.pop(0).status = DocumentStatus.ACCEPTED
    for document in taken:
        document.status = DocumentStatus.REJECTED
    log.settle()
    assert [d.status for d in log] == [DocumentStatus.ACCEPTED] * 3 + [DocumentStatus.REJECTED] * 2
    with pytest.raises(ValueError, match="at least the entry taken last"):
        next(log.reopened(range(1), keep=0))


def test_the_log_reads_as_the_list_it_replaces() -> None:
    log = _log(FindingBudget())
    entries = [_document(str(n), DocumentStatus.REJECTED if n % 3 else DocumentStatus.ACCEPTED) for n in range(7)]
    log.extend(entries[:4])
    log.settle()
    log.extend(entries[4:])  # three not settled
    assert log == entries and len(log) == 7 and bool(log) and not _log(FindingBudget())
    assert log[-1] == entries[6] and log[2:5] == entries[2:5] and log[-2:] == entries[-2:]
    assert log.statuses() == {DocumentStatus.ACCEPTED: 3, DocumentStatus.REJECTED: 4}
    with pytest.raises(IndexError):
        log[7]


@pytest.mark.parametrize("buffer", [1, 200, 1 << 16])
def test_entries_read_back_from_the_buffer_and_the_file_as_they_were_settled_last(
    monkeypatch: pytest.MonkeyPatch, buffer: int
) -> None:
    """Whatever the size of the log's buffer: entries written in pieces, some larger than
    a piece, some settled again after a change, read back in any order."""
    monkeypatch.setattr(document_log, "_BUFFER", buffer)
    monkeypatch.setattr(document_log, "_MEMORY", 300)  # the file moves to disk after a few pieces
    log = _log(FindingBudget(limit=1000))
    entries = [_document(str(n) * (1 + n % 50) * (100 if n % 17 == 0 else 1)) for n in range(60)]
    for entry in entries:
        log.append(entry)
        entry.errors.extend(Finding(str(k), "x" * k) for k in range(entry.message_ref.count("3")))
        log.settle()
    for document in log.reopened(range(0, 60, 7)):
        document.status = DocumentStatus.REJECTED
    expected = [
        (e.message_ref, [f.code for f in e.errors], DocumentStatus.REJECTED if n % 7 == 0 else e.status)
        for n, e in enumerate(entries)
    ]
    read = [(d.message_ref, [f.code for f in d.errors], d.status) for d in log]
    assert read == expected
    anyhow = (59, 0, 34, 1, 58)
    assert [(log[n].message_ref, log[n].status) for n in anyhow] == [expected[n][::2] for n in anyhow]


def test_a_report_spills_its_entries_to_disk(tmp_path: Path) -> None:
    """A CUSDEC file's entries leave memory as they are checked: the report
    holds none of them once checking is over."""
    report = check_stream(io.BytesIO(cusdec_file(5)), "five.edi")
    assert len(report.documents) == 5 and not report.documents._open


def test_a_log_refuses_a_257th_distinct_status() -> None:
    log = _log(FindingBudget())
    for n in range(256):
        log.append(_document(str(n), f"status-{n}"))
    with pytest.raises(ValueError, match=r"status-256.*at most 256 distinct statuses"):
        log.append(_document("256", "status-256"))
