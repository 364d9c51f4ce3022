"""The operations page as Airflow mounts it (``plugins/carm_operations.py``), called over
ASGI with Airflow's own simple auth manager and JWTs: the file list's filters and paging,
one file in full, the partners now, the two actions (reprocess, resend) and their audit
rows, and the refusals (no login: 401; a read-only user or a bad token: 403) that change
nothing. Also the reprocess validation of the DAG param and of the CLI, and
``carm-edi ledger list`` with the page's filters.

Three fixture files go through one ``process_once`` run: v01 (accepted), i10 (a bad
date: quarantined, its interchange rejected) and i11 (the portal rejects line 2's HS code:
archived, rejected). Expected values come from those fixtures, not from the page's code."""

from __future__ import annotations

import datetime as dt
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from gateway import service
from gateway.operator import Requester
from gateway.settings import Settings
from ledger import Ledger
from portal.server import PortalServer
from tests.ack_reader import ack_path
from tests.test_operator_cli import cli

FILES = ["v01_single.edi", "i10_bad_date.edi", "i11_unknown_hs.edi"]
V01_TRANSACTION = "10207000300014"  # BGM of v01 (tests/test_dag.py)


@pytest.fixture
def processed(gateway_settings: Settings, deliver: Callable[..., Path]) -> dict[str, int]:
    """The three files processed once; their ledger ids by name."""
    deliver(*FILES)
    service.process_once(gateway_settings)
    ledger = Ledger(gateway_settings.ledger_database_url())
    try:
        return {r.name: r.id for r in ledger.files()}
    finally:
        ledger.dispose()


def token(username: str, role: str) -> str:
    from airflow.api_fastapi.app import create_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    return create_auth_manager().generate_jwt(SimpleAuthManagerUser(username=username, role=role))


@pytest.fixture
def page(airflow_db: None) -> Iterator[Callable[..., TestClient]]:
    """``page("admin")``: a client of the plugin's app signed in as that user (``None``: anonymous)."""
    from plugins.carm_operations import app

    roles = {"admin": "admin", "viewer": "viewer"}
    clients: list[TestClient] = []

    def client(user: str | None, *, cookie: bool = False) -> TestClient:
        made = TestClient(app, base_url="http://127.0.0.1", root_path="/carm", follow_redirects=False)
        if user is not None:
            jwt = token(user, roles[user])
            if cookie:  # as the Airflow UI's session
                made.cookies.set("_token", jwt)
            else:
                made.headers["Authorization"] = f"Bearer {jwt}"
        clients.append(made)
        return made

    yield client
    for made in clients:
        made.close()


def ledger_of(settings: Settings) -> Ledger:
    return Ledger(settings.ledger_database_url())


def snapshot(settings: Settings) -> dict[str, Any]:
    """Everything an action could change: states, events, actions, resends, the outbox."""
    ledger = ledger_of(settings)
    try:
        files = ledger.files()
        return {
            "files": [(f.id, f.state, f.attempts) for f in files],
            "events": [len(ledger.events(f.id)) for f in files],
            "actions": len(ledger.actions()),
            "resends": [len(ledger.resends(f.id)) for f in files],
            "outbox": sorted(p.name for p in (settings.resolved_data_dir / "partners/broker01/outbox").iterdir()),
        }
    finally:
        ledger.dispose()


# --- who may do what ------------------------------------------------------------------------


def test_anonymous_and_read_only_users_are_refused_and_change_nothing(
    processed: dict[str, int], gateway_settings: Settings, page: Callable[..., TestClient]
) -> None:
    before = snapshot(gateway_settings)
    i10 = processed["i10_bad_date.edi"]
    anonymous, viewer, admin = page(None), page("viewer"), page("admin")

    for path in ("/files", "/api/files", f"/files/{i10}", "/api/partners", "/audit", "/acknowledgements/1"):
        assert anonymous.get(path).status_code == 401, path
    answer = anonymous.get("/files")
    assert "Sign in to Airflow" in answer.text and "/auth/login" in answer.text
    for action in ("reprocess", "resend"):
        assert anonymous.post(f"/files/{i10}/{action}").status_code == 401
        refused = viewer.post(f"/files/{i10}/{action}")
        assert refused.status_code == 403
        assert "viewer lacks permission to run the DAG carm_inbound" in refused.text
    forged = page(None)
    forged.headers["Authorization"] = "Bearer not-a-jwt"
    assert forged.post(f"/files/{i10}/reprocess").status_code == 403
    assert forged.get("/api/files").status_code == 403
    assert snapshot(gateway_settings) == before  # nothing moved, nothing recorded

    assert viewer.get("/api/files").status_code == 200  # reading is the viewer's right
    assert admin.get("/api/files").status_code == 200
    assert page("viewer", cookie=True).get("/files").status_code == 200  # the UI's session cookie


# --- the file list --------------------------------------------------------------------------


def names(client: TestClient, **params: Any) -> list[str]:
    answer = client.get("/api/files", params=params)
    assert answer.status_code == 200, answer.text
    return [f["name"] for f in answer.json()["files"]]


def test_filters_and_paging(processed: dict[str, int], page: Callable[..., TestClient]) -> None:
    admin = page("admin")
    today = dt.datetime.now(dt.UTC).date()
    assert sorted(names(admin)) == sorted(FILES)
    assert sorted(names(admin, outcome="rejected")) == ["i10_bad_date.edi", "i11_unknown_hs.edi"]
    assert names(admin, outcome="accepted") == ["v01_single.edi"]
    assert names(admin, outcome="parked") == []
    assert names(admin, partner="bank01") == []
    assert sorted(names(admin, partner="broker01")) == sorted(FILES)
    assert names(admin, text="BAD_date") == ["i10_bad_date.edi"]  # a part of the name, any case
    assert names(admin, text=V01_TRANSACTION) == ["v01_single.edi"]  # a transaction number of its documents
    assert names(admin, text="%") == []  # a LIKE wildcard is a plain character
    assert sorted(names(admin, received_from=str(today), received_to=str(today))) == sorted(FILES)
    assert names(admin, received_from=str(today + dt.timedelta(days=1))) == []
    assert names(admin, received_to=str(today - dt.timedelta(days=1))) == []

    first = admin.get("/api/files", params={"per_page": 2}).json()
    second = admin.get("/api/files", params={"per_page": 2, "page": 2}).json()
    assert (first["total"], first["pages"], len(first["files"]), len(second["files"])) == (3, 2, 2, 1)
    ids = [f["id"] for f in first["files"] + second["files"]]
    assert ids == sorted(processed.values(), reverse=True)  # newest first, each once

    for bad, why in (
        ({"outcome": "lost"}, "unknown outcome 'lost'"),
        ({"received_from": "2026-13-01"}, "received_from '2026-13-01' is not a date"),
        ({"received_from": "2026-12-02", "received_to": "2026-12-01"}, "is after received to"),
        ({"page": "0"}, "pages start at 1"),
        ({"per_page": "1000"}, "from 1 to 200"),
    ):
        answer = admin.get("/api/files", params=bad)
        assert answer.status_code == 400 and why in answer.json()["detail"], (bad, answer.text)


def test_a_row_carries_outcome_counts_first_finding_and_acknowledgements(
    processed: dict[str, int], page: Callable[..., TestClient]
) -> None:
    rows = {f["name"]: f for f in page("admin").get("/api/files").json()["files"]}
    v01, i10, i11 = rows["v01_single.edi"], rows["i10_bad_date.edi"], rows["i11_unknown_hs.edi"]
    assert (v01["outcome"], v01["format"], v01["documents_accepted"], v01["documents_rejected"]) == (
        "accepted", "edifact", 1, 0,
    )  # fmt: skip
    assert (i10["outcome"], i10["state"], i10["documents_accepted"], i10["documents_rejected"]) == (
        "rejected", "quarantined", 0, 1,
    )  # fmt: skip
    assert (i11["outcome"], i11["state"], i11["documents_accepted"], i11["documents_rejected"]) == (
        "rejected", "archived", 0, 1,
    )  # fmt: skip
    assert "20251345" in i10["first_finding"]  # DTM+271:20251345, month 13
    assert i11["first_finding"].startswith("[P201]")  # the portal: HS code not in the tariff
    # v01 was accepted with one warning (late): counted apart, never its first error
    assert (v01["first_finding"], v01["warnings"]) == (None, 1)
    assert sorted(a["kind"] for a in v01["acknowledgements"]) == ["contrl", "cusres", "report"]
    assert sorted(a["kind"] for a in i10["acknowledgements"]) == ["contrl", "report"]
    assert all(row["attempts"] == 1 and row["id"] == processed[name] for name, row in rows.items())

    html = page("admin").get("/files", params={"outcome": "rejected"}).text
    assert '<p id="count">2 files, page 1 of 1</p>' in html
    assert "i10_bad_date.edi" in html and "v01_single.edi" not in html
    assert '<option value="rejected" selected>' in html


def test_one_file_in_full(
    processed: dict[str, int], page: Callable[..., TestClient], gateway_settings: Settings
) -> None:
    admin = page("admin")
    i11 = admin.get(f"/api/files/{processed['i11_unknown_hs.edi']}").json()
    [declaration] = i11["declarations"]
    assert (declaration["transaction_number"], declaration["version"], declaration["accepted"]) == (
        "10207000400037",
        1,
        False,
    )  # fmt: skip  (BGM 1020700040003700001 of the CUSRES in tests/test_dag.py)
    # the portal's rejection apart from the gateway's warning (late, header level): a warning rejected nothing
    assert [e["code"] for e in declaration["errors"]] == ["P201"]
    assert [e["code"] for e in declaration["warnings"]] == ["DAT-LATE"]
    assert [f["code"] for f in i11["findings"]] == ["P201"]
    assert [f["code"] for f in i11["warnings"]] == ["DAT-LATE"]
    assert [(e["from"], e["to"]) for e in i11["history"]][-1] == ("acknowledged", "archived")
    assert sorted(a["kind"] for a in i11["acknowledgements"]) == ["contrl", "cusres", "report"]
    assert admin.get("/api/files/999").status_code == 404

    html = admin.get(f"/files/{processed['i10_bad_date.edi']}").text
    assert '<b id="state">quarantined</b>' in html and "20251345" in html
    contrl = next(a for a in i11["acknowledgements"] if a["kind"] == "contrl")
    shown = admin.get(f"/acknowledgements/{contrl['id']}").text
    outbox = gateway_settings.resolved_data_dir / "partners/broker01/outbox"
    written = ack_path(outbox, "i11_unknown_hs.edi", "contrl.edi").read_text(encoding="latin-1")
    assert written.split("'")[0] in shown  # its UNA/UNB opening, as written
    assert "UNH" in shown and "CONTRL" in shown
    assert admin.get("/acknowledgements/999").status_code == 404


def test_partners_now(processed: dict[str, int], page: Callable[..., TestClient], deliver: Callable[..., Path]) -> None:
    inbox = deliver("v02_multi_message.edi")
    an_hour_ago = time.time() - 3600
    os.utime(inbox / "v02_multi_message.edi", (an_hour_ago, an_hour_ago))
    partners = {p["partner"]: p for p in page("admin").get("/api/partners").json()}
    broker = partners["broker01"]
    assert (broker["received_today"], broker["quarantined"], broker["parked"], broker["overdue"]) == (3, 1, 0, 0)
    assert 3600 <= broker["oldest_inbox_seconds"] < 3600 + 120
    assert broker["last_seen"] is not None
    bank = partners["bank01"]  # registered, never sent anything: a partner gone quiet
    assert (bank["received_today"], bank["last_seen"], bank["oldest_inbox_seconds"]) == (0, None, None)


def test_declarations_waiting_for_a_final_answer_with_their_age(
    processed: dict[str, int], page: Callable[..., TestClient], gateway_settings: Settings
) -> None:
    ledger = ledger_of(gateway_settings)
    posted = dt.datetime.now(dt.UTC) - dt.timedelta(hours=3)
    try:
        ledger.wait(
            processed["v01_single.edi"], "broker01", V01_TRANSACTION, 2, status="42", answer={},
            next_query_at=posted + dt.timedelta(minutes=5), deadline=posted + dt.timedelta(days=14),
        )  # fmt: skip
        with ledger.session() as s:  # posted three hours ago
            s.execute(text("UPDATE waiting SET since = :since"), {"since": posted})
    finally:
        ledger.dispose()
    [waiting] = page("viewer").get("/api/waiting").json()
    assert (waiting["partner"], waiting["transaction_number"], waiting["version"], waiting["status"]) == (
        "broker01", V01_TRANSACTION, 2, "42",
    )  # fmt: skip
    assert 3 * 3600 <= waiting["age_seconds"] < 3 * 3600 + 120
    listing = page("viewer").get("/files").text
    assert 'id="waiting"' in listing and "<td>3 h</td>" in listing


# --- actions and the audit trail -------------------------------------------------------------


def test_reprocess_from_the_page_is_done_and_audited(
    processed: dict[str, int], page: Callable[..., TestClient], gateway_settings: Settings
) -> None:
    i10 = processed["i10_bad_date.edi"]
    answer = page("admin").post(f"/files/{i10}/reprocess")
    assert answer.status_code == 303
    assert answer.headers["location"].startswith(f"/carm/files/{i10}?notice=")
    ledger = ledger_of(gateway_settings)
    try:
        record = ledger.file(i10)
        assert (record.state, record.attempts) == ("quarantined", 2)  # the same bytes, the same verdict
        [action] = ledger.actions()
        assert (action.who, action.action, action.target, action.source) == (
            "admin",
            "reprocess",
            f"file {i10}",
            "page",
        )
        assert "quarantined → inbox" in (action.detail or "")
        assert any(e.task == "page: admin" for e in ledger.events(i10))
    finally:
        ledger.dispose()
    [row] = page("viewer").get("/api/audit").json()
    assert (row["who"], row["action"], row["source"]) == ("admin", "reprocess", "page")


def test_resend_writes_the_same_answers_under_new_names_as_a_resend(
    processed: dict[str, int], page: Callable[..., TestClient], gateway_settings: Settings
) -> None:
    v01 = processed["v01_single.edi"]
    outbox = gateway_settings.resolved_data_dir / "partners/broker01/outbox"
    originals = {p.name: p.read_bytes() for p in outbox.iterdir() if p.name.startswith(f"v01_single.edi.{v01}.")}
    assert len(originals) == 3

    assert page("admin").post(f"/files/{v01}/resend").status_code == 303
    copies = {
        p.name: p.read_bytes()
        for p in outbox.iterdir()
        if p.name.startswith("v01_single.edi.") and p.name not in originals
    }
    pattern = re.compile(
        rf"v01_single\.edi\.{v01}\.r\d{{8}}T\d{{6}}[0-9a-f]{{4}}\.(contrl\.edi|cusres\.edi|report\.json)"
    )
    assert all(pattern.fullmatch(name) for name in copies), copies.keys()
    by_suffix = {name.split(".", 4)[-1]: data for name, data in copies.items()}
    assert by_suffix == {name.split(".", 3)[-1]: data for name, data in originals.items()}  # the same bytes

    ledger = ledger_of(gateway_settings)
    try:
        assert len(ledger.acknowledgements(v01)) == 3  # not a second acknowledgement
        assert sorted(r.location.rsplit("/", 1)[1] for r in ledger.resends(v01)) == sorted(copies)
        [action] = ledger.actions()
        assert (action.who, action.action, action.target, action.source) == ("admin", "resend", f"file {v01}", "page")
    finally:
        ledger.dispose()

    # The partner has collected the CONTRL: it cannot be resent, the others can.
    (outbox / next(n for n in originals if n.endswith(".contrl.edi"))).unlink()
    answer = page("admin").post(f"/files/{v01}/resend")
    assert "no longer in the outbox" in answer.headers["location"].replace("%20", " ")
    detail = page("admin").get(f"/api/files/{v01}").json()
    resent = {a["kind"]: len(a["resends"]) for a in detail["acknowledgements"]}
    assert resent == {"contrl": 1, "cusres": 2, "report": 2}
    assert [a["action"] for a in detail["actions"]] == ["resend", "resend"]


def test_the_audit_trail_takes_actions_from_every_source(gateway_settings: Settings) -> None:
    ledger = ledger_of(gateway_settings)
    try:
        recorded = ledger.record_action(
            who="alice", action="adjustment-approval", target="declaration 10207000300014 v2", source="portal",
            detail="approved the adjustment",
        )  # fmt: skip
        assert recorded.id and recorded.at is not None
        [row] = ledger.actions(target="declaration 10207000300014 v2")
        assert (row.who, row.action, row.source, row.detail) == (
            "alice",
            "adjustment-approval",
            "portal",
            "approved the adjustment",
        )
        with pytest.raises(ValueError, match="needs who"):
            ledger.record_action(who=" ", action="reprocess", target="file 1", source="cli")
    finally:
        ledger.dispose()
    with pytest.raises(ValueError, match="unknown source 'mail'"):
        Requester("alice", "mail")


# --- reprocess validation: the DAG param and the CLI -------------------------------------------


def test_an_unknown_id_in_the_dag_param_is_named_and_the_rest_served(
    processed: dict[str, int], gateway_settings: Settings, deliver: Callable[..., Path]
) -> None:
    deliver("v02_multi_message.edi")  # a new inbox file: the partner must still be served
    i10 = processed["i10_bad_date.edi"]
    batches = service.plan_batches(gateway_settings, reprocess=[999, i10], requester=Requester("ops-user", "dag"))
    assert sorted(name for b in batches for name in b["files"]) == ["i10_bad_date.edi", "v02_multi_message.edi"]
    ledger = ledger_of(gateway_settings)
    try:
        actions = {a.target: a for a in ledger.actions()}
        assert actions["file 999"].detail == "file 999 is not in the ledger: nothing to reprocess"
        assert (actions[f"file {i10}"].who, actions[f"file {i10}"].source) == ("ops-user", "dag")
    finally:
        ledger.dispose()


def test_cli_reprocess_names_unknown_ids_and_processes_the_others(processed: dict[str, int]) -> None:
    i10 = processed["i10_bad_date.edi"]
    code, result = cli("reprocess", "--file", "999", "--file", str(i10), "--json")
    assert code == 2  # something named could not be done
    assert "file 999 is not in the ledger: nothing to reprocess" in result["notes"]
    assert result["unknown"] == [999]
    assert [(f["name"], f["state"]) for f in result["files"]] == [("i10_bad_date.edi", "quarantined")]


# --- carm-edi ledger list ---------------------------------------------------------------------


def test_ledger_list_filters_as_the_page_does(processed: dict[str, int]) -> None:
    code, listing = cli("ledger", "list", "--outcome", "rejected", "--json")
    assert code == 0
    assert sorted(f["name"] for f in listing["files"]) == ["i10_bad_date.edi", "i11_unknown_hs.edi"]
    code, listing = cli("ledger", "list", "--text", V01_TRANSACTION, "--per-page", "1", "--json")
    assert (code, listing["total"], [f["id"] for f in listing["files"]]) == (0, 1, [processed["v01_single.edi"]])
    code, text = cli("ledger", "list", "--partner", "broker01", "--per-page", "2", "--page", "2")
    assert code == 0 and text.splitlines()[0] == "3 files, page 2 of 2"
    oldest = min(processed, key=processed.__getitem__)  # claimed first: received first
    assert f"{processed[oldest]:>6}  broker01/{oldest}" in text.splitlines()[1]  # alone on page 2
    code, _ = cli("ledger", "list", "--outcome", "lost")
    assert code == 2
    code, answer = cli("ledger", "list", "--received-to", "tomorrow", "--json")
    assert code == 2 and "received_to 'tomorrow' is not a date" in answer["errors"][0]["message"]


# --- a refusal decided anew ---------------------------------------------------------------------


def test_a_refused_declaration_is_decided_anew_after_each_reprocess(
    gateway_settings: Settings, portal_server: PortalServer
) -> None:
    from tests.test_operations_browser import IMPORTER, NO_DELEGATION, UNDELEGATED_BROKER, no_delegation_file

    inbox = gateway_settings.resolved_data_dir / "partners/broker01/inbox"
    inbox.mkdir(parents=True)
    no_delegation_file(inbox)
    service.process_once(gateway_settings)
    ledger = ledger_of(gateway_settings)
    try:
        [record] = ledger.files()
        [first] = ledger.documents(record.id)
    finally:
        ledger.dispose()
    assert (record.state, record.accepted, first.status) == ("archived", False, "412")
    operator = Requester("ops", "cli")

    def again() -> tuple[str, str | None, str]:
        [result] = service.reprocess(gateway_settings, operator, file_ids=[record.id])["files"]
        ledger = ledger_of(gateway_settings)
        try:
            [document] = ledger.documents(record.id)
        finally:
            ledger.dispose()
        return result["state"], document.idempotency_key, document.status

    # Nothing fixed: the portal is asked again (a new key) and refuses again.
    assert again() == ("archived", f"{first.idempotency_key}-r1", "412")
    created = httpx.post(
        f"{portal_server.url}/v1/delegations", json={"importer": IMPORTER, "broker": UNDELEGATED_BROKER}
    )
    assert created.status_code == 201
    assert again() == ("archived", f"{first.idempotency_key}-r2", "40")
    history = httpx.get(f"{portal_server.url}/v1/declarations/10207000300014").json()
    assert [(v["version"], v["status"]) for v in history["versions"]] == [(1, "40")]  # accepted once
    notes = service.reprocess(gateway_settings, operator, file_ids=[record.id])["notes"]
    assert notes == [f"file {record.id} ({NO_DELEGATION}) is archived: nothing to reprocess"]


def test_outcome_words_tell_partly_rejected_refused_and_duplicate_files(
    processed: dict[str, int],
    gateway_settings: Settings,
    deliver: Callable[..., Path],
    page: Callable[..., TestClient],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """i12: message 1 accepted, message 2 of an unsupported type rejected (partly rejected);
    v01 delivered again, same name and content (a duplicate); v02 over a 100-byte limit (refused unread)."""
    deliver("i12_unsupported_type.edi", "v01_single.edi")
    service.process_once(gateway_settings)
    monkeypatch.setenv("CARM_MAX_FILE_BYTES", "100")
    deliver("v02_multi_message.edi")
    service.process_once(Settings())
    admin = page("admin")
    assert names(admin, outcome="partly rejected") == ["i12_unsupported_type.edi"]
    assert names(admin, outcome="duplicate") == ["v01_single.edi"]
    assert names(admin, outcome="refused") == ["v02_multi_message.edi"]
    assert names(admin, outcome="accepted") == ["v01_single.edi"]  # the first delivery
    html = admin.get("/files", params={"outcome": "partly rejected"}).text
    assert '<td class="partly-rejected">partly rejected</td>' in html
    code, listing = cli("ledger", "list", "--outcome", "refused", "--json")
    assert code == 0 and [f["name"] for f in listing["files"]] == ["v02_multi_message.edi"]
