"""GET a JSON document with bounded retries: 429 and 5xx honour Retry-After, then back off;
or read one saved to a file.

A 400 is the query's fault and is not retried; its error names the URL and the query.
A body that is not JSON, or not the object the caller expects, is an error naming the URL.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_AFTER_SECONDS = 60.0


class SourceError(Exception):
    """A reference source could not be read: what was asked, and why it failed."""


def _describe(url: str, params: Mapping[str, str | int] | None) -> str:
    query = "&".join(f"{key}={value}" for key, value in (params or {}).items())
    return f"{url}?{query}" if query else url


def _retry_after(response: httpx.Response, fallback: float) -> float:
    """Seconds to wait: the server's Retry-After (seconds form) when given, capped; else ``fallback``."""
    value = response.headers.get("Retry-After", "").strip()
    try:
        return min(max(float(value), 0.0), MAX_RETRY_AFTER_SECONDS)
    except ValueError:
        return fallback


@contextmanager
def http_client(client: httpx.Client | None, timeout: float) -> Iterator[httpx.Client]:
    """``client``, or a new one with ``timeout`` that is closed after the block."""
    if client is not None:
        yield client
        return
    with httpx.Client(timeout=timeout) as own:
        yield own


def get_json(
    client: httpx.Client,
    url: str,
    params: Mapping[str, str | int] | None = None,
    *,
    max_attempts: int = 4,
    backoff_seconds: float = 0.5,
) -> dict[str, Any]:
    """The JSON object at ``url``; raises ``SourceError`` once the attempts are spent."""
    asked = _describe(url, params)
    delay = backoff_seconds
    last = ""
    for attempt in range(1, max_attempts + 1):
        try:
            response = client.get(url, params=dict(params) if params else None)
        except httpx.TimeoutException:
            last = "timed out"
            wait = delay
        except httpx.TransportError as error:
            last = f"could not connect ({error})"
            wait = delay
        else:
            if response.status_code == 400:
                raise SourceError(f"{asked}: 400 Bad Request, the service refused the query: {response.text[:200]}")
            if response.status_code in RETRIED_STATUSES:
                last = f"HTTP {response.status_code}" + (" (throttled)" if response.status_code == 429 else "")
                wait = _retry_after(response, delay)
            elif response.status_code != 200:
                raise SourceError(f"{asked}: HTTP {response.status_code}: {response.text[:200]}")
            else:
                try:
                    body = response.json()
                except ValueError as error:
                    raise SourceError(f"{asked}: the answer is not JSON ({error})") from error
                if not isinstance(body, dict):
                    raise SourceError(f"{asked}: the answer is JSON but not an object")
                return body
        if attempt < max_attempts:
            time.sleep(wait)
            delay *= 2
    raise SourceError(f"{asked}: gave up after {max_attempts} attempts, the last one {last}")


def read_saved_answer(path: Path) -> dict[str, Any]:
    """A saved answer of a service: one JSON object (one page, bounded like one HTTP answer)."""
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise SourceError(f"{path}: cannot read it as JSON ({error})") from error
    if not isinstance(body, dict):
        raise SourceError(f"{path}: the JSON is not an answer object")
    return body
