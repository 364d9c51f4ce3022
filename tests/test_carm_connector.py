"""The CARM connector over real HTTPS on 127.0.0.1 (a CA and a server certificate generated
per module, verified through ``ca_bundle``) against the embedded portal's CARM-shaped API
(``/carm/v1/cad``): CAD-IN XML in, CAD-OUT XML out, x-api-key.

Amounts by hand (fixtures/reference/tariff.csv): HS 6109100010, VFD 810.00, MFN (2) duty
18 % = 145.80, GST 5 % x (810.00 + 145.80) = 47.79, total 193.59; UST (10) duty 0, GST 40.50.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from lxml import etree

from domain.declaration import Declaration, DeclarationLine
from domain.outcome import OutcomeStatus
from gateway import service
from gateway.carm_endpoint import carm_endpoint
from gateway.operations_html import waiting_table
from gateway.pipeline import Pipeline, ProcessedFile
from gateway.settings import Settings
from gateway.waiting import follow_up, waiting_report
from ledger import Ledger
from mappings.cadout import NAMESPACE, CadOutError, CadOutResponse
from mappings.cadout_reader import read_cadout
from mappings.cadxml_declaration import cadin_document
from mappings.declaration_cusdec import IDENTIFIER, cusdec_segments
from mappings.edifact_writer import InterchangeWriter
from portal import carm
from portal.carm import CarmConnector, CarmEndpoint, CarmKeyRefused
from portal.client import PortalClient, PortalUnavailable
from portal.server import PortalServer
from tests.ack_reader import ack_path, read_cusres
from tests.carm_double import ScriptedCarm
from tests.edifact_helpers import FIXTURES
from tests.faults import FaultyHTTPTransport
from tests.test_pipeline_acknowledgements import (  # the fixtures' expected answers, now through CARM
    PARTNER,
    delivered_one_by_one,
    test_acknowledgements_match_the_expected_ones,  # noqa: F401
    test_cusres_line_amounts_and_references_for_a_multi_line_declaration,  # noqa: F401
    test_every_file_has_a_json_report_and_is_filed_away,  # noqa: F401
)
from tests.test_portal_api import make_declaration, make_line
from tests.tls import ServerCertificate, make_certificate
from transports.local import LocalFolderTransport

API_KEY = "carm-test-key"
TARIFF = FIXTURES / "reference" / "tariff.csv"
FAST = {"backoff": 0.01, "timeout": 5.0}
RELEASED = dt.date(2026, 7, 6)  # due 2026-07-31: a change posted now is an adjustment (pending, 42)
REASON = {"reason_code": "R2-74-1-E.TC", "explanation": "treatment corrected", "kind": "adjustment"}


def cad_posts(request: httpx.Request) -> bool:
    return request.method == "POST" and request.url.path == carm.CAD_PATH


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> ServerCertificate:
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def portal(tmp_path: Path, certificate: ServerCertificate) -> Iterator[PortalServer]:
    database = f"sqlite:///{tmp_path / 'portal.sqlite'}"
    with PortalServer(database, TARIFF, api_key=API_KEY, certificate=(certificate.chain, certificate.key)) as server:
        yield server


def carm_connector(url: str, certificate: ServerCertificate | None, **options: Any) -> CarmConnector:
    """A CARM connector to ``url`` with the test's key, trusting the test CA (None: the system's CAs),
    retrying fast; ``options`` override."""
    trust = {"ca_bundle": str(certificate.ca)} if certificate is not None else {}
    return CarmConnector(url, **({"api_key": API_KEY, **trust, **FAST} | options))


@pytest.fixture
def connector(portal: PortalServer, certificate: ServerCertificate) -> Iterator[CarmConnector]:
    with carm_connector(portal.url, certificate) as client:
        yield client


def test_the_portal_serves_https_only_to_clients_trusting_its_ca(portal: PortalServer) -> None:
    assert portal.url.startswith("https://127.0.0.1:")
    untrusting = carm_connector(portal.url, None, max_attempts=1)
    with untrusting, pytest.raises(PortalUnavailable) as error:
        untrusting.submit_declaration(make_declaration(), "k")
    assert isinstance(error.value.last_error, httpx.ConnectError)
    assert "CERTIFICATE_VERIFY_FAILED" in str(error.value.last_error)


def test_accepted_with_the_assessment_read_back_from_cad_out(connector: CarmConnector) -> None:
    outcome = connector.submit_declaration(make_declaration(), "k")
    assert (outcome.status, outcome.status.final) == (OutcomeStatus.ACCEPTED, True)
    assert (outcome.total_duty, outcome.total_gst, outcome.total_due) == (
        Decimal("145.80"),
        Decimal("47.79"),
        Decimal("193.59"),
    )
    [line] = outcome.lines
    assert (line.line_number, line.value_for_duty, line.customs_duty, line.value_for_tax, line.gst) == (
        1,
        Decimal("810.00"),
        Decimal("145.80"),
        Decimal("955.80"),
        Decimal("47.79"),
    )
    time.sleep(1 - time.time() % 1 + 0.01)  # asked in a later second than the answer was given
    assert connector.query(outcome.transaction_number, 1) == outcome  # CARM's query tells the same


def test_a_rejection_points_at_the_line_field_by_its_domain_path(connector: CarmConnector) -> None:
    bad = make_declaration(make_line(1), make_line(2, hs_code="9999999999"))
    outcome = connector.submit_declaration(bad, "k")
    assert (outcome.status, outcome.status.final) == (OutcomeStatus.REJECTED, True)
    # The portal's P201 on the second line came back as CAD-OUT Pointer/Location
    # /DocumentMetaData/Declaration[1]/GoodsShipment[1]/GovernmentAgencyGoodsItem/Commodity[2]/Classification/ID.
    assert [(e.code, e.pointer) for e in outcome.errors] == [("P201", "lines[1].hs_code")]
    assert (outcome.total_due, outcome.lines) == (Decimal("0.00"), [])


def test_an_rpp_importer_over_its_security_is_accepted_with_the_warning_read_back(
    connector: CarmConnector, portal: PortalServer
) -> None:
    # A 100.00 cash security against 193.59 owed (tests/test_portal_warnings.py): P310, a warning.
    security = {"kind": "cash", "amount": "100.00", "posted": "2024-12-01"}
    put = connector._http.put(
        "/v1/importers/123456782RM0001/rpp", json={"status": "active", "since": "2024-10-21", "security": security}
    )
    assert put.status_code == 200, put.text
    outcome = connector.submit_declaration(make_declaration(), "k")
    assert (outcome.status, outcome.errors) == (OutcomeStatus.ACCEPTED, [])
    [warning] = outcome.warnings  # CAD-OUT AdditionalInformation (AAI) at /…/Importer/ID, back to its domain path
    assert (warning.code, warning.pointer) == ("P310", "importer.account")
    assert "93.59 more than its cash of 100.00 covers" in warning.message
    assert connector.query(outcome.transaction_number, 1) == outcome


def test_a_declarant_without_delegation_is_412_code_69(connector: CarmConnector) -> None:
    stranger = make_declaration().model_dump() | {"declarant": {"account": "100000009RM0001"}}
    outcome = connector.submit_declaration(Declaration.model_validate(stranger), "k")
    assert (outcome.status, outcome.status.final) == (OutcomeStatus.SENDER_MISMATCH, True)
    assert [e.code for e in outcome.errors] == ["69"]


def test_an_unregistered_declarant_is_415_code_90(connector: CarmConnector) -> None:
    unknown = make_declaration().model_dump() | {"declarant": {"account": "111111118RM0001"}}
    outcome = connector.submit_declaration(Declaration.model_validate(unknown), "k")
    assert (outcome.status, outcome.status.final) == (OutcomeStatus.UNKNOWN_PARTNER, True)
    assert [e.code for e in outcome.errors] == ["90"]


def test_an_xsd_failure_is_a_final_503_not_a_transport_failure(
    connector: CarmConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    written = carm.cadin
    monkeypatch.setattr(carm, "cadin", lambda d: written(d).replace(b"<TypeCode>AB</TypeCode>", b"<Bogus/>"))
    faulty = FaultyHTTPTransport.install(connector, lambda n, r: None, match=cad_posts)
    outcome = connector.submit_declaration(make_declaration(), "k")
    assert (outcome.status, outcome.status.final) == (OutcomeStatus.SCHEMA_ERROR, True)
    assert faulty.calls == 1  # HTTP 503 with a CAD-OUT status: CARM's verdict, not retried
    [error] = outcome.errors
    assert "Bogus" in error.message
    assert connector.query(outcome.transaction_number, 1) is None  # nothing stored


def test_a_dropped_connection_after_the_post_is_answered_by_the_query_without_a_second_post(
    connector: CarmConnector,
) -> None:
    faulty = FaultyHTTPTransport.install(connector, lambda n, r: "reset" if n == 1 else None, match=cad_posts)
    outcome = connector.submit_declaration(make_declaration(), "k")
    # One post (reset after CARM recorded it), then the query that found the version: two requests.
    assert (faulty.calls, faulty.faults["reset"], faulty.forwarded) == (1, 1, 2)
    assert (outcome.status, outcome.total_due) == (OutcomeStatus.ACCEPTED, Decimal("193.59"))


def test_a_5xx_without_a_carm_status_is_retried_after_a_query_finds_nothing(connector: CarmConnector) -> None:
    faulty = FaultyHTTPTransport.install(connector, lambda n, r: "500" if n == 1 else None, match=cad_posts)
    outcome = connector.submit_declaration(make_declaration(), "k")
    # The 500 never reached CARM; the query found nothing, so it was posted again: post, query, post.
    assert (faulty.calls, faulty.faults["500"], faulty.forwarded) == (2, 1, 2)
    assert outcome.status is OutcomeStatus.ACCEPTED


def test_a_wrong_key_is_refused_with_a_clear_error(portal: PortalServer, certificate: ServerCertificate) -> None:
    wrong = carm_connector(portal.url, certificate, api_key="wrong")
    with wrong, pytest.raises(CarmKeyRefused) as error:
        wrong.submit_declaration(make_declaration(), "k")
    assert error.value.status_code == 401
    assert "CARM refused the API key (HTTP 401)" in str(error.value)
    assert "CARM_CARM_API_KEY" in str(error.value) and "carm_connection_id" in str(error.value)


# --- every CUSDEC fixture through the pipeline over the CARM connector: the same answers ------------


@pytest.fixture(scope="module")
def processed(
    tmp_path_factory: pytest.TempPathFactory, certificate: ServerCertificate
) -> Iterator[tuple[dict[str, ProcessedFile], Path, Ledger, PortalClient]]:
    """The fixtures of test_pipeline_acknowledgements processed once, posted as CAD-IN over HTTPS
    four posts in flight (``portal_concurrency``): its tests (imported above) run against these
    results and must all hold."""
    root = tmp_path_factory.mktemp("carm-gateway")
    settings = Settings(data_dir=root, portal_api="carm", portal_concurrency=4)
    transport = LocalFolderTransport(root / "partners")
    transport.ensure_partner(PARTNER)
    with PortalServer(
        f"sqlite:///{root / 'portal.sqlite'}", TARIFF, api_key=API_KEY, certificate=(certificate.chain, certificate.key)
    ) as server:
        connector = carm_connector(server.url, certificate, concurrency=4)
        client = PortalClient(server.url, api_key=API_KEY, ca_bundle=str(certificate.ca))
        ledger = Ledger(f"sqlite:///{root / 'ledger.sqlite'}")
        pipeline = Pipeline(settings, transport, ledger, connector.submit_declaration)
        results = delivered_one_by_one(pipeline, transport)
        yield results, root / "partners" / PARTNER, ledger, client
        connector.close()
        client.close()
        ledger.dispose()


# --- a pending adjustment (42) followed up until final, then answered once -------------------------


def cusdec_file(declaration: Declaration, reference: str) -> bytes:
    out = io.BytesIO()
    writer = InterchangeWriter(
        out, sender=("BROKER01", "ZZZ"), recipient=("CARMGW", "ZZZ"), control_reference=reference
    )
    writer.write_message("1", IDENTIFIER, cusdec_segments(declaration))
    writer.close()
    return out.getvalue()


def change_of(transaction_number: str, *lines: DeclarationLine) -> Declaration:
    """Version 2 of a transaction released on ``RELEASED``: posted now, past its correction
    deadline, it is an adjustment (the embedded portal answers 42 until an operator decides)."""
    return make_declaration(
        *(lines or (make_line(treatment="2"),)),
        transaction_number=transaction_number,
        version=2,
        function="4",
        amendment=REASON,
        release_date=RELEASED,
    )


def released_original(connector: CarmConnector, transaction_number: str) -> None:
    original = make_declaration(make_line(treatment="10"), transaction_number=transaction_number, release_date=RELEASED)
    assert connector.submit_declaration(original, "k1").status is OutcomeStatus.ACCEPTED


def receive_cad_in_change(gateway: Gateway, connector: CarmConnector, transaction_number: str) -> None:
    """The partner sends version 2 of a released transaction as CAD-IN: CARM answers 42."""
    released_original(connector, transaction_number)
    change = change_of(transaction_number)
    senders = [(change.importer.account, "HN"), (change.declarant.account, "AK")]
    gateway.receive(connector, "change.xml", cadin_document([change], f"{transaction_number}00002001", senders))


def approve(connector: CarmConnector, transaction_number: str, version: int) -> None:
    """An operator approves the pending adjustment on the embedded portal."""
    decision = connector._http.post(
        f"/v1/declarations/{transaction_number}/versions/{version}/decision",
        json={"decision": "approve", "operator": "ops.jane"},
    )
    assert decision.status_code == 201


@dataclass
class Gateway:
    """One partner's folders and a ledger, posting through the CARM connector; follow-ups at ``now``."""

    settings: Settings
    transport: LocalFolderTransport
    ledger: Ledger
    outbox: Path

    def receive(self, connector: CarmConnector, name: str, data: bytes) -> ProcessedFile:
        (self.transport.area(PARTNER, "inbox") / name).write_bytes(data)
        [result] = Pipeline(self.settings, self.transport, self.ledger, connector.submit_declaration).process_inbox(
            PARTNER
        )
        return result

    def follow_up(self, connector: CarmConnector, now: dt.datetime | None = None) -> dict[str, int]:
        return follow_up(self.settings, self.ledger, connector, self.transport, now or dt.datetime.now(dt.UTC))

    def waiting(self) -> list[dict[str, Any]]:
        return waiting_report(self.ledger, dt.datetime.now(dt.UTC))


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    settings = Settings(data_dir=tmp_path, portal_api="carm", pending_first_query_seconds=0)
    transport = LocalFolderTransport(tmp_path / "partners")
    transport.ensure_partner(PARTNER)
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    yield Gateway(settings, transport, ledger, tmp_path / "partners" / PARTNER / "outbox")
    ledger.dispose()


def test_a_pending_adjustment_is_followed_up_and_answered_once_when_an_operator_approves(
    gateway: Gateway, connector: CarmConnector
) -> None:
    txn = "10207003000585"
    released_original(connector, txn)
    outbox = gateway.outbox
    # Run 1: the change is posted; CARM answers 42: the interim CUSRES (CA, GIS 42), and it waits.
    result = gateway.receive(connector, "change.edi", cusdec_file(change_of(txn), "IC9001"))
    [[interim]] = read_cusres(ack_path(outbox, "change.edi", "cusres.edi").read_bytes())
    assert (result.state, interim["status"], interim["response"]) == ("archived", "42", "CA")
    [waiting] = gateway.waiting()
    assert (waiting["transaction_number"], waiting["version"], waiting["state"], waiting["status"]) == (
        txn, 2, "waiting", "42",
    )  # fmt: skip

    # Run 2: still pending at CARM: no answer, still waiting.
    assert gateway.follow_up(connector) == {"answered": 0, "waiting": 1, "expired": 0}
    assert not list(outbox.glob("*.final.cusres.edi"))

    approve(connector, txn, 2)

    # Run 3: final (40): the partner gets one final CUSRES with the assessment of the change.
    assert gateway.follow_up(connector) == {"answered": 1, "waiting": 0, "expired": 0}
    [final_file] = outbox.glob("*.final.cusres.edi")
    [[final]] = read_cusres(final_file.read_bytes())
    assert (final["reference"], final["status"], final["response"]) == (f"{txn}00002", "40", "AP")
    assert final["totals"] == {"CUD": "145.80", "EXC": "0.00", "GST": "47.79", "TOT": "193.59"}
    assert final["rff"]["ACW"] == "IC9001"  # it answers the partner's interchange
    written = final_file.read_bytes()

    # Run 4: answered once: nothing is queried or written again.
    assert gateway.follow_up(connector) == {"answered": 0, "waiting": 0, "expired": 0}
    assert [p.name for p in outbox.glob("*.final.cusres.edi")] == [final_file.name]
    assert final_file.read_bytes() == written
    assert gateway.waiting() == []
    [answered] = gateway.ledger.waiting("answered")
    assert (answered.status, answered.queries) == ("40", 2)

    # Recorded as the immediate answers are: an acknowledgement of the change's file, and a CUSRES sent
    # to BROKER01 that the partner's CONTRL is matched to.
    [change_file] = [f for f in gateway.ledger.files(PARTNER) if f.name == "change.edi"]
    acknowledged = {(a.kind, a.location) for a in gateway.ledger.acknowledgements(change_file.id)}
    assert ("cusres", f"{PARTNER}/outbox/{final_file.name}") in acknowledged
    sent = [r for r in gateway.ledger.sent_interchanges(PARTNER) if r.kind == "cusres"]
    [final_sent] = [r for r in sent if r.control_reference == unb_reference(written)]
    assert (final_sent.recipient, final_sent.message_references, final_sent.answers_reference) == (
        "BROKER01", ["1"], "IC9001",
    )  # fmt: skip
    verdict = gateway.receive(connector, "ack.edi", partner_contrl(final_sent.control_reference, "P9001"))
    [matched] = verdict.report.documents
    assert matched.acknowledgement == {
        "interchange": final_sent.control_reference,
        "action": "7",
        "matched": True,
        "kind": "cusres",
        "answers": {"file": "change.edi", "interchange": "IC9001"},
        "accepted": ["1"],
        "rejected": [],
    }
    [record] = [r for r in gateway.ledger.sent_interchanges(PARTNER) if r.control_reference == unb_reference(written)]
    assert (record.ack_action, record.ack_file_id) == ("7", verdict_file_id(gateway, "ack.edi"))


def unb_reference(interchange: bytes) -> str:
    """UNB 0020 of an interchange, read by hand."""
    unb = next(s for s in interchange.decode().replace("\n", "").split("'") if s.startswith("UNB+"))
    return unb.split("+")[5]


def partner_contrl(reference: str, interchange: str) -> bytes:
    """BROKER01's CONTRL acknowledging our interchange ``reference`` (UCI action 7)."""
    return (
        "UNA:+.? 'UNB+UNOC:3+BROKER01:ZZZ+CARMGW:ZZZ+261207:1200+" + interchange + "'UNH+1+CONTRL:D:3:UN'"
        f"UCI+{reference}+CARMGW:ZZZ+BROKER01:ZZZ+7'UNT+3+1'UNZ+1+{interchange}'"
    ).encode()


def verdict_file_id(gateway: Gateway, name: str) -> int:
    [found] = [f.id for f in gateway.ledger.files(PARTNER) if f.name == name]
    return found


def test_a_pending_cad_in_declaration_gets_its_final_cad_out_once_approved(
    gateway: Gateway, connector: CarmConnector
) -> None:
    txn = "10207003000585"
    receive_cad_in_change(gateway, connector, txn)
    [interim] = read_cadout(ack_path(gateway.outbox, "change.xml", "cadout.xml").read_bytes())
    assert (interim.status, interim.transaction_number, interim.version) == ("42", txn, 2)

    approve(connector, txn, 2)
    assert gateway.follow_up(connector)["answered"] == 1
    assert gateway.follow_up(connector)["answered"] == 0
    [final_file] = gateway.outbox.glob("*.final.cadout.xml")
    [final] = read_cadout(final_file.read_bytes())
    assert (final.status, final.transaction_number, final.version) == ("40", txn, 2)
    assert (final.totals["total_duty"], final.totals["total_gst"]) == (Decimal("145.80"), Decimal("47.79"))


def test_a_version_never_final_by_its_deadline_is_told_to_the_partner_once(
    gateway: Gateway, connector: CarmConnector
) -> None:
    txn = "10207003000585"
    released_original(connector, txn)
    gateway.receive(connector, "change.edi", cusdec_file(change_of(txn), "IC9003"))
    # 15 days on (the deadline is 336 h after the post), CARM still answers 42.
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=15)
    assert gateway.follow_up(connector, later) == {"answered": 0, "waiting": 0, "expired": 1}
    [told] = gateway.outbox.glob("*.expired.cusres.edi")
    [[answer]] = read_cusres(told.read_bytes())
    # Neither accepted nor rejected: still pending (CA, GIS 42), with the code that says why.
    assert (answer["reference"], answer["status"], answer["response"]) == (f"{txn}00002", "42", "CA")
    [error] = answer["errors"]
    assert (error["code"], error["severity"], error["where"]) == ("CARM-EXP", "error", "message 1")
    assert "no final answer from CARM by the deadline" in error["message"]
    assert "status at CARM is unknown" in error["message"] and "operator" in error["message"]
    assert answer["rff"]["ACW"] == "IC9003"
    # Recorded, and on the ops page's list of waiting declarations with its age until an operator acts.
    [expired] = gateway.ledger.waiting("expired")
    assert (expired.status, expired.location) == ("42", f"{PARTNER}/outbox/{told.name}")
    [row] = gateway.waiting()
    assert (row["state"], row["status"], row["answer"], row["next_query_at"]) == (
        "expired", "42", f"{PARTNER}/outbox/{told.name}", None,
    )  # fmt: skip
    assert row["age_seconds"] >= 0
    assert 'class="expired"' in waiting_table([row])
    [change_file] = [f for f in gateway.ledger.files(PARTNER) if f.name == "change.edi"]
    assert f"{PARTNER}/outbox/{told.name}" in {a.location for a in gateway.ledger.acknowledgements(change_file.id)}
    assert unb_reference(told.read_bytes()) in {r.control_reference for r in gateway.ledger.sent_interchanges(PARTNER)}
    # Told once: a later run neither queries nor writes again.
    assert gateway.follow_up(connector, later + dt.timedelta(days=1)) == {"answered": 0, "waiting": 0, "expired": 0}
    assert [p.name for p in gateway.outbox.glob("*.expired.cusres.edi")] == [told.name]


def test_a_cad_in_declaration_never_final_by_its_deadline_gets_a_cad_out_saying_so_once(
    gateway: Gateway, connector: CarmConnector
) -> None:
    txn = "10207003000585"
    receive_cad_in_change(gateway, connector, txn)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=15)
    assert gateway.follow_up(connector, later) == {"answered": 0, "waiting": 0, "expired": 1}
    assert gateway.follow_up(connector, later) == {"answered": 0, "waiting": 0, "expired": 0}
    [told] = gateway.outbox.glob("*.expired.cadout.xml")
    [answer] = read_cadout(told.read_bytes())
    assert (answer.status, answer.transaction_number, answer.version) == ("42", txn, 2)
    [error] = answer.errors
    assert (error.code, error.pointer) == ("CARM-EXP", "/DocumentMetaData/Declaration[1]")
    assert "no final answer from CARM by the deadline" in error.message


# --- the service, configured as a deployment is: CARM's endpoint from an Airflow connection ------------


def test_the_service_posts_and_follows_up_through_the_endpoint_an_airflow_connection_names(
    tmp_path: Path, portal: PortalServer, certificate: ServerCertificate, connector: CarmConnector,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    port = int(portal.url.rsplit(":", 1)[1])
    endpoint = {"conn_type": "http", "host": "127.0.0.1", "schema": "https", "port": port, "password": API_KEY}
    endpoint["extra"] = {"ca_bundle": str(certificate.ca), "cad_path": carm.CAD_PATH}
    monkeypatch.setenv("AIRFLOW_CONN_CARM_TEST_ENDPOINT", json.dumps(endpoint))
    settings = Settings(
        data_dir=tmp_path / "data",
        ledger_url=f"sqlite:///{tmp_path / 'ledger.sqlite'}",
        quiet_seconds=0,
        portal_url=portal.url,  # the look-ups (history, delegations) stay on the embedded portal's JSON API
        portal_api_key=API_KEY,
        portal_ca_bundle=str(certificate.ca),
        portal_api="carm",
        carm_connection_id="carm_test_endpoint",  # wins over the carm_* settings below, which lead nowhere
        carm_url="https://127.0.0.1:9",
        carm_api_key="not-this-one",
        carm_cad_path="/nowhere",
        pending_first_query_seconds=0,
    )
    assert carm_endpoint(settings) == CarmEndpoint(
        f"https://127.0.0.1:{port}", API_KEY, str(certificate.ca), carm.CAD_PATH
    )
    txn = "10207003000585"
    released_original(connector, txn)
    inbox = tmp_path / "data" / "partners" / PARTNER / "inbox"
    inbox.mkdir(parents=True)
    (inbox / "change.edi").write_bytes(cusdec_file(change_of(txn), "IC9005"))
    [processed] = service.process_once(settings)
    outbox = tmp_path / "data" / "partners" / PARTNER / "outbox"
    [[interim]] = read_cusres(ack_path(outbox, "change.edi", "cusres.edi").read_bytes())
    assert (processed.state, interim["status"], interim["errors"]) == ("archived", "42", [])
    approve(connector, txn, 2)
    assert service.follow_up_pending(settings) == {"answered": 1, "waiting": 0, "expired": 0, "still_waiting": []}
    [[final]] = read_cusres(next(outbox.glob("*.final.cusres.edi")).read_bytes())
    assert (final["status"], final["rff"]["ACW"]) == ("40", "IC9005")


def test_the_carm_endpoint_falls_back_to_the_embedded_portals_settings() -> None:
    embedded = Settings(portal_url="https://portal.test", portal_api_key="pk", portal_ca_bundle="/ca.pem")
    assert carm_endpoint(embedded) == CarmEndpoint("https://portal.test", "pk", "/ca.pem", carm.CAD_PATH)
    real = embedded.model_copy(
        update={
            "carm_url": "https://carm.test",
            "carm_api_key": "carm-secret-key-1",
            "carm_ca_bundle": "/carm.pem",
            "carm_cad_path": "/cad",
        }
    )
    assert carm_endpoint(real) == CarmEndpoint("https://carm.test", "carm-secret-key-1", "/carm.pem", "/cad")
    assert "carm-secret-key-1" not in repr(real) + repr(carm_endpoint(real))  # the key is never logged


# --- a once-pending version refused with CARM's pointers: placed in the partner's file -----------------

DECLARATION = "/DocumentMetaData/Declaration[1]"
TREATMENT_2 = (
    DECLARATION + "/GoodsShipment[1]/GovernmentAgencyGoodsItem/Commodity[2]/Classification/BindingTariffReferenceID"
)
IMPORTER = DECLARATION + "/GoodsShipment[1]/Importer/ID"


def refusal_script(txn: str) -> tuple[tuple[int, CadOutResponse], list[tuple[int, CadOutResponse]]]:
    """CARM answers the post 42; the first query 42 again, the next 41 refused with an error at line 2's
    treatment and a statement (AdditionalInformation, a warning) at the importer."""
    pending = CadOutResponse("42", [], 1, txn, "00002")
    refused = CadOutResponse(
        "41",
        [
            CadOutError("P120", "Adjustment refused: treatment 2 needs a proof of origin", TREATMENT_2),
            CadOutError("P310", "Importer security below the amount owed", IMPORTER, warning=True),
        ],
        1,
        txn,
        "00002",
    )
    return (202, pending), [(200, pending), (200, refused)]


@pytest.fixture
def double_connector(certificate: ServerCertificate) -> Iterator[tuple[ScriptedCarm, CarmConnector]]:
    posted, queries = refusal_script("10207003000585")
    with (
        ScriptedCarm(certificate, API_KEY, posted, queries) as double,
        carm_connector(double.url, certificate) as client,
    ):
        yield double, client


def test_a_once_pending_cusdec_is_refused_at_the_partners_segment_and_keeps_carms_warning(
    gateway: Gateway, double_connector: tuple[ScriptedCarm, CarmConnector]
) -> None:
    double, connector = double_connector
    change = change_of("10207003000585", make_line(1), make_line(2))
    gateway.receive(connector, "change.edi", cusdec_file(change, "IC9004"))
    assert len(double.posts) == 1
    assert gateway.follow_up(connector) == {"answered": 0, "waiting": 1, "expired": 0}
    assert gateway.follow_up(connector) == {"answered": 1, "waiting": 0, "expired": 0}
    [final_file] = gateway.outbox.glob("*.final.cusres.edi")
    [[final]] = read_cusres(final_file.read_bytes())
    assert (final["status"], final["response"]) == ("41", "RE")
    # Placed by hand in the CUSDEC written above (UNH is segment 1; the change's reason is FTX+CHG,
    # segment 6): line 2's CST is segment 21, its treatment element 3; the importer's NAD+IM segment 9,
    # its party id element 2.
    refused, warned = final["errors"]
    assert (refused["code"], refused["severity"], refused["pointer"]) == ("P120", "error", "lines[1].tariff_treatment")
    assert refused["where"].startswith("message 1, segment 21 (CST), element 3")
    assert (warned["code"], warned["severity"], warned["pointer"]) == ("P310", "warning", "importer.account")
    assert warned["where"].startswith("message 1, segment 9 (NAD), element 2")
    assert len(double.queries) == 2 and len(double.posts) == 1


def test_a_once_pending_cad_in_is_refused_at_the_partners_xpath_and_keeps_carms_warning(
    gateway: Gateway, double_connector: tuple[ScriptedCarm, CarmConnector]
) -> None:
    _, connector = double_connector
    change = change_of("10207003000585", make_line(1), make_line(2))
    senders = [(change.importer.account, "HN"), (change.declarant.account, "AK")]
    # One element a line, as a partner's software may write it: each finding's line is its element's.
    blank = etree.XMLParser(remove_blank_text=True)
    tree = etree.fromstring(cadin_document([change], "1020700300058500002001", senders), blank)
    document = etree.tostring(tree, pretty_print=True, xml_declaration=True, encoding="UTF-8")
    gateway.receive(connector, "change.xml", document)
    gateway.follow_up(connector)
    assert gateway.follow_up(connector)["answered"] == 1
    [final_file] = gateway.outbox.glob("*.final.cadout.xml")
    [final] = read_cadout(final_file.read_bytes())
    assert final.status == "41"
    assert [(e.code, e.pointer) for e in final.errors] == [("P120", TREATMENT_2)]
    assert [(w.code, w.pointer) for w in final.warnings] == [("P310", IMPORTER)]
    lines = document.decode().splitlines()
    treatment_line = [n for n, text in enumerate(lines, 1) if "<BindingTariffReferenceID>" in text][1]
    importer_line = next(n for n, text in enumerate(lines, 1) if "<Importer>" in text) + 2  # after its Name
    assert "<ID>123456782RM0001</ID>" in lines[importer_line - 1]
    ns = {"c": NAMESPACE}
    answer = etree.fromstring(final_file.read_bytes())
    assert answer.xpath("//c:Error/c:Pointer/c:LineNumeric/text()", namespaces=ns) == [str(treatment_line)]
    assert answer.xpath("//c:AdditionalInformation/c:Pointer/c:LineNumeric/text()", namespaces=ns) == [
        str(importer_line)
    ]


# --- the embedded portal's CARM API on its own ------------------------------------------------------


@pytest.fixture
def https(portal: PortalServer, certificate: ServerCertificate) -> Iterator[httpx.Client]:
    headers = {"x-api-key": API_KEY, "Content-Type": "application/xml"}
    trust = ssl.create_default_context(cafile=certificate.ca)
    with httpx.Client(base_url=portal.url, verify=trust, headers=headers, timeout=10) as client:
        yield client


def answer_of(response: httpx.Response) -> tuple[int, str, list[tuple[str, str | None]]]:
    [answer] = read_cadout(response.content)
    return response.status_code, answer.status, [(e.code, e.pointer) for e in answer.errors]


def test_the_cad_api_refuses_what_is_not_one_declaration_from_its_declarant(https: httpx.Client) -> None:
    one = make_declaration()
    senders = [(one.importer.account, "HN"), (one.declarant.account, "AK")]
    two = cadin_document([one, make_declaration(transaction_number="10207000220870")], "1", senders)
    assert answer_of(https.post(carm.CAD_PATH, content=two)) == (
        400, "400", [("P006", "/DocumentMetaData/Declaration[2]")],
    )  # fmt: skip
    other_sender = cadin_document([one], "1", [(one.importer.account, "HN"), ("100000009RM0001", "AK")])
    assert answer_of(https.post(carm.CAD_PATH, content=other_sender)) == (
        412, "412", [("69", "/DocumentMetaData/CommunicationMetaData/Sender[2]/ID")],
    )  # fmt: skip
    status, carm_status, [(code, _)] = answer_of(https.post(carm.CAD_PATH, content=b"<DocumentMetaData"))
    assert (status, carm_status, code) == (400, "400", "XML-WF")
    assert answer_of(https.get(carm.CAD_PATH, params={"TransactionNumber": one.transaction_number})) == (
        400, "400", [("077", None)],
    )  # fmt: skip  # nothing was stored
