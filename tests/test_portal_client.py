"""PortalClient over real HTTP: against the portal, and against a scripted stdlib
server that fails the first requests (500, dropped connection, too slow)."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from domain.declaration import Declaration
from domain.outcome import OutcomeStatus
from gateway.settings import load_settings
from portal.client import PortalClient, PortalRequestError, PortalUnavailable
from portal.server import PortalServer
from tests.builders import NO_OTHER_CHARGES

TARIFF_PATH = Path(__file__).resolve().parent.parent / "fixtures" / "reference" / "tariff.csv"
TXN = "10207003502332"
FAST = {"backoff": 0.01, "timeout": 2.0}


def make_declaration(hs_code: str = "4202920000", version: int = 1) -> Declaration:
    return Declaration.model_validate(
        {
            "transaction_number": TXN,
            "version": version,
            "function": "9",
            "type_code": "AB",
            "importer": {"account": "123456782RM0001"},
            "declarant": {"account": "123026635RM0001"},
            "office_of_release": "0497",
            "release_date": dt.date(2025, 3, 14),
            "currency": "USD",
            "exchange_rate": "1.35",
            "invoice": {"number": "INV-7"},
            "vendor": {"name": "Bags Inc."},
            "lines": [
                {
                    "line_number": 1,
                    "description": "Nylon backpacks",
                    "hs_code": hs_code,
                    "tariff_treatment": "2",
                    "country_of_origin": "VN",
                    "quantity": "50",
                    "unit": "NMB",
                    "invoice_amount": "1000.00",
                    "value_for_duty": "1350.00",
                }
            ],
        }
    )


# 1350.00 × 8 % = 108.00; VFT 1458.00; GST 72.90
ACCEPTED = {
    "transaction_number": TXN,
    "version": 1,
    "status": "40",
    "lines": [
        {
            "line_number": 1,
            "value_for_duty": "1350.00",
            "customs_duty": "108.00",
            "excise_tax": "0.00",
            "value_for_tax": "1458.00",
            "gst": "72.90",
        }
    ],
    "total_duty": "108.00",
    "total_excise": "0.00",
    "total_gst": "72.90",
}
"""The answer as the first portal wrote it; the scripted servers below answer it, and the client reads it."""

ACCEPTED_NOW = ACCEPTED | {
    "lines": [ACCEPTED["lines"][0] | NO_OTHER_CHARGES],
    "total_excise_duty": "0.00",
    "total_anti_dumping": "0.00",
    "total_countervailing": "0.00",
    "total_surtax": "0.00",
    "total_safeguard": "0.00",
}
"""The answer of today's portal: every other charge of ordinary goods is zero."""

# --- a scripted HTTP server ------------------------------------------------------------

Step = Callable[[BaseHTTPRequestHandler, bytes], None]


def reply(status: int, body: object) -> Step:
    def step(handler: BaseHTTPRequestHandler, _: bytes) -> None:
        payload = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    return step


def drop_connection(handler: BaseHTTPRequestHandler, _: bytes) -> None:
    handler.close_connection = True
    handler.connection.shutdown(socket.SHUT_RDWR)


def sleep_then(seconds: float, then: Step) -> Step:
    def step(handler: BaseHTTPRequestHandler, body: bytes) -> None:
        time.sleep(seconds)
        with contextlib.suppress(OSError):  # the client gave up waiting
            then(handler, body)

    return step


def forward_then_drop(portal_url: str) -> Step:
    """The request reaches the portal, but its answer is lost on the way back."""

    def step(handler: BaseHTTPRequestHandler, body: bytes) -> None:
        headers = {"Idempotency-Key": handler.headers["Idempotency-Key"], "content-type": "application/json"}
        httpx.post(portal_url + handler.path, content=body, headers=headers)
        drop_connection(handler, body)

    return step


def forward(portal_url: str) -> Step:
    def step(handler: BaseHTTPRequestHandler, body: bytes) -> None:
        headers = {"Idempotency-Key": handler.headers["Idempotency-Key"], "content-type": "application/json"}
        answer = httpx.post(portal_url + handler.path, content=body, headers=headers)
        reply(answer.status_code, answer.json())(handler, body)

    return step


class ScriptedServer:
    """Answers the n-th request with the n-th step, and records each request."""

    def __init__(self, *steps: Step) -> None:
        self.steps = list(steps)
        self.requests: list[tuple[str, dict[str, str]]] = []
        script = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self._handle()

            def do_GET(self) -> None:
                self._handle()

            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                script.requests.append((self.command, dict(self.headers)))
                script.steps[min(len(script.requests), len(script.steps)) - 1](self, body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> ScriptedServer:
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def idempotency_keys(self) -> list[str | None]:
        return [headers.get("Idempotency-Key") for _, headers in self.requests]


@pytest.fixture
def portal(tmp_path: Path) -> Iterator[PortalServer]:
    with PortalServer(f"sqlite:///{tmp_path / 'portal.sqlite'}", TARIFF_PATH) as server:
        yield server


def without_received_at(outcome_json: str) -> dict[str, object]:
    body = json.loads(outcome_json)
    del body["received_at"]
    return body


# --- against the portal ----------------------------------------------------------------


def test_submit_returns_the_assessed_outcome(portal: PortalServer) -> None:
    with PortalClient(portal.url, **FAST) as client:
        outcome = client.submit_declaration(make_declaration(), "client-1")
        again = client.submit_declaration(make_declaration(), "client-1")

    assert outcome.status is OutcomeStatus.ACCEPTED
    assert without_received_at(outcome.model_dump_json()) == ACCEPTED_NOW | {
        "errors": [],
        "tariff_version": "2025.1-illustrative",  # the assessment names the tariff it used
    }
    assert outcome.total_due == Decimal("180.90")
    assert again == outcome


def test_rejection_is_returned_as_an_outcome(portal: PortalServer) -> None:
    with PortalClient(portal.url, **FAST) as client:
        outcome = client.submit_declaration(make_declaration(hs_code="9999999999"), "client-rejected")

    assert outcome.status is OutcomeStatus.REJECTED
    assert [(error.code, error.pointer) for error in outcome.errors] == [("P201", "lines[0].hs_code")]


def test_get_declaration_and_unknown_transaction(portal: PortalServer) -> None:
    with PortalClient(portal.url, **FAST) as client:
        client.submit_declaration(make_declaration(), "client-get")
        history = client.get_declaration(TXN)
        with pytest.raises(PortalRequestError) as unknown:
            client.get_declaration("33333333333337")

    assert [version["version"] for version in history["versions"]] == [1]
    assert history["latest"]["outcome"]["total_gst"] == "72.90"
    assert unknown.value.status_code == 404
    assert unknown.value.body["errors"][0]["code"] == "077"


def test_api_key_is_sent(tmp_path: Path) -> None:
    with PortalServer(f"sqlite:///{tmp_path / 'portal.sqlite'}", TARIFF_PATH, api_key="k3y") as server:
        with PortalClient(server.url, api_key="k3y", **FAST) as client:
            assert client.submit_declaration(make_declaration(), "with-key").status is OutcomeStatus.ACCEPTED
        with PortalClient(server.url, **FAST) as client, pytest.raises(PortalRequestError) as refused:
            client.submit_declaration(make_declaration(), "without-key")
    assert refused.value.status_code == 401


def test_lost_answer_is_retried_and_replayed_without_a_second_declaration(portal: PortalServer) -> None:
    with ScriptedServer(forward_then_drop(portal.url), forward(portal.url)) as proxy:
        with PortalClient(proxy.url, **FAST) as client:
            outcome = client.submit_declaration(make_declaration(), "lost-answer")

        assert proxy.idempotency_keys == ["lost-answer", "lost-answer"]
    assert outcome.status is OutcomeStatus.ACCEPTED
    with PortalClient(portal.url, **FAST) as client:
        assert [version["version"] for version in client.get_declaration(TXN)["versions"]] == [1]


# --- retries against the scripted server -----------------------------------------------

OK = reply(201, ACCEPTED)


@pytest.mark.parametrize(
    "failures",
    [
        pytest.param([reply(500, {"detail": "boom"}), reply(503, {"detail": "busy"})], id="5xx"),
        pytest.param([drop_connection, drop_connection], id="dropped-connection"),
        pytest.param([sleep_then(0.6, OK)], id="timeout"),
    ],
)
def test_transient_failures_are_retried_with_the_same_key(failures: list[Step]) -> None:
    with ScriptedServer(*failures, OK) as server:
        with PortalClient(server.url, timeout=0.3, backoff=0.01, max_attempts=4) as client:
            outcome = client.submit_declaration(make_declaration(), "retry")

        assert outcome.status is OutcomeStatus.ACCEPTED
        assert server.idempotency_keys == ["retry"] * (len(failures) + 1)


def test_gives_up_after_max_attempts_with_the_last_cause() -> None:
    with ScriptedServer(reply(500, {}), reply(500, {}), reply(502, {"detail": "bad gateway"})) as server:
        with PortalClient(server.url, max_attempts=3, **FAST) as client, pytest.raises(PortalUnavailable) as failed:
            client.submit_declaration(make_declaration(), "down")

        assert len(server.requests) == 3
    assert failed.value.attempts == 3
    assert isinstance(failed.value.last_error, httpx.HTTPStatusError)
    assert failed.value.last_error.response.status_code == 502
    assert failed.value.__cause__ is failed.value.last_error


def test_connection_refused_is_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with (
        PortalClient(f"http://127.0.0.1:{port}", max_attempts=2, **FAST) as client,
        pytest.raises(PortalUnavailable) as failed,
    ):
        client.get_declaration(TXN)
    assert failed.value.attempts == 2
    assert isinstance(failed.value.last_error, httpx.ConnectError)


def test_rejection_is_not_retried() -> None:
    rejected = {
        "transaction_number": TXN,
        "version": 1,
        "status": "41",
        "errors": [{"code": "P102", "message": "exists", "pointer": "transaction_number"}],
    }
    with ScriptedServer(reply(422, rejected), OK) as server:
        with PortalClient(server.url, **FAST) as client:
            outcome = client.submit_declaration(make_declaration(), "rejected")

        assert len(server.requests) == 1
    assert outcome.status is OutcomeStatus.REJECTED
    assert outcome.errors[0].pointer == "transaction_number"


@pytest.mark.parametrize("status", [400, 401, 409])
def test_other_client_errors_raise_without_retry(status: int) -> None:
    body = {"errors": [{"code": "P003", "message": "reused", "pointer": None}]}
    with ScriptedServer(reply(status, body), OK) as server:
        with PortalClient(server.url, **FAST) as client, pytest.raises(PortalRequestError) as refused:
            client.submit_declaration(make_declaration(), "refused")

        assert len(server.requests) == 1
    assert (refused.value.status_code, refused.value.body) == (status, body)


def test_from_settings() -> None:
    settings = load_settings(
        portal_url="http://127.0.0.1:1",
        portal_api_key="abc",
        portal_timeout_seconds=3.5,
        portal_max_attempts=2,
        portal_backoff_seconds=0.5,
    )
    with PortalClient.from_settings(settings) as client:
        assert (client.max_attempts, client.backoff) == (2, 0.5)
        with pytest.raises(PortalUnavailable) as failed:
            client.get_declaration(TXN)
    cause = failed.value.last_error
    assert isinstance(cause, httpx.ConnectError)
    request = cause.request
    assert request.headers["x-api-key"] == "abc"
    assert request.extensions["timeout"]["read"] == 3.5
