"""Upgrades with work in flight: a file parked or acknowledged by the previous
release (commit 4df739d) resumes under this one.

The previous release's traces are written here by hand, in the shape its code
wrote them (``git show 4df739d:ledger/store.py``, ``gateway/pipeline.py``,
``transports/local.py``): the ledger rows of a claim, its history, the post the
portal answered before it went away, the interchange registered in phase 1, the
stored report (``files.summary``: ``FileReport.to_dict()`` with no format key),
and the file itself in processing/ as ``<claim id>__<name>``. Nothing of that is
produced by the code under test.

The model then gained several invoices per declaration: what the previous release
stored in the first model's shape (portal versions, the portal's request digests,
the gateway's idempotency keys) is written here by hand in that shape, and must
read, replay and key the same.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from domain import Declaration
from gateway.pipeline import Pipeline
from gateway.service import file_summary
from gateway.settings import Settings
from ledger import Ledger
from mappings.cusdec_declaration import map_cusdec
from parsers.edifact.model import InterchangeStart, MessageRead
from parsers.edifact.reader import read_edifact
from portal.client import PortalClient
from portal.server import PortalServer
from tests.ack_reader import ack_path, read_contrls, read_cusres
from tests.conftest import FIXTURES, fixture_file
from transports.local import LocalFolderTransport

PARTNER = "broker01"
NAME = "v02_multi_message.edi"
CLAIM_ID = "20260105T101500-4df739d0"
RECEIVED_AT = dt.datetime(2026, 1, 5, 10, 15, tzinfo=dt.UTC)
OLD_KEYS = [  # what 4df739d's idempotency_key gave v02's three declarations
    "cad-10207000300025-00001-ddf687def9750e11",
    "cad-10207000300036-00001-a06afa31b44c3a7c",
    "cad-10207000300047-00001-327abd95f2e31ad3",
]


@dataclass
class Previous:
    """The world the previous release left: folders, ledger, portal."""

    root: Path
    ledger_url: str
    portal_url: str
    client: PortalClient

    @property
    def partner_dir(self) -> Path:
        return self.root / "partners" / PARTNER

    def sql(self, statement: str, *, url: str | None = None, **values: Any) -> list[Any]:
        engine = create_engine(url or self.ledger_url)
        try:
            with engine.begin() as connection:
                result = connection.execute(text(statement), values)
                return list(result.all()) if result.returns_rows else []
        finally:
            engine.dispose()

    def park_in_processing(self) -> Path:
        """The claimed file as 4df739d's LocalFolderTransport left it in processing/."""
        processing = self.partner_dir / "processing"
        processing.mkdir(parents=True, exist_ok=True)
        for area in ("inbox", "outbox", "archive", "quarantine"):
            (self.partner_dir / area).mkdir(exist_ok=True)
        path = processing / f"{CLAIM_ID}__{NAME}"
        path.write_bytes(fixture_file(NAME).read_bytes())
        return path

    def file_row(
        self,
        state: str,
        location: Path,
        *,
        note: str | None = None,
        outcome: str | None = None,
        summary: dict[str, Any] | None = None,
        lease_until: dt.datetime | None = None,
    ) -> int:
        data = fixture_file(NAME).read_bytes()
        self.sql(
            "INSERT INTO files (partner, name, sha256, size, state, format, accepted, summary, run_id, received_at, updated_at,"
            " claim_id, location, task, lease_until, attempts, duplicate_of, outcome, note)"
            " VALUES (:partner, :name, :sha256, :size, :state, :format, :accepted, :summary, 'run-old', :received, :received,"
            " :claim_id, :location, 'process_batch', :lease_until, 1, NULL, :outcome, :note)",
            partner=PARTNER, name=NAME, sha256=hashlib.sha256(data).hexdigest(), size=len(data), state=state,
            format=summary["format"] if summary else None, accepted=summary["accepted"] if summary else None,
            summary=json.dumps(summary) if summary is not None else None, received=RECEIVED_AT, claim_id=CLAIM_ID,
            location=str(location), lease_until=lease_until or RECEIVED_AT + dt.timedelta(minutes=5), outcome=outcome, note=note,
        )  # fmt: skip
        [(file_id,)] = self.sql("SELECT id FROM files WHERE name = :name", name=NAME)
        return int(file_id)

    def history(self, file_id: int, *moves: tuple[str, str, str | None]) -> None:
        for from_state, to_state, note in moves:
            self.sql(
                "INSERT INTO file_events (file_id, from_state, to_state, run_id, task, note, at)"
                " VALUES (:file_id, :from_state, :to_state, 'run-old', 'process_batch', :note, :at)",
                file_id=file_id, from_state=from_state, to_state=to_state, note=note, at=RECEIVED_AT,
            )  # fmt: skip


@pytest.fixture
def previous(tmp_path: Path) -> Iterator[Previous]:
    ledger_url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    portal_url = f"sqlite:///{tmp_path / 'portal.sqlite'}"
    Ledger(ledger_url).dispose()  # the schema (unchanged by this release)
    with PortalServer(portal_url, FIXTURES / "reference" / "tariff.csv") as server:
        client = PortalClient(server.url)
        try:
            yield Previous(tmp_path, ledger_url, portal_url, client)
        finally:
            client.close()


def _pipeline(previous: Previous, ledger: Ledger) -> Pipeline:
    settings = Settings(data_dir=previous.root)
    return Pipeline(
        settings, LocalFolderTransport(previous.root / "partners"), ledger, previous.client.submit_declaration
    )


def _fixture() -> tuple[Any, list[Declaration]]:
    """v02's interchange header and declarations, read with the parser and the mapping."""
    header = None
    declarations = []
    with fixture_file(NAME).open("rb") as stream:
        for event in read_edifact(stream):
            if isinstance(event, InterchangeStart):
                header = event.header
            elif isinstance(event, MessageRead):
                mapped = map_cusdec(event.message, ".").declaration
                assert mapped is not None
                declarations.append(mapped)
    return header, declarations


def test_a_file_parked_by_the_previous_release_resumes_and_posts_with_the_same_keys(previous: Previous) -> None:
    header, declarations = _fixture()
    # The previous release posted the first declaration, then the portal went away and the file was parked.
    first = previous.client.submit_declaration(declarations[0], OLD_KEYS[0])
    assert first.status.value == "40"
    location = previous.park_in_processing()
    parked_until = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)  # the park delay has ended
    note = "portal unavailable, parked until 2026-01-05 10:20:00 UTC: portal unreachable"
    file_id = previous.file_row("parked", location, note=note, lease_until=parked_until)
    previous.history(
        file_id,
        ("received", "claiming", NAME), ("claiming", "claimed", str(location)), ("claimed", "parsed", None),
        ("parsed", "posted", None), ("posted", "parked", note),
    )  # fmt: skip
    previous.sql(
        "INSERT INTO interchanges (file_id, sender, sender_qualifier, control_reference, received_at)"
        " VALUES (:file_id, :sender, :qualifier, :reference, :at)",
        file_id=file_id, sender=header.sender, qualifier=header.sender_qualifier, reference=header.control_reference, at=RECEIVED_AT,
    )  # fmt: skip
    previous.sql(
        "INSERT INTO documents (file_id, message_reference, transaction_number, version, idempotency_key, status, response,"
        " created_at, position, kind) VALUES (:file_id, :reference, :txn, 1, :key, '40', :response, :at, NULL, 'declaration')",
        file_id=file_id, reference=declarations[0].reference[:32], txn=declarations[0].transaction_number, key=OLD_KEYS[0],
        response=json.dumps(first.model_dump(mode="json")), at=RECEIVED_AT,
    )  # fmt: skip

    ledger = Ledger(previous.ledger_url)
    try:
        [result] = _pipeline(previous, ledger).resume_stale(PARTNER, run_id="run-new")
        record = ledger.file(file_id)
        documents = ledger.documents(file_id)
        events = [(e.from_state, e.to_state) for e in ledger.events(file_id)]
    finally:
        ledger.dispose()

    assert result.state == "archived" and record.state == "archived" and record.attempts == 2
    assert record.summary is not None and record.summary["report_format"] == 3  # what this release stores
    assert events[:5] == [
        ("received", "claiming"),
        ("claiming", "claimed"),
        ("claimed", "parsed"),
        ("parsed", "posted"),
        ("posted", "parked"),
    ]
    assert ("parked", "claimed") in events and events[-1] == ("acknowledged", "archived")
    assert [d.idempotency_key for d in documents] == OLD_KEYS
    assert [d.status for d in documents] == ["40", "40", "40"]
    assert not list((previous.partner_dir / "processing").iterdir())
    assert [p.name for p in (previous.partner_dir / "archive").rglob("*__*")] == [f"{CLAIM_ID}__{NAME}"]

    engine = create_engine(previous.portal_url)
    try:
        with engine.connect() as connection:
            stored = connection.execute(text("SELECT transaction_number, version FROM portal_declarations")).all()
            keys = sorted(k for (k,) in connection.execute(text("SELECT key FROM portal_idempotency_keys")))
    finally:
        engine.dispose()
    assert len(stored) == 3 and keys == sorted(OLD_KEYS)  # the first post was replayed, not repeated

    outbox = previous.partner_dir / "outbox"
    [contrl] = read_contrls(ack_path(outbox, NAME, "contrl.edi").read_bytes())
    assert contrl["uci"]["action"] == "7"
    [answers] = read_cusres(ack_path(outbox, NAME, "cusres.edi").read_bytes())
    assert [a["status"] for a in answers] == ["40", "40", "40"]
    report = json.loads(ack_path(outbox, NAME, "report.json").read_text())
    assert "report_format" not in report  # the partner's report is unchanged
    assert [d["carm_status"] for d in report["documents"]] == ["40", "40", "40"]


def test_a_file_acknowledged_by_the_previous_release_is_filed_away_with_its_stored_report(previous: Previous) -> None:
    location = previous.park_in_processing()
    interchange = {
        "sender": "BROKER01",
        "control_reference": "000000002",
        "accepted": True,
        "contrl_action": "7",
        "errors": [],
    }
    documents = [
        {"message_ref": str(n), "type": "CUSDEC", "status": "accepted", "reference": f"10207000300{t}00001", "errors": [], "carm_status": "40",
         "assessed": {"duty": "0.00", "excise": "0.00", "gst": "0.00", "total": "0.00"}}
        for n, t in ((1, "025"), (2, "036"), (3, "047"))
    ]  # fmt: skip
    stored = {
        "file": NAME, "format": "edifact", "accepted": True, "interchanges": [interchange], "documents": documents, "errors": [],
        "acknowledgements": [f"{NAME}.contrl.edi", f"{NAME}.cusres.edi", f"{NAME}.report.json"],
    }  # fmt: skip
    stale = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)  # its worker died after the acknowledgements
    file_id = previous.file_row("acknowledged", location, outcome="archive", summary=stored, lease_until=stale)
    previous.history(
        file_id,
        ("received", "claiming", NAME),
        ("claiming", "claimed", str(location)),
        ("posted", "acknowledged", None),
    )

    def no_posts(declaration: Declaration, key: str) -> Any:
        raise AssertionError("an acknowledged file is only filed away")

    ledger = Ledger(previous.ledger_url)
    try:
        pipeline = Pipeline(
            Settings(data_dir=previous.root), LocalFolderTransport(previous.root / "partners"), ledger, no_posts
        )
        [result] = pipeline.resume_stale(PARTNER, run_id="run-new")
        record = ledger.file(file_id)
    finally:
        ledger.dispose()

    assert result.state == "archived" and record.state == "archived"
    assert result.to_dict()["report"] == stored
    summary = file_summary(result)
    assert (summary["documents"], summary["documents_accepted"], summary["accepted"]) == (3, 3, True)
    assert summary["acknowledgements"] == stored["acknowledgements"]
    assert not list((previous.partner_dir / "outbox").iterdir())  # nothing rewritten


# Declarations in the first model's shape (one invoice at the declaration's level), as the
# previous release stored and hashed them: tests/builders.declaration() written out by hand,
# fields in that model's order, as its ``model_dump(mode="json")`` gave them.
FIRST_LINE = {
    "line_number": 1, "description": "COTTON T-SHIRTS, MEN'S", "hs_code": "6109100010", "tariff_treatment": "2",
    "country_of_origin": "CN", "quantity": "120", "unit": "NMB", "invoice_amount": "600.00", "value_for_duty": "810.00",
    "duty_rate": "18", "customs_duty": "145.80", "excise_tax": None, "value_for_tax": "955.80", "gst": "47.79",
}  # fmt: skip
FIRST_SHAPE = {
    "transaction_number": "10207003000585", "version": 1, "function": "9", "type_code": "AB",
    "importer": {"account": "123456782RM0001", "name": "MAPLE LEAF IMPORTS INC"},
    "declarant": {"account": "123026635RM0001", "name": "NORTHERN CUSTOMS BROKERS LTD"},
    "office_of_release": "0497", "release_date": "2025-01-15", "currency": "USD", "exchange_rate": "1.35",
    "invoice": {"number": "INV-88231", "issue_date": "2025-01-10", "total_amount": "600.00"},
    "vendor": {"name": "GLOBAL TEXTILES CO", "street": "12 HARBOUR ROAD", "city": "SHANGHAI", "postcode": "200000", "country": "CN"},
    "filer_reference": "BRK-2025-0001", "cargo_control_number": None, "amendment": None, "lines": [FIRST_LINE],
}  # fmt: skip


def test_a_one_invoice_declaration_keeps_the_idempotency_key_of_the_first_model() -> None:
    from gateway.flows.contract import idempotency_key
    from tests.builders import declaration

    first_json = json.dumps(FIRST_SHAPE, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(first_json.encode()).hexdigest()[:16]
    assert idempotency_key(declaration()) == f"cad-10207003000585-00001-{digest}"


def test_a_declaration_the_first_model_could_not_hold_is_keyed_on_its_own_shape() -> None:
    from gateway.flows.contract import idempotency_key
    from tests.builders import declaration

    d = declaration()
    shipped = d.model_copy(
        update={"invoices": [d.invoices[0].model_copy(update={"direct_shipment_date": dt.date(2025, 1, 11)})]}
    )
    digest = hashlib.sha256(shipped.model_dump_json().encode()).hexdigest()[:16]
    assert idempotency_key(shipped) == f"cad-10207003000585-00001-{digest}"
    assert idempotency_key(shipped) != idempotency_key(d)


def test_the_portal_reads_a_version_stored_in_the_first_models_shape(previous: Previous) -> None:
    outcome = {"transaction_number": "10207003000585", "version": 1, "status": "40", "received_at": None, "lines": [],
               "total_duty": "0.00", "total_excise": "0.00", "total_gst": "0.00", "errors": []}  # fmt: skip
    previous.sql(
        "INSERT INTO portal_declarations (transaction_number, version, function, body, status, outcome, received_at)"
        " VALUES ('10207003000585', 1, '9', :body, '40', :outcome, :at)",
        url=previous.portal_url, body=json.dumps(FIRST_SHAPE), outcome=json.dumps(outcome), at=RECEIVED_AT,
    )  # fmt: skip
    record = previous.client.get_version("10207003000585", 1)
    [invoice] = record["declaration"]["invoices"]
    assert (invoice["currency"], invoice["exchange_rate"], invoice["number"]) == ("USD", "1.35", "INV-88231")
    assert invoice["vendor"]["name"] == "GLOBAL TEXTILES CO" and invoice["lines"][0]["gst"] == "47.79"


def test_a_post_answered_before_the_upgrade_is_replayed_not_refused(previous: Previous) -> None:
    """The previous portal stored the digest of the first shape: the same declaration,
    posted again with its key by this release, is the same request."""
    from tests.builders import declaration

    digest = hashlib.sha256(json.dumps(FIRST_SHAPE, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    answered = {"transaction_number": "10207003000585", "version": 1, "status": "40", "received_at": None,
                "lines": [], "total_duty": "145.80", "total_excise": "0.00", "total_gst": "47.79", "errors": []}  # fmt: skip
    previous.sql(
        "INSERT INTO portal_idempotency_keys (key, request_sha256, status_code, response_body, created_at)"
        " VALUES ('key-before-upgrade', :digest, 201, :body, :at)",
        url=previous.portal_url, digest=digest, body=json.dumps(answered), at=RECEIVED_AT,
    )  # fmt: skip
    replayed = previous.client.submit_declaration(declaration(), "key-before-upgrade")
    assert (replayed.status.value, str(replayed.total_duty)) == ("40", "145.80")
