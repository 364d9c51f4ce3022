"""RPP privilege and security on the embedded portal, over real HTTP on 127.0.0.1 (portal/rpp.py).

The figures are worked by hand: 6109100010 under MFN (02) pays 18 % duty and 5 % GST on
the value for tax, so a line of 810.00 owes 145.80 + 47.79 = 193.59 and a line of
60,000.00 owes 10,800.00 + 3,540.00 = 14,340.00 (test_portal_api works the first).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, inspect, text

from portal.rpp import SecurityKind, required_security
from portal.server import PortalServer
from tests.test_portal_api import TARIFF_PATH, make_declaration, make_line, post

IMPORTER = "123456782RM0001"
RPP_PATH = f"/v1/importers/{IMPORTER}/rpp"
SMALL, LARGE = "810.00", "60000.00"
SMALL_DUE, LARGE_DUE = Decimal("193.59"), Decimal("14340.00")


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'portal.sqlite'}"


@pytest.fixture
def http(database_url: str) -> Iterator[httpx.Client]:
    with PortalServer(database_url, TARIFF_PATH) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        yield client


def declare(
    http: httpx.Client, number: str, vfd: str, release: dt.date = dt.date(2025, 6, 2), **extra: Any
) -> httpx.Response:
    declaration = make_declaration(make_line(1, "6109100010", "2", vfd), transaction_number=number, **extra)
    return post(http, declaration.model_copy(update={"release_date": release}), f"key-{number}-{extra}")


def put_rpp(http: httpx.Client, security: dict[str, str] | None, status: str = "active") -> httpx.Response:
    return http.put(RPP_PATH, json={"status": status, "since": "2024-10-21", "security": security})


@pytest.mark.parametrize(
    ("kind", "amount", "covers"),
    [("bond", "5000.00", "10000.00"), ("cash", "10000.00", "10000.00")],
    ids=["bond-covers-twice-its-amount", "cash-covers-its-amount"],
)
def test_an_rpp_importer_over_its_security_is_accepted_with_a_warning(
    http: httpx.Client, kind: str, amount: str, covers: str
) -> None:
    security = {"kind": kind, "amount": amount, "posted": "2025-05-01"}
    put = put_rpp(http, security)
    assert put.status_code == 200, put.text
    assert put.json()["measure"]["covers"] == covers
    assert put.json()["measure"]["outstanding"] == "0.00"

    within = declare(http, "10207003000585", SMALL)
    assert within.status_code == 201
    assert "warnings" not in within.json()

    over = declare(http, "10207000220870", LARGE)
    assert over.status_code == 201
    body = over.json()
    assert body["status"] == "40"
    outstanding = SMALL_DUE + LARGE_DUE  # 14,533.59
    over_by = outstanding - Decimal(covers)  # 4,533.59
    assert [(w["code"], w["pointer"]) for w in body["warnings"]] == [("P310", "importer.account")]
    assert f"owes {outstanding}" in body["warnings"][0]["message"]
    assert f"{over_by} more than its {kind} of {amount}" in body["warnings"][0]["message"]
    assert body["errors"] == []
    # the declaration is on the account: the stored answer carries the warning
    stored = http.get("/v1/declarations/10207000220870").json()["latest"]["outcome"]
    assert stored["warnings"] == body["warnings"]

    measure = http.get(RPP_PATH, params={"as_of": "2025-06-10"}).json()["measure"]
    assert measure["outstanding"] == str(outstanding)
    assert measure["over_by"] == str(over_by)
    assert measure["highest_monthly"] == str(outstanding)  # both in the period 2025-05-18 – 2025-06-17
    assert measure["required_bond"] == "7266.80"  # 50 % of 14,533.59, half up
    assert measure["required_cash"] == str(outstanding)
    assert measure["sufficient"] is False


def test_a_change_replaces_its_original_in_the_measure(http: httpx.Client) -> None:
    assert put_rpp(http, {"kind": "cash", "amount": "14400.00", "posted": "2025-05-01"}).status_code == 200
    today = dt.date.today()  # released today: the change is a correction, taken at once
    assert "warnings" not in declare(http, "10207000220870", LARGE, today).json()  # 14,340.00 ≤ 14,400.00
    change = declare(
        http,
        "10207000220870",
        SMALL,
        today,
        version=2,
        function="4",
        amendment={"reason_code": "R2-74-1-C11", "explanation": "value corrected"},
    )
    assert change.status_code == 201
    assert "warnings" not in change.json()  # 193.59, not 14,533.59: the original no longer counts
    over = declare(http, "10207003000585", LARGE).json()  # 193.59 + 14,340.00 > 14,400.00
    assert [w["code"] for w in over["warnings"]] == ["P310"]
    assert "owes 14533.59" in over["warnings"][0]["message"]


def test_no_security_after_the_transition_is_refused(http: httpx.Client) -> None:
    assert put_rpp(http, None).status_code == 200
    before = declare(http, "10207003000585", SMALL, release=dt.date(2025, 5, 19))
    assert before.status_code == 201  # the transition measure still ran
    after = declare(http, "10207000220870", SMALL, release=dt.date(2025, 5, 20))
    assert after.status_code == 422
    assert after.json()["status"] == "41"
    assert [(e["code"], e["pointer"]) for e in after.json()["errors"]] == [("P311", "importer.account")]
    assert "2025-05-20" in after.json()["errors"][0]["message"]
    assert http.get("/v1/declarations/10207000220870").status_code == 404  # nothing stored


def test_an_importer_without_the_privilege_is_refused(http: httpx.Client) -> None:
    assert put_rpp(http, None, status="none").status_code == 200
    refused = declare(http, "10207003000585", SMALL, release=dt.date(2025, 3, 14))
    assert refused.status_code == 422
    assert [e["code"] for e in refused.json()["errors"]] == ["P312"]


def test_an_importer_without_an_rpp_record_is_not_measured(http: httpx.Client) -> None:
    assert http.get(RPP_PATH).status_code == 404
    answer = declare(http, "10207000220870", LARGE)
    assert answer.status_code == 201
    assert "warnings" not in answer.json()


def test_rpp_records_are_checked(http: httpx.Client) -> None:
    unknown = http.put(
        "/v1/importers/100000009RM0001/rpp", json={"status": "active", "security": None}
    )  # a valid RM account, not registered
    assert unknown.status_code == 422
    assert [e["code"] for e in unknown.json()["errors"]] == ["P302"]
    not_rm = http.put("/v1/importers/123026635/rpp", json={"status": "active"})
    assert [e["code"] for e in not_rm.json()["errors"]] == ["P301"]
    zero = put_rpp(http, {"kind": "bond", "amount": "0", "posted": "2025-05-01"})
    assert zero.status_code == 422
    assert [(e["code"], e["pointer"]) for e in zero.json()["errors"]] == [("P313", "security.amount")]
    assert http.get(RPP_PATH).status_code == 404  # nothing recorded
    replaced = put_rpp(http, {"kind": "bond", "amount": "5000.00", "posted": "2025-05-01"})
    assert replaced.json()["security"] == {"kind": "bond", "amount": "5000.00", "posted": "2025-05-01"}
    assert put_rpp(http, None).json()["security"] is None


def test_a_portal_database_from_before_rpp_gains_the_table(database_url: str) -> None:
    with PortalServer(database_url, TARIFF_PATH):
        pass
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE portal_rpp"))
    with PortalServer(database_url, TARIFF_PATH) as server, httpx.Client(base_url=server.url) as client:
        assert put_rpp(client, {"kind": "cash", "amount": "100.00", "posted": "2025-05-01"}).status_code == 200
    assert "portal_rpp" in inspect(engine).get_table_names()
    engine.dispose()


@pytest.mark.parametrize(
    ("kind", "highest", "required"),
    [
        (SecurityKind.BOND, "0.00", "5000.00"),  # the minimum per RM account
        (SecurityKind.BOND, "30000.01", "15000.01"),  # 50 %, half up
        (SecurityKind.BOND, "25000000.00", "10000000.00"),  # the $10 M cap
        (SecurityKind.CASH, "3000.00", "3000.00"),  # 100 %, no minimum
        (SecurityKind.CASH, "12000000.00", "10000000.00"),
    ],
)
def test_required_security(kind: SecurityKind, highest: str, required: str) -> None:
    assert required_security(kind, Decimal(highest)) == Decimal(required)
