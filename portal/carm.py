"""The CARM connector: one declaration version as CAD-IN XML over HTTPS, CARM's CAD-OUT read back.

The same per-declaration interface as the embedded JSON portal's client
(``PortalConnector``: ``submit_declaration(declaration, key)`` → outcome and
``query(transaction_number, version)`` → outcome or None), so the flows, the
ledger poster and the in-flight machinery serve both; ``portal_api`` in the
settings chooses (docs/portal-api.md "The CARM API").

What CARM answers (carm-brief §3; our reading of it in docs/decisions.md):

* A CAD-OUT whose ``Response/Status/NameCode`` is a CARM status is the answer,
  whatever the HTTP status (CARM sends a CAD-OUT with a 400, and a 503 is its
  XSD validation error, a final rejection): 40 (with the assessment) accepted;
  41, 400, 412, 415, 503 rejected; 200 (functional acknowledgement) and 42
  (pending) not final — the version waits and is queried later.
* Timeouts, connection errors and 5xx answers without a CAD-OUT status (502,
  504, 505 included: CARM's own connection failures) are retried with backoff
  under the client's circuit breaker. Before each retry the connector queries
  CARM by ``TransactionNumber``: a version CARM already holds is answered from
  the query, never posted twice (whether CARM accepts an identical resubmission
  is not public).
* 401/403: the API key was refused (``CarmKeyRefused``): no retry can help.

The idempotency key of the JSON portal has no CARM counterpart: it is not sent.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import httpx

from domain import Declaration, DeclarationOutcome, OutcomeStatus
from mappings.cadout_reader import CadOutAnswer, CadOutUnreadable, read_cadout
from mappings.cadxml_declaration import cadin_document, invoice_starts
from portal.client import PortalClient, PortalRequestError, PortalSettings, PortalUnavailable, transport_options

CAD_PATH = "/carm/v1/cad"
NO_DATA_FOUND = "077"
"""CARM's validation code for a query that finds nothing ("No Data Found or Access Denied")."""
XML = "application/xml"


class PortalConnector(Protocol):
    """One declaration version in, its outcome out: the embedded JSON portal's client and
    the CARM connector both are one."""

    def submit_declaration(self, declaration: Declaration, idempotency_key: str) -> DeclarationOutcome: ...

    def query(self, transaction_number: str, version: int, starts: Sequence[int] = (0,)) -> DeclarationOutcome | None:
        """The portal's current answer for one version; None when it does not hold it (``starts``:
        where each invoice's lines start in the declaration's ``lines``, to read XPath pointers)."""

    def close(self) -> None: ...


@dataclass(frozen=True)
class CarmEndpoint:
    """Where CARM's declaration API is and how to reach it: the base URL, the CAD path under it,
    the x-api-key, and the PEM file of the CAs that may sign its certificate (None: the system's)."""

    url: str
    api_key: str | None = field(default=None, repr=False)
    ca_bundle: str | None = None
    cad_path: str = CAD_PATH


class CarmKeyRefused(PortalRequestError):
    """CARM refused the x-api-key (HTTP 401 or 403)."""

    def __init__(self, status_code: int, body: object) -> None:
        super().__init__(status_code, body)
        self.args = (
            f"CARM refused the API key (HTTP {status_code}): set carm_api_key (CARM_CARM_API_KEY, or the "
            f"password of the Airflow connection carm_connection_id names) to the key issued for this "
            f"endpoint; CARM said: {body}",
        )


def application_reference(declaration: Declaration) -> str:
    """CommunicationMetaData/ApplicationReferenceID: the 14-digit transaction, the 5-digit
    version and a 3-digit message sequence (one message per post: 001), as observed."""
    return f"{declaration.transaction_number}{declaration.version:05d}001"


def cadin(declaration: Declaration) -> bytes:
    """The CAD-IN document posting one version: the importer (HN) and the declarant (AK) as senders."""
    senders = [(declaration.importer.account, "HN"), (declaration.declarant.account, "AK")]
    return cadin_document([declaration], application_reference(declaration), senders)


def carm_answers(response: httpx.Response) -> list[CadOutAnswer] | None:
    """The CAD-OUT answers of a response when its body is one with CARM statuses; else None."""
    if not response.content.lstrip().startswith(b"<"):
        return None
    try:
        answers = read_cadout(response.content)
    except CadOutUnreadable:
        return None
    known = {status.value for status in OutcomeStatus}
    return answers if all(answer.status in known for answer in answers) else None


class CarmConnector(PortalClient):
    """The CARM declaration API over HTTPS (retries, backoff, circuit breaker and TLS as ``PortalClient``)."""

    def __init__(self, base_url: str, *, cad_path: str = CAD_PATH, **options: object) -> None:
        super().__init__(base_url, **options)  # type: ignore[arg-type]  # PortalClient's keyword options, checked there
        self.cad_path = cad_path

    @classmethod
    def to_endpoint(cls, endpoint: CarmEndpoint, settings: PortalSettings) -> CarmConnector:
        """The connector to ``endpoint`` (its URL, key and CAs) with the settings' timeouts, retries,
        circuit breaker and posts in flight (``portal.client.transport_options``)."""
        return cls(
            endpoint.url,
            cad_path=endpoint.cad_path,
            api_key=endpoint.api_key,
            ca_bundle=endpoint.ca_bundle,
            **transport_options(settings),
        )

    def submit_declaration(self, declaration: Declaration, idempotency_key: str) -> DeclarationOutcome:
        """Post one version; after an answer that never came, query before posting again."""
        document = cadin(declaration)
        starts = tuple(invoice_starts(declaration))
        last: PortalUnavailable | None = None
        for attempt in range(1, self.max_attempts + 1):
            if last is not None:
                time.sleep(self._delay(attempt - 1))
                held = self.query(declaration.transaction_number, declaration.version, starts)
                if held is not None:
                    return held
            try:
                response = self._send(
                    "POST",
                    self.cad_path,
                    content=document,
                    headers={"Content-Type": XML, "Accept": XML},
                    answered=lambda r: carm_answers(r) is not None,
                    attempts=1,
                )
            except PortalUnavailable as error:
                last = error
                continue
            return self._outcome(response, declaration.transaction_number, declaration.version, starts)
        assert last is not None and last.last_error is not None  # the loop ran at least once and failed
        raise PortalUnavailable(self.max_attempts, last.last_error) from last.last_error

    def query(self, transaction_number: str, version: int, starts: Sequence[int] = (0,)) -> DeclarationOutcome | None:
        """CARM's answer for one version (``GET …?TransactionNumber=``), retried as any call;
        None when CARM holds no such version (validation code 077, or no Response for it)."""
        response = self._send(
            "GET",
            self.cad_path,
            params={"TransactionNumber": transaction_number},
            headers={"Accept": XML},
            answered=lambda r: carm_answers(r) is not None,
        )
        self._refuse_key(response)
        answers = carm_answers(response)
        if answers is None:
            raise PortalRequestError(response.status_code, response.text)
        for answer in answers:
            if answer.version == version and answer.transaction_number == transaction_number:
                return answer.outcome(transaction_number, version, tuple(starts))
        if any(error.code == NO_DATA_FOUND for answer in answers for error in answer.errors) or response.is_success:
            return None
        raise PortalRequestError(response.status_code, response.text)

    def _outcome(
        self, response: httpx.Response, transaction_number: str, version: int, starts: Sequence[int]
    ) -> DeclarationOutcome:
        self._refuse_key(response)
        answers = carm_answers(response)
        if not answers:
            raise PortalRequestError(response.status_code, response.text)
        mine = [a for a in answers if a.version in (None, version)]
        return (mine or answers)[0].outcome(transaction_number, version, tuple(starts))

    @staticmethod
    def _refuse_key(response: httpx.Response) -> None:
        if response.status_code in (401, 403):
            raise CarmKeyRefused(response.status_code, response.text)
