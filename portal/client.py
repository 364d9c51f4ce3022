"""The gateway's HTTP client for the portal.

Transport failures (timeouts, connection errors) and 5xx answers are retried
with exponential backoff and full jitter, always with the same Idempotency-Key,
so a retried post that did reach the portal is answered from its idempotency
record instead of creating a second declaration. Business answers (4xx) are
never retried.

``delegation_active(importer, declarant)`` asks the portal's delegations and
caches each answer for ``delegation_ttl`` seconds: the gateway's pre-check
(rule DLG-ACT) calls it once per declaration; the portal enforces regardless.
"""

from __future__ import annotations

import random
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx

from domain.declaration import Declaration
from domain.outcome import DeclarationOutcome

if TYPE_CHECKING:
    from gateway.settings import Settings

_RETRYABLE_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
_OUTCOME_STATUS_CODES = (412, 415, 422)
"""Answers whose body is a DeclarationOutcome that rejects the declaration."""


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
        self.last_error = last_error


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
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        headers = {"x-api-key": api_key} if api_key else {}
        self._http = httpx.Client(base_url=base_url, headers=headers, timeout=timeout)
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.delegation_ttl = delegation_ttl
        self._delegations: dict[tuple[str, str], tuple[float, bool]] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> PortalClient:
        return cls(
            settings.portal_url,
            api_key=settings.portal_api_key,
            timeout=settings.portal_timeout_seconds,
            max_attempts=settings.portal_max_attempts,
            backoff=settings.portal_backoff_seconds,
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

    def delegations(self, importer: str | None = None, broker: str | None = None, active: bool | None = None) -> list[dict[str, Any]]:
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

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Send with retries; returns the first answer below 500."""
        attempt = 1
        while True:
            try:
                response = self._http.request(method, url, **kwargs)
            except _RETRYABLE_ERRORS as error:
                last_error: Exception = error
            else:
                if response.status_code < 500:
                    return response
                last_error = httpx.HTTPStatusError(
                    f"portal answered HTTP {response.status_code}", request=response.request, response=response
                )
            if attempt == self.max_attempts:
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
