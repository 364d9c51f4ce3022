"""Corrections and adjustments on the embedded portal (docs/rules.md "Corrections and adjustments").

A change received after 23:59:59 Eastern on the payment due date of the original's release is an
adjustment: pending (42) until an operator approves or refuses it; an approved one reaches the
statement of its approval date's billing period with interest from the original's due date.
Over real HTTP (PortalServer + httpx), the CLI in a subprocess, the ET boundary at evaluate level.

The original of most tests is released 2026-07-06: billing period 2026-06-18..2026-07-17; due the
10th weekday after Friday 2026-07-17: Mon 20 (1) ... Fri 24 (5), Mon 27 (6) ... Fri 31 (10) =
2026-07-31, no holiday then (holidays.csv). The correction window closed 2026-07-31 23:59:59 EDT.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from domain.declaration import Declaration
from domain.outcome import OutcomeStatus
from duties.tariff import Tariff
from portal.adjustments import decided_outcome
from portal.app import evaluate
from portal.payments import PortalCalendar
from portal.server import PortalServer
from portal.store import Decision, PortalStore, StoredVersion
from tests.test_portal_api import TARIFF_PATH, make_declaration, make_line, post

ACCOUNT = "123456782RM0001"
TXN = "10207003000585"
OTHER_TXN = "10207000220870"
RELEASED = dt.date(2026, 7, 6)
ORIGINAL_DUE = dt.date(2026, 7, 31)
EASTERN = ZoneInfo("America/Toronto")
REASON = {"reason_code": "R2-74-1-E.TC", "explanation": "treatment corrected"}
RATES = Path(__file__).resolve().parent.parent / "fixtures" / "reference" / "prescribed_rates.csv"
API_KEY = "adjust-key"

# By hand, VFD 810.00 of HS 6109100010: UST (10) duty 0, GST 5 % x 810.00 = 40.50;
# MFN (2) duty 18 % x 810.00 = 145.80, GST 5 % x (810.00 + 145.80) = 47.79: 193.59.
UST_TOTAL = Decimal("40.50")
MFN_TOTAL = Decimal("193.59")
RAISED_BY = MFN_TOTAL - UST_TOTAL  # 153.09


def specified_interest(amount: Decimal, due: dt.date, as_of: dt.date) -> Decimal:
    """Daily-compounded interest at prescribed + 6 % a year from the day after ``due`` to ``as_of``,
    each day at the rate of the prescribed_rates.csv row in force, computed here from the rows."""
    lines = [line for line in RATES.read_text().splitlines() if line and not line.startswith("#")]
    rows = [(dt.date.fromisoformat(r["valid_from"]), Decimal(r["prescribed_rate"])) for r in csv.DictReader(lines)]
    balance, day = amount, due + dt.timedelta(days=1)
    while day <= as_of:
        rate = max((start, rate) for start, rate in rows if start <= day)[1] + 6
        balance = balance * (1 + rate / 100 / 365)
        day += dt.timedelta(days=1)
    return (balance - amount).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def period_of(day: dt.date) -> str:
    """The billing period (18th to 17th) holding ``day``, by the month of its end."""
    if day.day <= 17:
        return f"{day:%Y-%m}"
    return f"{day.year + 1}-01" if day.month == 12 else f"{day.year}-{day.month + 1:02d}"


def declaration(*, treatment: str, version: int = 1, function: str = "9", **extra: Any) -> Declaration:
    return make_declaration(
        make_line(treatment=treatment), version=version, function=function, release_date=RELEASED, **extra
    )


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'portal.sqlite'}"


@pytest.fixture
def portal(database_url: str) -> Iterator[PortalServer]:
    with PortalServer(database_url, TARIFF_PATH, api_key=API_KEY) as server:
        yield server


@pytest.fixture
def http(portal: PortalServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=portal.url, timeout=10, headers={"x-api-key": API_KEY}) as client:
        yield client


def pay(http: httpx.Client, amount: Decimal, value_date: dt.date, reference: str = "E2E-1") -> None:
    payment = {
        "message_id": f"MSG-{reference}",
        "end_to_end_reference": reference,
        "amount": str(amount),
        "currency": "CAD",
        "value_date": value_date.isoformat(),
        "remittance": [{"account": ACCOUNT, "transaction_numbers": [TXN]}],
    }
    assert http.post("/v1/payments", json=payment, headers={"Idempotency-Key": reference}).status_code == 201


def statement(http: httpx.Client, as_of: dt.date) -> dict[str, Any]:
    response = http.get(f"/v1/accounts/{ACCOUNT}/statement", params={"as_of": as_of.isoformat()})
    assert response.status_code == 200
    return response.json()


def decide(http: httpx.Client, version: int, decision: str, **body: Any) -> httpx.Response:
    return http.post(
        f"/v1/declarations/{TXN}/versions/{version}/decision",
        json={"decision": decision, "operator": "ops.jane"} | body,
    )


def paid_original_and_late_raise(http: httpx.Client) -> httpx.Response:
    """The original (UST, 40.50) paid on time, then the change to MFN posted now: an adjustment."""
    assert post(http, declaration(treatment="10"), "v1").status_code == 201
    pay(http, UST_TOTAL, dt.date(2026, 7, 20))
    return post(http, declaration(treatment="2", version=2, function="4", amendment=REASON), "v2")


def errors(response: httpx.Response) -> list[tuple[str, str | None]]:
    return [(e["code"], e["pointer"]) for e in response.json()["errors"]]


# --- the must-show: pending → approved → on the statement with interest -------------------------


def test_an_adjustment_is_pending_then_approved_onto_the_statement_of_its_approval_date(http: httpx.Client) -> None:
    late = paid_original_and_late_raise(http)
    assert late.status_code == 202
    pending = late.json()
    assert (pending["status"], pending["total_duty"], pending["total_gst"]) == ("42", "145.80", "47.79")

    today = dt.datetime.now(EASTERN).date()
    before = statement(http, today)
    [line] = before["debits"]  # the adjustment does not touch the ledger while pending
    assert (line["version"], line["kind"], line["assessed"], line["outstanding"]) == (1, "declaration", "40.50", "0.00")
    assert (before["balance"], before["interest"]) == ("0.00", "0.00")  # paid 2026-07-20, before its due date
    [waiting] = before["pending"]
    assert (waiting["version"], waiting["assessed"], Decimal(waiting["difference"])) == (2, "193.59", RAISED_BY)
    assert [a["state"] for a in http.get("/v1/adjustments", params={"status": "pending"}).json()["adjustments"]] == [
        "pending"
    ]

    asked = dt.datetime.now(dt.UTC)
    approved = decide(http, 2, "approve", note="classification confirmed")
    answered = dt.datetime.now(dt.UTC)
    assert approved.status_code == 201
    record = approved.json()
    assert (record["state"], record["status"], record["operator"], record["note"]) == (
        "approved",
        "40",
        "ops.jane",
        "classification confirmed",
    )
    decided_at = dt.datetime.fromisoformat(record["decided_at"])
    assert asked <= decided_at <= answered
    assert http.get(f"/v1/declarations/{TXN}/versions/2").json()["outcome"]["status"] == "40"
    [listed] = http.get("/v1/adjustments", params={"status": "approved"}).json()["adjustments"]
    assert (listed["version"], listed["operator"], listed["decided_at"]) == (2, "ops.jane", record["decided_at"])
    assert http.get("/v1/adjustments", params={"status": "pending"}).json()["adjustments"] == []

    approval_day = decided_at.astimezone(EASTERN).date()
    after = statement(http, approval_day)
    original, adjustment = after["debits"]
    assert (original["version"], original["outstanding"], original["interest"]) == (1, "0.00", "0.00")
    assert (adjustment["version"], adjustment["kind"], Decimal(adjustment["assessed"])) == (2, "adjustment", RAISED_BY)
    assert adjustment["approved_at"] == record["decided_at"]
    assert adjustment["period"] == period_of(approval_day)  # the statement of its approval date
    assert adjustment["interest_from"] == ORIGINAL_DUE.isoformat()  # owing since the original's due date
    expected = specified_interest(RAISED_BY, ORIGINAL_DUE, approval_day)
    assert Decimal(adjustment["interest"]) == expected
    days = (approval_day - ORIGINAL_DUE).days  # sanity: compounding adds a little to simple interest at 9 %
    simple = RAISED_BY * Decimal("0.09") * days / 365
    assert simple <= expected <= simple * Decimal("1.02") + Decimal("0.01")
    assert (Decimal(after["balance"]), Decimal(after["interest"]), after["pending"]) == (RAISED_BY, expected, [])
    [period] = [p for p in after["periods"] if p["period"] == adjustment["period"]]
    assert (period["due_date"], Decimal(period["assessed"])) == (adjustment["due_date"], RAISED_BY)
    assert after["periods"][0]["period"] == "2026-07"  # the original stays on its own period

    again = decide(http, 2, "approve", note="second click")
    assert (again.status_code, again.json()) == (200, record)  # the same decision: the first, unchanged
    other = decide(http, 2, "refuse", note="changed my mind")
    assert (other.status_code, errors(other)) == (409, [("P111", "decision")])


def test_the_approval_day_is_eastern_and_interest_runs_to_as_of(http: httpx.Client, database_url: str) -> None:
    """The store takes the decision time: 2027-01-18 04:30 UTC is 2027-01-17 23:30 EST, so the
    adjustment lands on the period ending 2027-01-17 (statement 2027-01-25), due the 10th weekday
    after it: Mon 18 (1) ... Fri 22 (5), Mon 25 (6) ... Fri 29 (10) = 2027-01-29."""
    assert paid_original_and_late_raise(http).status_code == 202
    store = PortalStore.from_url(database_url)
    try:
        made = store.decide(
            TXN,
            2,
            Decision.APPROVE,
            operator="ops.night",
            note=None,
            decided_at=dt.datetime(2027, 1, 18, 4, 30, tzinfo=dt.UTC),
            decided_outcome=decided_outcome,
        )
    finally:
        store.dispose()
    assert made is not None and made[1]
    as_of = dt.date(2027, 2, 10)
    found = statement(http, as_of)
    adjustment = found["debits"][1]
    assert (adjustment["period"], adjustment["due_date"]) == ("2027-01", "2027-01-29")
    assert Decimal(adjustment["interest"]) == specified_interest(RAISED_BY, ORIGINAL_DUE, as_of)
    [period] = [p for p in found["periods"] if p["period"] == "2027-01"]
    assert (period["statement_date"], period["overdue"]) == ("2027-01-25", True)


def test_a_refused_adjustment_never_reaches_the_statement_and_its_number_is_not_reused(http: httpx.Client) -> None:
    assert paid_original_and_late_raise(http).status_code == 202
    no_note = decide(http, 2, "refuse")
    assert (no_note.status_code, errors(no_note)) == (422, [("P112", "note")])
    refused = decide(http, 2, "refuse", note="no evidence of origin")
    assert refused.status_code == 201
    assert (refused.json()["state"], refused.json()["status"]) == ("refused", "41")
    outcome = http.get(f"/v1/declarations/{TXN}/versions/2").json()["outcome"]
    assert outcome["status"] == "41"
    assert [(e["code"], e["message"]) for e in outcome["errors"]] == [
        ("P120", "The adjustment was refused by CBSA: no evidence of origin")
    ]
    assert (decide(http, 2, "refuse", note="again").status_code, decide(http, 2, "approve").status_code) == (200, 409)

    found = statement(http, dt.date(2027, 2, 10))
    assert [(d["version"], d["kind"]) for d in found["debits"]] == [(1, "declaration")]
    assert (found["balance"], found["interest"], found["pending"]) == ("0.00", "0.00", [])

    reuse = post(http, declaration(treatment="2", version=2, function="4", amendment=REASON), "v2-again")
    assert errors(reuse) == [("P104", "version")]  # version 2 is taken by the refused adjustment
    third = post(http, declaration(treatment="2", version=3, function="4", amendment=REASON), "v3")
    assert (third.status_code, third.json()["status"]) == (202, "42")
    history = http.get(f"/v1/declarations/{TXN}").json()
    assert [(v["version"], v["status"]) for v in history["versions"]] == [(1, "40"), (2, "41"), (3, "42")]
    assert history["latest"]["version"] == 1  # the latest accepted version
    [waiting] = statement(http, dt.date(2027, 2, 10))["pending"]
    assert (waiting["version"], Decimal(waiting["difference"])) == (3, RAISED_BY)  # against version 1


def test_a_second_change_while_one_is_pending_is_refused(http: httpx.Client) -> None:
    assert paid_original_and_late_raise(http).status_code == 202
    second = post(http, declaration(treatment="10", version=3, function="4", amendment=REASON), "v3")
    assert (second.status_code, errors(second)) == (422, [("P107", "transaction_number")])
    cancel = post(http, declaration(treatment="10", version=3, function="1"), "v3-cancel")
    assert errors(cancel) == [("P107", "transaction_number")]
    assert [v["version"] for v in http.get(f"/v1/declarations/{TXN}").json()["versions"]] == [1, 2]


def test_a_late_cancellation_is_an_adjustment_and_its_approval_credits_the_account(http: httpx.Client) -> None:
    assert post(http, declaration(treatment="10"), "v1").status_code == 201
    pay(http, UST_TOTAL, dt.date(2026, 7, 20))
    cancel = post(http, declaration(treatment="10", version=2, function="1"), "v2-cancel")
    assert (cancel.status_code, cancel.json()["status"]) == (202, "42")
    assert http.get(f"/v1/declarations/{TXN}").json()["cancelled"] is False  # not until approved
    assert decide(http, 2, "approve").status_code == 201
    found = statement(http, dt.date(2027, 2, 10))
    credit = found["debits"][1]
    assert (credit["kind"], credit["cancelled"], credit["assessed"], credit["interest"]) == (
        "adjustment",
        True,
        "-40.50",
        "0.00",  # a credit bears no interest
    )
    assert found["balance"] == "-40.50"  # the paid duties are owed back
    assert http.get(f"/v1/declarations/{TXN}").json()["cancelled"] is True


def test_a_correction_before_the_deadline_is_taken_at_once_and_is_not_decided(http: httpx.Client) -> None:
    today = dt.datetime.now(EASTERN).date()
    original = make_declaration(make_line(treatment="10"), release_date=today)
    assert post(http, original, "v1").status_code == 201
    change = make_declaration(make_line(treatment="2"), version=2, function="4", amendment=REASON, release_date=today)
    correction = post(http, change, "v2")
    assert (correction.status_code, correction.json()["status"]) == (201, "40")
    [line] = statement(http, today)["debits"]
    assert (line["version"], line["kind"], Decimal(line["assessed"])) == (2, "declaration", MFN_TOTAL)
    not_pending = decide(http, 2, "approve")
    assert (not_pending.status_code, errors(not_pending)) == (409, [("P110", "version")])
    assert decide(http, 7, "approve").status_code == 404
    assert http.get("/v1/adjustments").json()["adjustments"] == []


@pytest.mark.parametrize(
    ("reason", "code"), [("R9-NOT-A-CODE", "P108"), ("X-CBSA-RESERVED", "P109")], ids=["unknown", "cbsa-reserved"]
)
@pytest.mark.parametrize("released", [RELEASED, None], ids=["late", "on-time"])
def test_reason_codes_are_checked_against_appendix_a(
    http: httpx.Client, reason: str, code: str, released: dt.date | None
) -> None:
    release = released or dt.datetime.now(EASTERN).date()
    assert post(http, make_declaration(release_date=release), "v1").status_code == 201
    change = make_declaration(version=2, function="4", amendment={"reason_code": reason}, release_date=release)
    refused = post(http, change, "v2")
    assert (refused.status_code, refused.json()["status"]) == (422, "41")
    assert errors(refused) == [(code, "amendment.reason_code")]
    assert reason in refused.json()["errors"][0]["message"]
    assert [v["version"] for v in http.get(f"/v1/declarations/{TXN}").json()["versions"]] == [1]


# --- the deadline: 23:59:59 Eastern on the due date, by the time received -----------------------


@pytest.mark.parametrize(
    ("received_at", "kind", "status"),
    [
        (dt.datetime(2026, 8, 1, 3, 59, 59, tzinfo=dt.UTC), "adjustment", OutcomeStatus.ACCEPTED),  # 23:59:59 EDT
        (dt.datetime(2026, 8, 1, 4, 0, 0, tzinfo=dt.UTC), "correction", OutcomeStatus.PENDING),  # 00:00 EDT, Aug 1
    ],
    ids=["23:59:59-ET-on-the-due-date", "00:00-ET-the-day-after"],
)
def test_the_deadline_is_the_end_of_the_due_date_in_eastern_time(
    received_at: dt.datetime, kind: str, status: OutcomeStatus
) -> None:
    """The declared amendment kind does not matter: the time received decides."""
    original = declaration(treatment="10")
    stored = StoredVersion(
        transaction_number=TXN,
        version=1,
        function="9",
        body=original.model_dump(mode="json"),
        status="40",
        outcome={},
        received_at=dt.datetime(2026, 7, 6, 15, tzinfo=dt.UTC),
    )
    change = declaration(treatment="2", version=2, function="4", amendment=REASON | {"kind": kind})
    calendar = PortalCalendar.load()
    outcome = evaluate(change, [stored], Tariff.load(TARIFF_PATH), received_at, calendar=calendar)
    assert outcome.status is status
    assert outcome.total_due == MFN_TOTAL  # assessed either way


# --- the CLI over HTTP ---------------------------------------------------------------------------


def cli(portal: PortalServer, *args: str, env: dict[str, str] | None = None) -> tuple[int, Any, str]:
    """``carm-edi portal ARGS`` in a subprocess; its data folder is a fresh one unless ``env`` names one
    (a decision goes to the audit trail of a ledger found there)."""
    env = {
        **os.environ, "CARM_PORTAL_URL": portal.url, "CARM_PORTAL_API_KEY": API_KEY, "CARM_PORTAL_MAX_ATTEMPTS": "1",
        "CARM_DATA_DIR": os.path.join(tempfile.gettempdir(), f"carm-portal-cli-{uuid.uuid4().hex}"),  # never made
        **(env or {}),
    }  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "portal", *args], capture_output=True, text=True, timeout=120, env=env
    )
    assert "Traceback" not in result.stderr, result.stderr
    try:
        return result.returncode, json.loads(result.stdout), result.stderr
    except ValueError:
        return result.returncode, result.stdout, result.stderr


def test_an_operator_decides_from_the_cli(http: httpx.Client, portal: PortalServer) -> None:
    assert paid_original_and_late_raise(http).status_code == 202
    code, listed, _ = cli(portal, "adjustments", "--status", "pending", "--json")
    assert code == 0
    assert [(a["transaction_number"], a["version"], a["state"]) for a in listed["adjustments"]] == [(TXN, 2, "pending")]

    code, _, stderr = cli(portal, "refuse", TXN, "2")  # a refusal needs --note
    assert code == 2 and "--note" in stderr
    code, approved, _ = cli(portal, "approve", TXN, "2", "--operator", "ops.cli", "--note", "checked", "--json")
    assert code == 0
    assert (approved["state"], approved["operator"], approved["note"]) == ("approved", "ops.cli", "checked")
    code, _, stderr = cli(portal, "refuse", TXN, "2", "--note", "too late")
    assert code == 1 and "P111" in stderr

    code, text, _ = cli(portal, "adjustments", "--status", "approved")
    assert code == 0 and f"transaction_number={TXN} version=2 state=approved" in text and "operator=ops.cli" in text
    [_, adjustment] = statement(http, dt.date(2027, 2, 10))["debits"]
    assert (adjustment["kind"], Decimal(adjustment["assessed"])) == ("adjustment", RAISED_BY)


def test_the_operator_defaults_to_the_os_user(http: httpx.Client, portal: PortalServer) -> None:
    import getpass

    assert paid_original_and_late_raise(http).status_code == 202
    code, approved, _ = cli(portal, "approve", TXN, "2", "--json")
    assert (code, approved["operator"]) == (0, getpass.getuser())


# --- the decisions in the gateway ledger's audit trail ------------------------------------------


def audit_rows(ledger_url: str) -> list[tuple[str, str, str, str, str | None]]:
    from ledger import Ledger

    ledger = Ledger(ledger_url)
    try:
        return [(a.who, a.action, a.target, a.source, a.detail) for a in reversed(ledger.actions())]
    finally:
        ledger.dispose()


def test_a_decision_from_the_cli_is_in_the_audit_trail(
    http: httpx.Client, portal: PortalServer, tmp_path: Path
) -> None:
    ledger_url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    assert paid_original_and_late_raise(http).status_code == 202
    env = {"CARM_LEDGER_URL": ledger_url}
    code, _, _ = cli(portal, "approve", TXN, "2", "--operator", "ops.cli", "--note", "checked", "--json", env=env)
    assert code == 0
    code, _, _ = cli(portal, "approve", TXN, "2", "--operator", "ops.second", env=env)  # the same decision again
    assert code == 0
    code, _, stderr = cli(portal, "refuse", TXN, "2", "--note", "too late", env=env)  # refused by the portal
    assert code == 1 and "P111" in stderr
    target = f"declaration {TXN} v2"
    assert audit_rows(ledger_url) == [
        ("ops.cli", "adjustment-approval", target, "cli", f"approved: difference {RAISED_BY}, note: checked"),
        ("ops.second", "adjustment-approval", target, "cli",
         f"approved: difference {RAISED_BY}, note: checked; decided before by ops.cli, answered unchanged"),
    ]  # fmt: skip


def test_without_a_ledger_the_cli_writes_no_audit_trail(
    http: httpx.Client, portal: PortalServer, tmp_path: Path
) -> None:
    assert paid_original_and_late_raise(http).status_code == 202
    data = tmp_path / "data"
    code, _, _ = cli(portal, "approve", TXN, "2", "--operator", "ops.cli", env={"CARM_DATA_DIR": str(data)})
    assert code == 0 and not (data / "ledger.sqlite").exists()


def test_the_portal_beside_the_ledger_records_every_decision_once(tmp_path: Path) -> None:
    from gateway.portal_commands import decision_recorder

    ledger_url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    with (
        PortalServer(
            f"sqlite:///{tmp_path / 'portal.sqlite'}", TARIFF_PATH, api_key=API_KEY,
            on_decision=decision_recorder(ledger_url),
        ) as portal,
        httpx.Client(base_url=portal.url, timeout=10, headers={"x-api-key": API_KEY}) as http,
    ):  # fmt: skip
        assert paid_original_and_late_raise(http).status_code == 202
        approved = decide(http, 2, "approve", note="direct call")  # the API called directly: from the portal
        assert approved.status_code == 201 and approved.headers["X-Audit-Trail"] == "recorded"
        code, _, _ = cli(portal, "approve", TXN, "2", "--operator", "ops.cli", env={"CARM_LEDGER_URL": ledger_url})
        assert code == 0
        assert decide(http, 2, "refuse", note="no").status_code == 409  # not a decision: not recorded
    target = f"declaration {TXN} v2"
    assert [(who, action, where, source) for who, action, where, source, _ in audit_rows(ledger_url)] == [
        ("ops.jane", "adjustment-approval", target, "portal"),
        ("ops.cli", "adjustment-approval", target, "cli"),  # written by the portal, not again by the CLI
    ]
