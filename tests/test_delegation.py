"""Parties and delegations in the embedded portal, over real HTTP (``portal_server``), and the
gateway's pre-check through the client's cached ``delegation_active`` and the rule context."""

from __future__ import annotations

import datetime as dt
import socket
import uuid
from typing import Any

import httpx
import pytest

from domain import Declaration
from gateway.portal_lookups import PortalClientLookups
from portal.client import PortalClient
from portal.server import PortalServer
from tests.builders import declaration as build_declaration
from validators.rules import ContextUnavailable, check_declaration
from validators.rules.lookups import portal_context

IMPORTER = "123456782RM0001"
BROKER = "123026635"
OTHER_BROKER = "100000009"  # registered (seed) but without a delegation


def post(http: httpx.Client, body: dict[str, Any]) -> httpx.Response:
    return http.post("/v1/declarations", json=body, headers={"Idempotency-Key": str(uuid.uuid4())})


def declaration(
    declarant: str = f"{BROKER}RM0001", transaction: str = "10207003000585", **changes: Any
) -> dict[str, Any]:
    body = build_declaration().model_dump(mode="json")
    body.update(transaction_number=transaction, version=1, function="9", **changes)
    body["declarant"] = {"account": declarant, "name": "A BROKER"}
    return body


@pytest.fixture
def http(portal_server: PortalServer):
    with httpx.Client(base_url=portal_server.url) as client:
        yield client


def test_seeded_delegation_is_listed_and_active(http: httpx.Client) -> None:
    answer = http.get("/v1/delegations", params={"importer": IMPORTER, "broker": f"{BROKER}RM0001"})
    assert answer.status_code == 200
    [delegation] = answer.json()["delegations"]
    assert (delegation["importer"], delegation["broker"], delegation["active"]) == (IMPORTER, BROKER, True)
    assert http.get("/v1/delegations", params={"importer": IMPORTER, "broker": OTHER_BROKER}).json() == {
        "delegations": []
    }


def test_seeded_broker_files_for_the_importer(http: httpx.Client) -> None:
    answer = post(http, declaration())
    assert answer.status_code == 201, answer.text
    assert answer.json()["status"] == "40"


def test_broker_without_delegation_is_rejected_412_code_69(http: httpx.Client) -> None:
    answer = post(http, declaration(declarant=f"{OTHER_BROKER}RM0001"))
    assert answer.status_code == 412
    body = answer.json()
    assert body["status"] == "412"
    assert [(e["code"], e["pointer"]) for e in body["errors"]] == [("69", "declarant.account")]


def test_unknown_declarant_is_rejected_415_code_90(http: httpx.Client) -> None:
    answer = post(http, declaration(declarant="046454286RM0001"))
    assert answer.status_code == 415
    body = answer.json()
    assert body["status"] == "415"
    assert [(e["code"], e["pointer"]) for e in body["errors"]] == [("90", "declarant.account")]


def test_add_delegation_then_revoke_it(http: httpx.Client) -> None:
    created = http.post("/v1/delegations", json={"importer": IMPORTER, "broker": f"{OTHER_BROKER}RM0001"})
    assert created.status_code == 201, created.text
    delegation = created.json()
    assert delegation["active"] is True and delegation["valid_from"] == dt.datetime.now(dt.UTC).date().isoformat()
    assert post(http, declaration(declarant=f"{OTHER_BROKER}RM0001")).status_code == 201

    revoked = http.delete(f"/v1/delegations/{delegation['id']}")
    assert revoked.status_code == 200
    assert revoked.json()["active"] is False and revoked.json()["revoked_at"]
    again = http.delete(f"/v1/delegations/{delegation['id']}")
    assert again.json()["revoked_at"] == revoked.json()["revoked_at"]
    listed = http.get("/v1/delegations", params={"importer": IMPORTER, "broker": OTHER_BROKER, "active": "true"})
    assert listed.json() == {"delegations": []}
    answer = post(http, declaration(declarant=f"{OTHER_BROKER}RM0001", transaction="10207000220870"))
    assert answer.status_code == 412


def test_delegation_outside_its_dates_is_not_active(http: httpx.Client) -> None:
    expired = http.post(
        "/v1/delegations",
        json={"importer": IMPORTER, "broker": OTHER_BROKER, "valid_from": "2024-01-01", "valid_to": "2024-12-31"},
    )
    assert expired.status_code == 201 and expired.json()["active"] is False
    assert post(http, declaration(declarant=f"{OTHER_BROKER}RM0001")).status_code == 412


def test_new_parties_and_refused_delegations(http: httpx.Client) -> None:
    party = http.post("/v1/parties", json={"account": "046454286", "role": "broker", "name": "NEW BROKER"})
    assert party.status_code == 201
    assert http.post("/v1/parties", json={"account": "046454286", "role": "broker"}).status_code == 200
    refused = http.post("/v1/delegations", json={"importer": "046454286RM0001", "broker": "999999998"})
    assert refused.status_code == 422
    assert [(e["code"], e["pointer"]) for e in refused.json()["errors"]] == [("P302", "importer"), ("P302", "broker")]
    not_rm = http.post("/v1/delegations", json={"importer": "123456782RP0001", "broker": BROKER})
    assert [e["code"] for e in not_rm.json()["errors"]] == ["P301"]
    dates = http.post(
        "/v1/delegations",
        json={"importer": IMPORTER, "broker": BROKER, "valid_from": "2025-02-01", "valid_to": "2025-01-01"},
    )
    assert [e["code"] for e in dates.json()["errors"]] == ["P303"]
    assert http.delete("/v1/delegations/99999").status_code == 404
    assert http.post("/v1/parties", json={"account": "046454286RP0001", "role": "importer"}).status_code == 422


def test_importer_filing_for_itself_needs_no_delegation(http: httpx.Client) -> None:
    assert http.post("/v1/parties", json={"account": "100000009RM0001", "role": "importer"}).status_code == 201
    body = declaration(declarant="100000009RM0001")
    body["importer"] = {"account": "100000009RM0001", "name": "PRAIRIE"}
    assert post(http, body).status_code == 201


def test_client_delegation_active_is_cached(portal_server: PortalServer) -> None:
    with PortalClient(portal_server.url, delegation_ttl=60) as client, httpx.Client(base_url=portal_server.url) as http:
        assert client.delegation_active(IMPORTER, f"{BROKER}RM0001") is True
        assert client.delegation_active(IMPORTER, f"{OTHER_BROKER}RM0001") is False
        http.post("/v1/delegations", json={"importer": IMPORTER, "broker": OTHER_BROKER})
        assert client.delegation_active(IMPORTER, f"{OTHER_BROKER}RM0001") is False  # cached
    with PortalClient(portal_server.url, delegation_ttl=0) as fresh:
        assert fresh.delegation_active(IMPORTER, f"{OTHER_BROKER}RM0001") is True


def test_client_returns_sender_rejections_as_outcomes(portal_server: PortalServer) -> None:
    with PortalClient(portal_server.url) as client:
        outcome = client.submit_declaration(
            Declaration.model_validate(declaration(declarant=f"{OTHER_BROKER}RM0001")), "k-1"
        )
    assert outcome.status.value == "412"
    assert [e.code for e in outcome.errors] == ["69"]


def test_gateway_precheck_and_history_through_the_portal(portal_server: PortalServer) -> None:
    """portal_context(PortalClientLookups(client)): DLG-ACT and the history rules with the live portal."""
    undelegated = Declaration.model_validate(declaration(declarant=f"{OTHER_BROKER}RM0001", release_date="2025-01-15"))
    delegated = Declaration.model_validate(declaration(release_date="2025-01-15"))
    with PortalClient(portal_server.url) as client:
        context = portal_context(PortalClientLookups(client), today=dt.date(2025, 1, 16))
        assert [v.rule_id for v in check_declaration(undelegated, context)] == ["DLG-ACT"]
        assert check_declaration(delegated, context) == []
        assert client.submit_declaration(delegated, "k-2").status.value == "40"
        assert [v.rule_id for v in check_declaration(delegated, context)] == ["VER-DUP"]
        change = Declaration.model_validate(
            {**delegated.model_dump(), "version": 2, "function": "4", "amendment": {"reason_code": "R2-74-1-C11"}}
        )
        assert check_declaration(change, context) == []
        late = portal_context(PortalClientLookups(client), today=dt.date(2025, 2, 3))  # payment due date 2025-01-31
        assert [v.rule_id for v in check_declaration(change, late)] == ["VER-ADJ"]


def test_lookups_answer_unknown_transactions_and_give_way_when_the_portal_is_down(portal_server: PortalServer) -> None:
    """A transaction the portal does not know has no history; an unreachable portal makes both
    lookups ``ContextUnavailable``, so the rules that need them are skipped, not failed."""
    with PortalClient(portal_server.url) as client:
        assert PortalClientLookups(client).history("10207003999999") is None
    with socket.socket() as sock:  # a port nobody listens on once the socket is closed
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    with PortalClient(f"http://127.0.0.1:{closed}", max_attempts=1) as down:
        lookups = PortalClientLookups(down)
        with pytest.raises(ContextUnavailable):
            lookups.history("10207003000585")
        with pytest.raises(ContextUnavailable):
            lookups.delegation_active(IMPORTER, f"{BROKER}RM0001")
        undelegated = Declaration.model_validate(declaration(declarant=f"{OTHER_BROKER}RM0001"))
        assert "DLG-ACT" not in [v.rule_id for v in check_declaration(undelegated, portal_context(lookups))]
