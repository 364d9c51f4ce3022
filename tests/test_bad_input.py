"""Bad input stays small (issue 15): a file's report lists its first 1,000
findings in full and counts the rest per code, without storing them; the
acknowledgements still reject what has errors; the ledger keeps a bounded
summary; a file with no readable document answers with a small report; a 50 MB
random file peaks under 128 MiB; the size limit and the failed-attempt limit
have per-partner overrides, and an oversized file is refused unread."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any, BinaryIO, cast

import pytest

from diagnostics import Finding, Location
from gateway import pipeline as pipeline_module
from gateway.finding_budget import LISTED_FINDINGS
from gateway.flows.contract import FlowOptions
from gateway.flows.dispatch import OFFLINE_RULES, check_stream
from gateway.partners import PartnerRegistry, parse_registry
from gateway.pipeline import Pipeline, ProcessedFile
from gateway.report import DocumentReport, DocumentStatus, FileReport, InterchangeReport
from gateway.settings import Settings
from gateway.stored_report import SUMMARY_BYTES, StoredReport, stored_summary
from ledger import Ledger
from tests.ack_reader import ack_path, read_contrls
from tests.xml_helpers import MemorySink
from transports.base import ClaimedFile
from transports.local import LocalFolderTransport

ROOT = Path(__file__).resolve().parents[1]
BENCHMARK = ROOT / "benchmarks" / "bad_input.py"
FIXTURES = ROOT / "fixtures" / "cusdec"
UNB = b"UNA:+.? '\nUNB+UNOC:3+BROKER01:ZZZ+CARMGW:ZZZ+250115:0930+BUDGET1'\n"
SMALL = 64 * 1024
MiB = 1024 * 1024


def _message(fixture: str, reference: int) -> bytes:
    """UNH..UNT of a one-message fixture under another message reference."""
    lines = (FIXTURES / fixture).read_bytes().split(b"\n")
    body = b"\n".join(line for line in lines if line[:3] not in (b"UNA", b"UNB", b"UNZ", b"")) + b"\n"
    body = body.replace(b"UNH+1+", b"UNH+%d+" % reference)
    return re.sub(rb"UNT\+(\d+)\+1'", rb"UNT+\1+%d'" % reference, body)


def _check(data: bytes, name: str) -> tuple[FileReport, MemorySink]:
    """``carm-edi check`` with the CONTRL kept; filed on v01's release day (no late-filing warning)."""
    sink = MemorySink()
    rules = dataclasses.replace(OFFLINE_RULES, today=dt.date(2025, 1, 15))
    report = check_stream(io.BytesIO(data), name, FlowOptions(rules_context=rules, sink=sink))
    return report, sink


def _listed(report: FileReport) -> int:
    return (
        len(report.errors)
        + sum(len(i.errors) for i in report.interchanges)
        + sum(len(d.errors) for d in report.documents)
    )


def _budget_file() -> bytes:
    """1,000 messages of an unsupported type (one finding 17 each), then a
    CUSDEC missing two mandatory segments (i09: DTM+271 and LOC+27, two
    findings 13), then a valid CUSDEC: 1,002 findings, the last two past the budget."""
    unsupported = b"".join(b"UNH+%d+FOO:D:96B:UN'BGM+1'UNT+3+%d'\n" % (k, k) for k in range(1, 1001))
    messages = unsupported + _message("invalid/i09_missing_mandatory.edi", 1001)
    messages += _message("valid/v01_single.edi", 1002)
    return UNB + messages + b"UNZ+1002+BUDGET1'\n"


def test_the_first_1000_findings_are_listed_the_rest_counted_and_verdicts_stay_right() -> None:
    report, sink = _check(_budget_file(), "budget.edi")
    data = report.to_dict()
    assert data["findings_omitted"] == {"13": 2}
    note = "1,002 findings: the first 1,000 are listed in full, 2 more are only counted per code (13: 2)"
    assert data["findings_note"] == note
    assert _listed(report) == LISTED_FINDINGS == 1000
    assert Counter(f.code for f in report.all_errors()) == {"17": 1000}
    invalid, valid = report.documents[-2:]
    assert (invalid.message_ref, invalid.status, list(invalid.errors), invalid.errors.found) == (
        "1001",
        DocumentStatus.REJECTED,
        [],
        2,
    )  # rejected though none of its findings is listed
    assert (valid.message_ref, valid.status) == ("1002", DocumentStatus.ACCEPTED)
    [contrl] = read_contrls(sink.files["budget.edi.contrl.edi"])
    actions = {m["ref"]: m["action"] for m in contrl["messages"]}
    assert (actions["1000"], actions["1001"], actions["1002"]) == ("4", "4", "7")
    assert contrl["uci"]["action"] == "7"  # the interchange itself is sound


def test_a_message_of_bad_segments_lists_what_the_budget_leaves_in_report_and_contrl() -> None:
    """600 messages of an unsupported type (17 each), then one of 1,500 segments
    with a character outside UNOA (21 each, then its 17): 600 + 400 listed; the
    CONTRL's UCM for it has the 400 listed segment errors, not 1,500."""
    data = b"UNB+UNOA:3+BROKER01:ZZZ+CARMGW:ZZZ+250115:0930+BUDGET2'"
    data += b"".join(b"UNH+%d+FOO:D:96B:UN'BGM+1'UNT+3+%d'" % (k, k) for k in range(1, 601))
    data += b"UNH+601+FOO:D:96B:UN'" + b"BGM+x'" * 1500 + b"UNT+1502+601'UNZ+601+BUDGET2'"
    report, sink = _check(data, "two.edi")
    assert report.to_dict()["findings_omitted"] == {"21": 1100, "17": 1}
    document = report.documents[-1]
    assert (len(document.errors), document.errors.found) == (400, 1501)
    assert {f.code for f in document.errors} == {"21"}
    [contrl] = read_contrls(sink.files["two.edi.contrl.edi"])
    message = contrl["messages"][-1]
    assert (message["ref"], message["action"], len(message["segments"])) == ("601", "4", 400)


def test_a_run_of_segments_outside_any_message_is_one_finding_after_its_first() -> None:
    data = UNB + b"FOO+1'\n" * 1000 + _message("valid/v01_single.edi", 1) + b"BAR'BAZ'UNZ+1+BUDGET1'\n"
    report, _ = _check(data, "strays.edi")
    [interchange] = report.interchanges
    assert [(f.code, f.location.segment, f.message) for f in interchange.errors] == [
        ("15", 2, "segment FOO is not supported in this position: outside any message"),
        ("15", 3, "999 more segments (segments 3 to 1001) are not supported in this position: "
         "outside any message; they were skipped"),
        ("15", 1030, "segment BAR is not supported in this position: outside any message"),
        ("15", 1031, "1 more segment (segment 1031) is not supported in this position: outside any message; "
         "it was skipped"),
    ]  # fmt: skip
    assert not interchange.accepted and report.documents[0].status == DocumentStatus.REJECTED  # withdrawn


def test_what_a_report_quotes_of_the_input_is_cut_to_500_characters() -> None:
    junk = b"Q" * 100_000
    data = UNB + b"UNH+" + junk + b"+" + junk + b":D:96B:UN'BGM+1'UNT+3+" + junk + b"'UNZ+1+BUDGET1'\n"
    report, _ = _check(data, "junk.edi")
    text = json.dumps(report.to_dict())
    assert len(text) < 20_000  # the junk is quoted a dozen times
    [document] = report.to_dict()["documents"]
    assert document["message_ref"] == "Q" * 500 + "… (100,000 characters)"
    assert all(
        len(f["message"]) <= 530 and len(f["location"].get("message_ref", "")) <= 530 for f in document["errors"]
    )
    assert "17" in {f["code"] for f in document["errors"]}


def test_the_directory_validator_does_not_remember_the_walk_of_a_huge_message() -> None:
    """Its memo is for small messages sharing a tag sequence: a 20,000-segment
    message's tags and findings must not stay in the process after it."""
    from parsers.edifact.model import MessageRead
    from parsers.edifact.reader import read_edifact
    from validators.directory import default_validator, validate_message

    head = b"UNH+1+CUSDEC:D:96B:UN:CAD01'BGM+929+1020700030001400001+9'"
    data = UNB + head + b"XYZ+1'" * 20_000 + b"UNT+20003+1'UNZ+1+BUDGET1'"
    [message] = [e.message for e in read_edifact(io.BytesIO(data)) if isinstance(e, MessageRead)]
    found = validate_message(message)
    assert Counter(f.code for f in found)["15"] == 20_000
    walks = default_validator()._walks[("CUSDEC", "D", "96B")]
    assert all(len(tags) < 20_000 for tags in walks)


def _pipeline(
    tmp_path: Path,
    files: dict[str, bytes],
    registry: PartnerRegistry | None = None,
    partner: str = "broker01",
    transport: LocalFolderTransport | None = None,
    **settings: Any,
) -> tuple[list[ProcessedFile], Path, Ledger]:
    transport = transport or LocalFolderTransport(tmp_path / "partners")
    transport.ensure_partner(partner)
    for name, content in files.items():
        (transport.area(partner, "inbox") / name).write_bytes(content)
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    pipeline = Pipeline(Settings(data_dir=tmp_path, **settings), transport, ledger, None, registry=registry)
    return pipeline.process_inbox(partner), transport.area(partner, "outbox"), ledger


def test_the_ledger_keeps_a_bounded_summary_that_filing_away_still_reads(tmp_path: Path) -> None:
    [result], outbox, ledger = _pipeline(tmp_path, {"budget.edi": _budget_file()})
    try:
        [record] = ledger.files()
    finally:
        ledger.dispose()
    summary = record.summary
    assert summary is not None
    assert len(json.dumps(summary).encode()) <= SUMMARY_BYTES
    report = json.loads(ack_path(outbox, "budget.edi", "report.json").read_bytes())
    assert len(report["documents"]) == 1002 and report["findings_omitted"] == {"13": 2}
    assert summary["documents"] == {"count": 1002, "statuses": {"not-supported": 1000, "rejected": 1, "accepted": 1}}
    assert summary["findings"] == {"listed": 1000, "omitted": {"13": 2}}
    assert len(summary["errors"]) == 20 and summary["acknowledgements"] == report["acknowledgements"]
    stored = StoredReport.from_ledger(summary)  # what an attempt that finds the file acknowledged reads
    assert (len(stored.documents), sum(d.status == "accepted" for d in stored.documents)) == (1002, 1)
    assert [i.accepted for i in stored.interchanges] == [i["accepted"] for i in report["interchanges"]]
    assert stored.all_errors()[0] == report["documents"][0]["errors"][0]["message"]
    assert result.state == "archived"


def test_a_stored_summary_stays_under_64_kb_whatever_the_report_holds() -> None:
    report = FileReport(file="x" * 10_000, format="edifact")
    long = "y" * 5_000
    for n in range(200_000):
        document = DocumentReport(str(n), "CUSDEC", f"status-{n % 7}", errors=report.findings())
        document.errors.append(Finding(f"C{n}", long, Location(message_ref=str(n), field=long)))
        report.documents.append(document)
    report.interchanges.append(InterchangeReport("S", "R", False, errors=report.findings()))
    report.acknowledgements.extend(f"{'z' * 200}.{n}" for n in range(1000))
    assert report.budget.listed == 1000 and report.budget.omitted_total == 199_000
    summary = stored_summary(report)
    assert len(json.dumps(summary).encode()) <= SUMMARY_BYTES
    assert summary["documents"]["count"] == 200_000
    assert summary["findings"]["listed"] == 1000
    assert sum(summary["findings"]["omitted"].values()) == 199_000


def test_a_file_with_no_readable_document_answers_with_a_small_report(tmp_path: Path) -> None:
    """Random bytes, and an interchange header followed by random bytes (a finding per stray segment)."""
    import random

    noise = random.Random(7).randbytes(4 * MiB)
    files = {"noise.bin": noise, "header_then_noise.edi": UNB + noise}
    results, outbox, ledger = _pipeline(tmp_path, files)
    ledger.dispose()
    assert sorted(r.state for r in results) == ["quarantined", "quarantined"]
    for name in files:
        report = ack_path(outbox, name, "report.json").read_bytes()
        assert len(report) <= SMALL, (name, len(report))
        assert json.loads(report)["accepted"] is False
    [error] = json.loads(ack_path(outbox, "noise.bin", "report.json").read_bytes())["errors"]
    assert error["code"] == "13" and error["message"].startswith("not an EDIFACT interchange")


@pytest.mark.parametrize("kind", ["random", "random-in-message"])
def test_a_50_mb_random_file_peaks_under_128_mib_through_check_and_the_pipeline(tmp_path: Path, kind: str) -> None:
    """Random bytes, and random bytes after a UNB and a UNH (the message a
    chance ``UNH+`` opens: rejected unread past the reader's limits)."""
    out = tmp_path / "result.json"
    options = ["--mb", "50", "--kinds", kind, "--pipeline", "--dir", str(tmp_path), "--json", str(out)]
    done = subprocess.run(
        [sys.executable, str(BENCHMARK), *options],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    [row] = json.loads(out.read_text())["rows"]
    assert row["bytes"] == 50 * MiB
    check, through = row["check"], row["pipeline"]
    assert check["exit"] == 1 and check["peak_rss_mib"] <= 128, check
    assert through["exit"] == 0 and through["state"] == "quarantined" and through["peak_rss_mib"] <= 128, through
    assert through["summary_bytes"] <= SMALL
    if kind == "random":  # no readable document: a small report
        assert check["report_bytes"] <= SMALL and through["report_bytes"] <= SMALL
    else:  # one rejected document listing its first 1,000 findings, each quoting at most 500 characters
        assert check["report_bytes"] <= LISTED_FINDINGS * 2048 and through["report_bytes"] <= LISTED_FINDINGS * 2048
        assert "18" not in check["findings_omitted"]  # "rejected unread" is listed, whatever else is not


REGISTRY = """
[[partners]]
id = "broker01"
edifact_senders = [{ id = "BROKER01", qualifier = "ZZZ" }]
channel = { type = "local", path = "partners/broker01" }
max_file_bytes = 100000
max_failed_attempts = 1

[[partners]]
id = "broker02"
edifact_senders = [{ id = "BROKER02", qualifier = "ZZZ" }]
channel = { type = "local", path = "partners/broker02" }
"""


class _CountingTransport(LocalFolderTransport):
    """Counts the bytes read from every opened inbound file."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.read = [0]

    def open(self, claimed: ClaimedFile) -> BinaryIO:
        return cast(BinaryIO, _CountingFile(claimed.location, self.read))


class _CountingFile(io.FileIO):
    def __init__(self, path: str, counter: list[int]) -> None:
        super().__init__(path, "rb")
        self.counter = counter

    def read(self, size: int = -1) -> bytes:
        data = super().read(size)
        self.counter[0] += len(data or b"")
        return data or b""

    def readinto(self, buffer: Any) -> int:
        count = super().readinto(buffer) or 0
        self.counter[0] += count
        return count


def test_the_default_size_limit_is_one_gib() -> None:
    assert Settings().max_file_bytes == 1024**3


def test_a_partner_size_limit_refuses_a_file_unread(tmp_path: Path) -> None:
    registry = parse_registry(REGISTRY)
    content = b"UNA:+.? '" + b" " * 200_000  # bigger than broker01's limit, far under the settings'
    transport = _CountingTransport(tmp_path / "partners")
    [result], outbox, ledger = _pipeline(tmp_path, {"big.edi": content}, registry, transport=transport)
    ledger.dispose()
    assert result.state == "quarantined"
    [error] = json.loads(ack_path(outbox, "big.edi", "report.json").read_bytes())["errors"]
    assert error["code"] == "SIZE" and "exceeds the limit of 100000 bytes; it was not read" in error["message"]
    assert transport.read[0] <= SMALL  # only the head that tells its format for the answer
    [contrl] = read_contrls(ack_path(outbox, "big.edi", "contrl.edi").read_bytes())
    assert contrl["uci"]["action"] == "4"

    other = tmp_path / "other"  # broker02 has no limit of its own: the settings' applies
    [result], outbox, ledger = _pipeline(
        other, {"big.edi": content}, registry, partner="broker02", max_file_bytes=len(content) - 1
    )
    ledger.dispose()
    assert [e["code"] for e in json.loads(ack_path(outbox, "big.edi", "report.json").read_bytes())["errors"]] == [
        "SIZE"
    ]
    [result], outbox, ledger = _pipeline(tmp_path / "third", {"big.edi": content}, registry, partner="broker02")
    ledger.dispose()
    codes = [e["code"] for e in json.loads(ack_path(outbox, "big.edi", "report.json").read_bytes())["errors"]]
    assert "SIZE" not in codes  # read and checked


def test_a_partner_failed_attempt_limit_overrides_the_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def crashing(stream: BinaryIO, name: str, options: FlowOptions | None = None) -> FileReport:
        raise ValueError("injected")

    monkeypatch.setattr(pipeline_module, "check_stream", crashing)
    registry = parse_registry(REGISTRY)
    content = (FIXTURES / "valid" / "v01_single.edi").read_bytes()
    [result], _, ledger = _pipeline(tmp_path, {"a.edi": content}, registry)  # broker01: 1 attempt
    ledger.dispose()
    assert result.state == "failed"
    [error] = result.report.errors
    assert "an internal error, 1 attempts" in error.message
    [result], _, ledger = _pipeline(tmp_path / "b", {"a.edi": content}, registry, partner="broker02")
    ledger.dispose()
    assert result.state == "released"  # the settings' 3 attempts
    assert "failed attempt 1 of 3" in result.report.errors[0].message


def test_a_message_past_the_reader_limits_is_rejected_unread_and_the_next_one_read() -> None:
    """Past ``max_message_segments`` (30 here) the reader keeps only the UNH: one finding
    (18) at the first segment past the limit, nothing reported of the rest,
    the UNT count checked against every segment, the next message whole."""
    from parsers.edifact.model import MessageRead, SyntaxProblem
    from parsers.edifact.reader import read_edifact
    from validators.envelope import EnvelopeValidator

    junk = b"XYZ+\x91'" * 50  # 50 segments, each with a character outside UNOC (21 when read)
    big = b"UNH+1+CUSDEC:D:96B:UN:CAD01'" + junk + b"UNT+52+1'"
    data = UNB + big + _message("valid/v01_single.edi", 2) + b"UNZ+2+BUDGET1'"
    events = list(read_edifact(io.BytesIO(data), max_message_segments=30))
    first, second = [e.message for e in events if isinstance(e, MessageRead)]
    assert not [e for e in events if isinstance(e, SyntaxProblem)]
    assert first.skipped == 50 and [s.tag for s in first.segments] == ["UNH", "UNT"]
    codes = [(f.code, f.location.segment) for f in first.findings]
    assert codes == [("18", 31)] + [("21", k) for k in range(2, 31)]  # the rejection first: always listed
    assert "rejected unread from segment 31" in first.findings[0].message
    assert second.skipped == 0 and not second.findings and second.trailer is not None
    envelope = EnvelopeValidator()
    assert not [f for e in events for f in envelope.observe(e) if f.code in ("29", "13")]


def test_a_message_past_the_limits_answers_one_rejection_and_no_mapping_errors() -> None:
    junk = b"XYZ+1'" * 300_000  # past MAX_MESSAGE_SEGMENTS: rejected unread, nothing mapped
    data = UNB + b"UNH+1+CUSDEC:D:96B:UN:CAD01'" + junk + b"UNT+300002+1'UNZ+1+BUDGET1'"
    report, sink = _check(data, "big.edi")
    [document] = report.documents
    assert document.status == DocumentStatus.REJECTED
    assert [f.code for f in document.errors] == ["18"]
    [contrl] = read_contrls(sink.files["big.edi.contrl.edi"])
    assert [(m["ref"], m["action"]) for m in contrl["messages"]] == [("1", "4")]
