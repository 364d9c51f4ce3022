"""The portal's HTTP API over real HTTP on 127.0.0.1 (PortalServer + httpx)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.responses import Response
from sqlalchemy import Engine, create_engine, text

from domain.declaration import Declaration, DeclarationLine
from duties.tariff import Tariff
from portal.app import submit
from portal.server import PortalServer
from portal.store import PortalStore, StoredVersion
from tests.builders import NO_OTHER_CHARGES

TARIFF_PATH = Path(__file__).resolve().parent.parent / "fixtures" / "reference" / "tariff.csv"
TXN = "10207003000585"
RELEASED = dt.date.today()
"""Released today: a change is a correction (before the payment due date), taken at once."""
OTHER_TXN = "10207000220870"


def make_line(
    number: int = 1, hs_code: str = "6109100010", treatment: str = "2", vfd: str = "810.00", **extra: Any
) -> DeclarationLine:
    return DeclarationLine(
        line_number=number,
        description="Cotton T-shirts",
        hs_code=hs_code,
        tariff_treatment=treatment,
        country_of_origin="CN",
        quantity=Decimal("100"),
        unit="NMB",
        invoice_amount=Decimal(vfd),
        value_for_duty=Decimal(vfd),
        **extra,
    )


def make_declaration(
    *lines: DeclarationLine,
    transaction_number: str = TXN,
    version: int = 1,
    function: str = "9",
    importer: str = "123456782RM0001",
    amendment: dict[str, str] | None = None,
    release_date: dt.date = RELEASED,
) -> Declaration:
    return Declaration(
        transaction_number=transaction_number,
        version=version,
        function=function,
        type_code="AB",
        importer={"account": importer, "name": "Maple Imports Inc."},
        declarant={"account": "123026635RM0001", "name": "Border Brokers Ltd."},
        office_of_release="0497",
        release_date=release_date,
        currency="CAD",
        exchange_rate=Decimal("1"),
        invoice={"number": "INV-2025-001", "issue_date": dt.date(2025, 3, 10)},
        vendor={"name": "Shenzhen Apparel Co.", "country": "CN"},
        amendment=amendment,
        lines=list(lines) or [make_line()],
    )


CHANGE_REASON = {"reason_code": "R2-74-1-C11", "explanation": "treatment changed"}


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'portal.sqlite'}"


@pytest.fixture
def portal(database_url: str) -> Iterator[PortalServer]:
    with PortalServer(database_url, TARIFF_PATH) as server:
        yield server


@pytest.fixture
def http(portal: PortalServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=portal.url, timeout=10) as client:
        yield client


def post(http: httpx.Client, declaration: Declaration, key: str) -> httpx.Response:
    return http.post("/v1/declarations", json=declaration.model_dump(mode="json"), headers={"Idempotency-Key": key})


def count_rows(database_url: str, table: str) -> int:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return connection.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one()
    finally:
        engine.dispose()


def assessed(line_number: int, vfd: str, duty: str, excise: str, vft: str, gst: str) -> dict[str, Any]:
    """A line of ordinary goods: none of the charges beyond duty, excise tax and GST."""
    return {
        "line_number": line_number,
        "value_for_duty": vfd,
        "customs_duty": duty,
        "excise_tax": excise,
        "value_for_tax": vft,
        "gst": gst,
    } | NO_OTHER_CHARGES


NO_OTHER_TOTALS = {
    "total_excise_duty": "0.00",
    "total_anti_dumping": "0.00",
    "total_countervailing": "0.00",
    "total_surtax": "0.00",
    "total_safeguard": "0.00",
}


def error_list(response: httpx.Response) -> list[tuple[str, str | None]]:
    return [(error["code"], error["pointer"]) for error in response.json()["errors"]]


def test_accepted_declaration_answers_the_assessment(http: httpx.Client) -> None:
    declaration = make_declaration(
        make_line(1, "6109100010", "2", "810.00", customs_duty=Decimal("999.99")),  # declared amount is ignored
        make_line(2, "0901210000", "2", "200.00"),
        make_line(3, "8415100000", "2", "1234.56"),
        make_line(4, "6109100010", "10", "500.00"),
    )
    response = post(http, declaration, "key-accepted")

    assert response.status_code == 201
    body = response.json()
    received_at = dt.datetime.fromisoformat(body.pop("received_at"))
    assert received_at.tzinfo is not None
    assert body == {
        "transaction_number": TXN,
        "version": 1,
        "status": "40",
        "lines": [
            # 810.00 × 18 % = 145.80; VFT 955.80; GST 47.79
            assessed(1, "810.00", "145.80", "0.00", "955.80", "47.79"),
            # coffee: GST-exempt
            assessed(2, "200.00", "0.00", "0.00", "200.00", "0.00"),
            # excise 10 %: 123.456 → 123.46; VFT 1358.02; GST 67.901 → 67.90
            assessed(3, "1234.56", "0.00", "123.46", "1358.02", "67.90"),
            # UST: duty free; GST 25.00
            assessed(4, "500.00", "0.00", "0.00", "500.00", "25.00"),
        ],
        "total_duty": "145.80",
        "total_excise": "123.46",
        "total_gst": "140.69",
        **NO_OTHER_TOTALS,
        "errors": [],
        "tariff_version": "2025.1-illustrative",  # the assessment names the tariff it used
    }


def test_rejection_lists_every_error_with_its_pointer(http: httpx.Client, database_url: str) -> None:
    declaration = make_declaration(
        make_line(1),
        make_line(2, hs_code="9999999999"),
        make_line(3, treatment="99"),
        version=2,
        importer="123456782RP0001",
    )
    response = post(http, declaration, "key-rejected")

    assert response.status_code == 422
    body = response.json()
    assert (body["transaction_number"], body["version"], body["status"]) == (TXN, 2, "41")
    assert (body["lines"], body["total_duty"], body["total_gst"]) == ([], "0.00", "0.00")
    assert error_list(response) == [
        ("P101", "version"),
        ("P301", "importer.account"),
        ("P201", "lines[1].hs_code"),
        ("P202", "lines[2].tariff_treatment"),
    ]
    assert all(error["message"] for error in body["errors"])
    assert count_rows(database_url, "portal_declarations") == 0


def test_repeat_with_the_same_key_replays_the_first_answer(http: httpx.Client, database_url: str) -> None:
    declaration = make_declaration()
    first = post(http, declaration, "key-repeat")
    second = post(http, declaration, "key-repeat")

    assert (first.status_code, second.status_code) == (201, 201)
    assert second.content == first.content
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert count_rows(database_url, "portal_declarations") == 1
    assert count_rows(database_url, "portal_idempotency_keys") == 1


def test_repeat_of_a_rejection_replays_the_rejection(http: httpx.Client) -> None:
    assert post(http, make_declaration(), "key-original").status_code == 201
    duplicate = make_declaration()
    first = post(http, duplicate, "key-duplicate")
    second = post(http, duplicate, "key-duplicate")

    assert (first.status_code, second.status_code) == (422, 422)
    assert error_list(first) == [("P102", "transaction_number")]
    assert second.content == first.content


def test_same_key_with_another_body_is_a_conflict(http: httpx.Client, database_url: str) -> None:
    assert post(http, make_declaration(), "key-reused").status_code == 201
    response = post(http, make_declaration(transaction_number=OTHER_TXN), "key-reused")

    assert response.status_code == 409
    assert response.json() == {
        "errors": [
            {
                "code": "P003",
                "message": "The Idempotency-Key was already used with a different request body",
                "pointer": None,
            }
        ]
    }
    assert count_rows(database_url, "portal_declarations") == 1


def test_same_declaration_formatted_differently_is_the_same_request(http: httpx.Client) -> None:
    body = make_declaration().model_dump(mode="json")
    first = post(http, make_declaration(), "key-format")
    reordered = {key: body[key] for key in reversed(list(body)) if body[key] is not None}
    second = http.post(
        "/v1/declarations",
        content=json.dumps(reordered, indent=2).encode(),
        headers={"Idempotency-Key": "key-format", "content-type": "application/json"},
    )
    assert (second.status_code, second.content) == (201, first.content)


@pytest.mark.parametrize("headers", [{}, {"Idempotency-Key": ""}, {"Idempotency-Key": "k" * 256}])
def test_missing_or_oversized_idempotency_key_is_a_bad_request(http: httpx.Client, headers: dict[str, str]) -> None:
    response = http.post("/v1/declarations", json=make_declaration().model_dump(mode="json"), headers=headers)
    assert response.status_code == 400
    assert error_list(response) == [("P002", None)]


def test_schema_errors_are_carm_style_with_domain_pointers(http: httpx.Client) -> None:
    body = make_declaration().model_dump(mode="json")
    body["invoices"][0]["lines"][0]["hs_code"] = "61091"
    body["importer"]["account"] = "123456782"
    body["colour"] = "blue"
    response = http.post("/v1/declarations", json=body, headers={"Idempotency-Key": "key-schema"})

    assert response.status_code == 422
    outcome = response.json()
    assert (outcome["transaction_number"], outcome["version"], outcome["status"]) == (TXN, 1, "400")
    assert sorted(error_list(response)) == [
        ("P001", "colour"),
        ("P001", "importer.account"),
        ("P001", "lines[0].hs_code"),
    ]


def test_invalid_json_is_a_syntax_error_without_pointer(http: httpx.Client) -> None:
    response = http.post(
        "/v1/declarations",
        content=b'{"transaction_number": ',
        headers={"Idempotency-Key": "key-json", "content-type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["status"] == "400"
    assert error_list(response) == [("P001", None)]


def test_version_rules(http: httpx.Client) -> None:
    assert post(http, make_declaration(), "v1").status_code == 201

    original_again = post(http, make_declaration(), "v1-again")
    assert error_list(original_again) == [("P102", "transaction_number")]

    no_amendment = post(http, make_declaration(version=2, function="4"), "v2-no-amendment")
    assert error_list(no_amendment) == [("P106", "amendment")]

    gap = post(http, make_declaration(version=3, function="4", amendment=CHANGE_REASON), "v3-gap")
    assert error_list(gap) == [("P104", "version")]

    unknown_txn = make_declaration(transaction_number=OTHER_TXN, version=2, function="4", amendment=CHANGE_REASON)
    unknown = post(http, unknown_txn, "unknown")
    assert error_list(unknown) == [("P103", "transaction_number")]

    # correction to UST: duty goes from 145.80 to 0.00, GST from 47.79 to 40.50
    to_ust = make_declaration(make_line(treatment="10"), version=2, function="4", amendment=CHANGE_REASON)
    correction = post(http, to_ust, "v2")
    assert correction.status_code == 201
    corrected = correction.json()
    assert (corrected["version"], corrected["total_duty"], corrected["total_gst"]) == (2, "0.00", "40.50")

    cancellation = post(http, make_declaration(version=3, function="1"), "v3-cancel")
    assert cancellation.status_code == 201
    cancelled = cancellation.json()
    assert (cancelled["status"], cancelled["lines"]) == ("40", [])
    assert (cancelled["total_duty"], cancelled["total_excise"], cancelled["total_gst"]) == ("0.00", "0.00", "0.00")

    after_cancel = post(http, make_declaration(version=4, function="4", amendment=CHANGE_REASON), "v4")
    assert error_list(after_cancel) == [("P105", "transaction_number")]
    cancel_again = post(http, make_declaration(version=5, function="1"), "v5-cancel")
    assert error_list(cancel_again) == [("P105", "transaction_number"), ("P104", "version")]


def test_cancellation_of_an_unknown_transaction_is_rejected(http: httpx.Client) -> None:
    response = post(http, make_declaration(version=2, function="1"), "cancel-unknown")
    assert error_list(response) == [("P103", "transaction_number")]


def test_get_endpoints_return_history_and_versions(http: httpx.Client) -> None:
    original = make_declaration()
    correction = make_declaration(make_line(treatment="10"), version=2, function="4", amendment=CHANGE_REASON)
    first = post(http, original, "g1").json()
    second = post(http, correction, "g2").json()

    history = http.get(f"/v1/declarations/{TXN}")
    assert history.status_code == 200
    body = history.json()
    assert (body["transaction_number"], body["cancelled"]) == (TXN, False)
    assert [(v["version"], v["function"], v["status"]) for v in body["versions"]] == [(1, "9", "40"), (2, "4", "40")]
    assert body["latest"]["declaration"] == correction.model_dump(mode="json")
    assert body["latest"]["outcome"]["total_gst"] == second["total_gst"] == "40.50"

    version_1 = http.get(f"/v1/declarations/{TXN}/versions/1").json()
    assert version_1["declaration"] == original.model_dump(mode="json")
    assert version_1["outcome"]["total_duty"] == first["total_duty"] == "145.80"
    received_at = dt.datetime.fromisoformat(version_1["outcome"]["received_at"])
    assert received_at == dt.datetime.fromisoformat(first["received_at"])


@pytest.mark.parametrize("path", [f"/v1/declarations/{OTHER_TXN}", f"/v1/declarations/{TXN}/versions/7"])
def test_unknown_declaration_is_077(http: httpx.Client, path: str) -> None:
    post(http, make_declaration(), "known")
    response = http.get(path)
    assert response.status_code == 404
    errors = response.json()["errors"]
    assert [(error["code"], error["message"]) for error in errors] == [("077", "No Data Found or Access Denied")]


def test_health_and_openapi(http: httpx.Client) -> None:
    assert http.get("/health").json() == {"status": "ok", "tariff_version": "2025.1-illustrative"}
    spec = http.get("/openapi.json").json()
    assert set(spec["paths"]) >= {
        "/v1/declarations",
        "/v1/declarations/{transaction_number}",
        "/v1/declarations/{transaction_number}/versions/{version}",
        "/health",
    }
    post_spec = spec["paths"]["/v1/declarations"]["post"]
    assert {"201", "400", "409", "422"} <= set(post_spec["responses"])
    assert "Idempotency-Key" in {parameter["name"] for parameter in post_spec["parameters"]}


def test_api_key_is_checked_when_configured(database_url: str) -> None:
    server = PortalServer(database_url, TARIFF_PATH, api_key="s3cret")
    with server, httpx.Client(base_url=server.url) as client:
        body = make_declaration().model_dump(mode="json")
        missing = client.post("/v1/declarations", json=body, headers={"Idempotency-Key": "k"})
        wrong = client.get(f"/v1/declarations/{TXN}", headers={"x-api-key": "nope"})
        right = client.post("/v1/declarations", json=body, headers={"Idempotency-Key": "k", "x-api-key": "s3cret"})

        assert (missing.status_code, wrong.status_code, right.status_code) == (401, 401, 201)
        assert error_list(missing) == [("P004", None)]
        assert client.get("/health").status_code == 200


def test_concurrent_posts_with_one_key_store_one_declaration(portal: PortalServer, database_url: str) -> None:
    body = make_declaration().model_dump(mode="json")

    def send(_: int) -> httpx.Response:
        return httpx.post(f"{portal.url}/v1/declarations", json=body, headers={"Idempotency-Key": "race"}, timeout=30)

    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(send, range(8)))

    assert {response.status_code for response in responses} == {201}
    assert len({response.content for response in responses}) == 1
    assert count_rows(database_url, "portal_declarations") == 1


def test_concurrent_originals_with_different_keys_accept_one(portal: PortalServer, database_url: str) -> None:
    body = make_declaration().model_dump(mode="json")

    def send(index: int) -> httpx.Response:
        headers = {"Idempotency-Key": f"race-{index}"}
        return httpx.post(f"{portal.url}/v1/declarations", json=body, headers=headers, timeout=30)

    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(send, range(8)))

    assert sorted(response.status_code for response in responses) == [201] + [422] * 7
    assert {tuple(error_list(r)) for r in responses if r.status_code == 422} == {(("P102", "transaction_number"),)}
    assert count_rows(database_url, "portal_declarations") == 1
    assert count_rows(database_url, "portal_idempotency_keys") == 8


class _RacingStore(PortalStore):
    """The real store, where a competing request commits right after we read the versions,
    so that our write loses the race on a unique constraint."""

    def __init__(self, engine: Engine, competitor: Callable[[], object]) -> None:
        super().__init__(engine)
        self._competitor: Callable[[], object] | None = competitor

    def versions(self, transaction_number: str) -> list[StoredVersion]:
        seen = super().versions(transaction_number)
        competitor, self._competitor = self._competitor, None
        if competitor is not None:
            competitor()
        return seen


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    store = PortalStore.from_url(database_url)
    yield store.engine
    store.dispose()


def test_lost_race_on_the_same_key_replays_the_winner(engine: Engine, database_url: str) -> None:
    tariff = Tariff.load(TARIFF_PATH)
    declaration = make_declaration()
    winner: list[Response] = []
    store = _RacingStore(engine, lambda: winner.append(submit(PortalStore(engine), tariff, declaration, "same")))

    response = submit(store, tariff, declaration, "same")

    assert (winner[0].status_code, response.status_code) == (201, 201)
    assert response.body == winner[0].body
    assert response.headers["Idempotent-Replayed"] == "true"
    assert count_rows(database_url, "portal_declarations") == 1


def test_lost_race_on_the_version_decides_again(engine: Engine, database_url: str) -> None:
    tariff = Tariff.load(TARIFF_PATH)
    declaration = make_declaration()
    store = _RacingStore(engine, lambda: submit(PortalStore(engine), tariff, declaration, "winner"))

    response = submit(store, tariff, declaration, "loser")

    assert response.status_code == 422
    assert [error["code"] for error in json.loads(response.body)["errors"]] == ["P102"]
    assert count_rows(database_url, "portal_declarations") == 1
    assert count_rows(database_url, "portal_idempotency_keys") == 2
