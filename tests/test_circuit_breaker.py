"""The portal client's circuit breaker: closed → open after N consecutive failed
attempts → half-open after the cool-down (one trial) → closed on success, open
again on failure. Over real HTTP against a closed port and the embedded portal."""

from __future__ import annotations

import socket

import httpx
import pytest

from portal.client import CircuitBreaker, CircuitOpen, PortalClient, PortalParked, PortalUnavailable
from portal.server import PortalServer


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_state_machine_with_a_fake_clock() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failures=3, cooldown=10, clock=clock)
    error = httpx.ConnectError("refused")
    for _ in range(2):
        breaker.before()
        breaker.failure(error)
    assert breaker.state == "closed"
    breaker.before()
    breaker.failure(error)
    assert breaker.state == "open" and breaker.opened == 1
    with pytest.raises(CircuitOpen) as raised:
        breaker.before()
    assert raised.value.retry_in == 10 and raised.value.last_error is error
    clock.now = 10
    assert breaker.state == "half-open"
    breaker.before()  # the one trial
    with pytest.raises(CircuitOpen):
        breaker.before()  # a second caller while the trial runs
    breaker.failure(error)  # the trial fails: open again, for a new cool-down
    assert breaker.state == "open" and breaker.opened == 2
    clock.now = 20
    breaker.before()
    breaker.success()
    assert breaker.state == "closed"
    breaker.before()
    breaker.failure(error)  # one failure after closing does not open it
    assert breaker.state == "closed"
    assert PortalParked is CircuitOpen and issubclass(CircuitOpen, PortalUnavailable)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_outage_stops_costing_retries(portal_server: PortalServer) -> None:
    from tests.test_portal_client import make_declaration

    with PortalClient(
        f"http://127.0.0.1:{_closed_port()}", max_attempts=4, backoff=0.001, circuit_failures=6, circuit_cooldown=60
    ) as client:
        with pytest.raises(PortalUnavailable) as first:
            client.submit_declaration(make_declaration(), "k1")
        assert first.value.attempts == 4 and not isinstance(first.value, CircuitOpen)
        with pytest.raises(CircuitOpen):  # opens on the 6th failed attempt, mid-retries
            client.submit_declaration(make_declaration(), "k1")
        with pytest.raises(CircuitOpen):  # no request at all now
            client.submit_declaration(make_declaration(), "k1")
        assert client.circuit.state == "open"
        # The portal is back (same client, pointed at it) and the cool-down is over: a trial closes the circuit.
        client._http.base_url = httpx.URL(portal_server.url)
        client.circuit.cooldown = 0
        assert client.submit_declaration(make_declaration(), "k1").status.accepted
        assert client.circuit.state == "closed"
