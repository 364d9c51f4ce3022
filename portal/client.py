"""The gateway's HTTP client for the portal.

Transport failures (timeouts, connection errors) and 5xx answers are retried
with exponential backoff and full jitter, always with the same Idempotency-Key,
so a retried post that did reach the portal is answered from its idempotency
record instead of creating a second declaration. Business answers (4xx) are
never retried.

A circuit breaker guards the portal: after ``circuit_failures`` consecutive
failed attempts (timeouts, connection errors, 5xx) the circuit opens and every
call fails at once with ``CircuitOpen`` (a ``PortalUnavailable``) for
``circuit_cooldown`` seconds, so an outage parks the work instead of burning
retries; then one trial request is let through (half-open): its success closes
the circuit, its failure opens it again.

The client may be shared by threads (the gateway keeps several posts in flight):
at most ``concurrency`` requests are in flight at once over one keep-alive
connection pool, and with ``rate_limit`` (requests per second) each attempt
waits for its slot; retries, the backoff and the circuit keep their meaning
(the circuit counts consecutive failed attempts whichever thread made them).

``delegation_active(importer, declarant)`` asks the portal's delegations and
caches each answer for ``delegation_ttl`` seconds: the gateway's pre-check
(rule DLG-ACT) calls it once per declaration; the portal enforces regardless.
"""

from __future__ import annotations

import random
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, Self

import httpx

from domain.declaration import Declaration
from domain.outcome import DeclarationOutcome
from portal.headers import AUDIT_HEADER, SOURCE_HEADER

_RETRYABLE_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
_OUTCOME_STATUS_CODES = (412, 415, 422)
"""Answers whose body is a DeclarationOutcome that rejects the declaration."""


class PortalSettings(Protocol):
    """The settings ``PortalClient.from_settings`` reads; ``gateway.settings.Settings`` has them
    (the portal sits below the gateway, so it names what it needs instead of importing it)."""

    @property
    def portal_url(self) -> str: ...
    @property
    def portal_api_key(self) -> str | None: ...
    @property
    def portal_timeout_seconds(self) -> float: ...
    @property
    def portal_max_attempts(self) -> int: ...
    @property
    def portal_backoff_seconds(self) -> float: ...
    @property
    def portal_circuit_failures(self) -> int: ...
    @property
    def portal_circuit_cooldown_seconds(self) -> float: ...
    @property
    def portal_ca_bundle(self) -> str | None: ...
    @property
    def portal_concurrency(self) -> int: ...
    @property
    def portal_rate_limit_per_second(self) -> float: ...


@dataclass(frozen=True)
class Decided:
    """The portal's answer to an operator's decision on an adjustment."""

    adjustment: dict[str, Any]
    first: bool  # recorded now (201), not the same decision answered again (200)
    audited: bool  # the portal wrote it to the gateway's audit trail itself


class PortalRequestError(Exception):
    """The portal refused the request (400, 401, 404, 409 ...): retrying cannot help."""

    def __init__(self, status_code: int, body: Any) -> None:
        super().__init__(f"portal answered HTTP {status_code}: {body}")
        self.status_code = status_code
        self.body = body


class PortalUnavailable(Exception):
    """Every attempt failed with a timeout, a connection error or a 5xx.

    ``last_error`` (also the ``__cause__``) is the last attempt's failure; for a
    5xx it is an ``httpx.HTTPStatusError`` carrying the response.
    """

    def __init__(self, attempts: int, last_error: Exception) -> None:
        super().__init__(f"portal unavailable after {attempts} attempt(s): {last_error!r}")
        self.attempts = attempts
        self.last_error: Exception | None = last_error  # None only for a CircuitOpen that saw no failure


class CircuitOpen(PortalUnavailable):
    """The circuit is open: the portal failed repeatedly, no request was sent.
    The pipeline parks the file (``PortalParked`` is the same class)."""

    def __init__(self, retry_in: float, last_error: Exception | None) -> None:
        Exception.__init__(
            self, f"portal circuit open after repeated failures; next trial in {retry_in:.1f} s (last: {last_error!r})"
        )
        self.attempts = 0
        self.last_error = last_error
        self.retry_in = retry_in


PortalParked = CircuitOpen


class CircuitBreaker:
    """closed → open after ``failures`` consecutive failures → half-open after
    ``cooldown`` seconds (one trial) → closed on success, open on failure."""

    CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"

    def __init__(self, failures: int = 8, cooldown: float = 30.0, clock: Any = time.monotonic) -> None:
        if failures < 1:
            raise ValueError("failures must be at least 1")
        self.failures = failures
        self.cooldown = cooldown
        self._clock = clock
        self._consecutive = 0
        self._opened_at: float | None = None
        self._trial = False
        self.last_error: Exception | None = None
        self.opened = 0  # how many times the circuit opened (for reports)
        self._lock = threading.RLock()  # threads posting at once share one circuit

    @property
    def state(self) -> str:
        with self._lock:
            return self._state()

    def _state(self) -> str:
        if self._opened_at is None:
            return self.CLOSED
        if self._clock() - self._opened_at >= self.cooldown:
            return self.HALF_OPEN
        return self.OPEN

    def before(self) -> None:
        """Raise ``CircuitOpen`` unless a request may go now."""
        with self._lock:
            state = self._state()
            if state == self.OPEN or (state == self.HALF_OPEN and self._trial):
                retry_in = max(0.0, self.cooldown - (self._clock() - (self._opened_at or 0.0)))
                raise CircuitOpen(retry_in, self.last_error)
            if state == self.HALF_OPEN:
                self._trial = True

    def success(self) -> None:
        with self._lock:
            self._consecutive = 0
            self._opened_at = None
            self._trial = False

    def failure(self, error: Exception) -> None:
        with self._lock:
            self.last_error = error
            self._consecutive += 1
            if self._trial or self._consecutive >= self.failures:
                if self._opened_at is None or self._trial:
                    self.opened += 1
                self._opened_at = self._clock()
                self._trial = False


class RateLimit:
    """At most ``per_second`` calls of ``wait`` return per second, evenly spaced
    (each caller is given the next free slot and sleeps until it); 0: no limit."""

    def __init__(self, per_second: float, clock: Any = time.monotonic, sleep: Any = time.sleep) -> None:
        if per_second < 0:
            raise ValueError("the rate limit must be 0 (none) or more requests per second")
        self.interval = 1.0 / per_second if per_second else 0.0
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            self._sleep(slot - now)


def transport_options(settings: PortalSettings) -> dict[str, Any]:
    """The client's timeouts, retries, circuit breaker, posts in flight and rate limit from the
    settings: the same for the embedded portal and for CARM (``portal.carm``)."""
    return {
        "timeout": settings.portal_timeout_seconds,
        "max_attempts": settings.portal_max_attempts,
        "backoff": settings.portal_backoff_seconds,
        "circuit_failures": settings.portal_circuit_failures,
        "circuit_cooldown": settings.portal_circuit_cooldown_seconds,
        "concurrency": settings.portal_concurrency,
        "rate_limit": settings.portal_rate_limit_per_second,
    }


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


class PortalClient:
    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout: float = 10.0,
        max_attempts: int = 4,
        backoff: float = 0.2,
        delegation_ttl: float = 60.0,
        circuit_failures: int = 8,
        circuit_cooldown: float = 30.0,
        ca_bundle: str | None = None,
        concurrency: int = 1,
        rate_limit: float = 0.0,
    ) -> None:
        """``ca_bundle``: a PEM file of the CAs that may sign the portal's certificate
        (HTTPS is always verified; None: the system's CAs)."""
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        headers = {"x-api-key": api_key} if api_key else {}
        verify: Any = ssl.create_default_context(cafile=ca_bundle) if ca_bundle else True
        limits = httpx.Limits(max_connections=max(concurrency, 10), max_keepalive_connections=max(concurrency, 10))
        self._http = httpx.Client(base_url=base_url, headers=headers, timeout=timeout, limits=limits, verify=verify)
        self.concurrency = concurrency
        self._in_flight = threading.BoundedSemaphore(concurrency)
        self.rate_limit = RateLimit(rate_limit)
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.delegation_ttl = delegation_ttl
        self._delegations: dict[tuple[str, str], tuple[float, bool]] = {}
        self.circuit = CircuitBreaker(circuit_failures, circuit_cooldown)

    @classmethod
    def from_settings(cls, settings: PortalSettings) -> Self:
        return cls(
            settings.portal_url,
            api_key=settings.portal_api_key,
            ca_bundle=settings.portal_ca_bundle,
            **transport_options(settings),
        )

    def submit_declaration(self, declaration: Declaration, idempotency_key: str) -> DeclarationOutcome:
        """Post one declaration version; a rejection is returned as its outcome: 422 (status 41
        or 400), 412 (sender does not match, code 69), 415 (unknown trading partner, code 90)."""
        response = self._send(
            "POST",
            "/v1/declarations",
            json=declaration.model_dump(mode="json"),
            headers={"Idempotency-Key": idempotency_key},
        )
        if response.is_success or response.status_code in _OUTCOME_STATUS_CODES:
            return DeclarationOutcome.model_validate_json(response.content)
        raise PortalRequestError(response.status_code, _body(response))

    def get_declaration(self, transaction_number: str) -> dict[str, Any]:
        """The portal's history of one transaction (latest version, outcome, versions)."""
        response = self._send("GET", f"/v1/declarations/{transaction_number}")
        if response.is_success:
            return response.json()
        raise PortalRequestError(response.status_code, _body(response))

    def get_version(self, transaction_number: str, version: int) -> dict[str, Any]:
        """One stored version: ``{version, function, status, received_at, declaration, outcome}``."""
        response = self._send("GET", f"/v1/declarations/{transaction_number}/versions/{version}")
        if response.is_success:
            return response.json()
        raise PortalRequestError(response.status_code, _body(response))

    def query(self, transaction_number: str, version: int, starts: Sequence[int] = (0,)) -> DeclarationOutcome | None:
        """The portal's current outcome of one version (an adjustment's changes once decided);
        None when the portal does not hold it. ``starts`` is the connectors' common signature:
        this API's pointers are domain paths already."""
        response = self._send("GET", f"/v1/declarations/{transaction_number}/versions/{version}")
        if response.status_code == 404:
            return None
        if response.is_success:
            return DeclarationOutcome.model_validate(response.json()["outcome"])
        raise PortalRequestError(response.status_code, _body(response))

    def adjustments(self, status: str | None = None) -> list[dict[str, Any]]:
        """The portal's adjustments (``pending``, ``approved`` or ``refused``; None: all)."""
        response = self._send("GET", "/v1/adjustments", params={"status": status} if status else {})
        if response.is_success:
            return list(response.json()["adjustments"])
        raise PortalRequestError(response.status_code, _body(response))

    def decide(
        self, transaction_number: str, version: int, decision: str, operator: str, note: str | None = None
    ) -> dict[str, Any]:
        """An operator's decision (``approve`` or ``refuse``) on a pending adjustment; the
        recorded adjustment. The same decision again answers the first, unchanged."""
        return self.decision(transaction_number, version, decision, operator, note).adjustment

    def decision(
        self,
        transaction_number: str,
        version: int,
        decision: str,
        operator: str,
        note: str | None = None,
        *,
        source: str | None = None,
    ) -> Decided:
        """``decide``, telling the portal where the operator decided (``source``: cli, page,
        dag) and answering whether it was the first decision and whether the portal wrote it
        to the audit trail (``portal.headers``)."""
        response = self._send(
            "POST",
            f"/v1/declarations/{transaction_number}/versions/{version}/decision",
            json={"decision": decision, "operator": operator, "note": note},
            headers={SOURCE_HEADER: source} if source else None,
        )
        if response.is_success:
            audited = response.headers.get(AUDIT_HEADER) == "recorded"
            return Decided(dict(response.json()), first=response.status_code == 201, audited=audited)
        raise PortalRequestError(response.status_code, _body(response))

    def delegations(
        self, importer: str | None = None, broker: str | None = None, active: bool | None = None
    ) -> list[dict[str, Any]]:
        """The portal's delegations covering the importer and broker accounts."""
        params: dict[str, str] = {}
        if importer:
            params["importer"] = importer
        if broker:
            params["broker"] = broker
        if active is not None:
            params["active"] = "true" if active else "false"
        response = self._send("GET", "/v1/delegations", params=params)
        if response.is_success:
            return list(response.json()["delegations"])
        raise PortalRequestError(response.status_code, _body(response))

    def delegation_active(self, importer: str, declarant: str) -> bool:
        """True when the declarant holds a delegation from the importer account active today;
        answers are cached for ``delegation_ttl`` seconds per (importer, declarant)."""
        key = (importer, declarant)
        now = time.monotonic()
        cached = self._delegations.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        active = bool(self.delegations(importer=importer, broker=declarant, active=True))
        self._delegations[key] = (now + self.delegation_ttl, active)
        return active

    def _send(
        self,
        method: str,
        url: str,
        *,
        answered: Callable[[httpx.Response], bool] | None = None,
        attempts: int | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send with retries; returns the first answer below 500 (or that ``answered``
        accepts: a 5xx carrying the portal's own verdict); ``attempts`` caps the tries
        (default ``max_attempts``). ``CircuitOpen`` when the circuit is open before an
        attempt (no request is sent then)."""
        max_attempts = attempts or self.max_attempts
        attempt = 1
        while True:
            self.circuit.before()
            try:
                with self._in_flight:
                    self.rate_limit.wait()
                    response = self._http.request(method, url, **kwargs)
            except _RETRYABLE_ERRORS as error:
                last_error: Exception = error
            else:
                if response.status_code < 500 or (answered is not None and answered(response)):
                    self.circuit.success()
                    return response
                last_error = httpx.HTTPStatusError(
                    f"portal answered HTTP {response.status_code}", request=response.request, response=response
                )
            self.circuit.failure(last_error)
            if attempt < max_attempts and self.circuit.state == CircuitBreaker.OPEN:
                raise CircuitOpen(self.circuit.cooldown, last_error) from last_error
            if attempt == max_attempts:
                raise PortalUnavailable(attempt, last_error) from last_error
            time.sleep(self._delay(attempt))
            attempt += 1

    def _delay(self, failed_attempts: int) -> float:
        """Full jitter: uniform in [0, backoff × 2^(failed_attempts - 1)]."""
        return random.uniform(0, self.backoff * 2 ** (failed_attempts - 1))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> PortalClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
