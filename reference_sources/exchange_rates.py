"""A client of CBSA's Exchange Rates API: CAD per unit of foreign currency, by date range.

The historical query is ``GET <url>?StartDate=YYYY-MM-DD&EndDate=YYYY-MM-DD&limit=N&skip=K``
(StartDate and EndDate required; limit and skip page a large answer). The answer, as CBSA
publishes it (https://cbsa-asfc.gc.ca/eservices/api/er-tc-api-eng.html and its OpenAPI
file; field names as client code reading the production service uses them), is::

    {"ForeignExchangeRates": [{"ExchangeRateId": "…", "Rate": "1.3500",
      "ExchangeRateEffectiveTimestamp": "2026-12-04 00:00:00", "ExchangeRateExpiryTimestamp": "…",
      "ExchangeRateSource": "BoC", "FromCurrency": {"Value": "USD"}, "ToCurrency": {"Value": "CAD"}}]}

Rows into CAD become ``exchange_rates.csv`` rows (``currency,valid_from,rate``); a row that
lacks a field or carries a bad rate or date is an error naming its page and position.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TextIO

import httpx

from reference_sources.cache import CacheInfo, ReferenceCache, now_utc
from reference_sources.http import SourceError, get_json, http_client, read_saved_answer
from validators.reference_data import DEFAULT_DIRECTORY, ReferenceData

DEFAULT_URL = "https://bcd-api-dca-ipa.cbsa-asfc.cloud-nuage.canada.ca/exchange-rate-lambda/exchange-rates"
PAGE_SIZE = 500
TABLE = "exchange_rates"


def parse_rate(record: Any, where: str) -> tuple[str, dt.date, Decimal] | None:
    """``(currency, effective date, CAD per unit)`` of one answer row; None for a row not into CAD."""
    try:
        if not isinstance(record, dict):
            raise ValueError("not an object")
        target = record["ToCurrency"]["Value"]
        if target != "CAD":
            return None
        currency = record["FromCurrency"]["Value"]
        if not (isinstance(currency, str) and len(currency) == 3 and currency.isascii() and currency.isupper()):
            raise ValueError(f"FromCurrency {currency!r} is not an ISO 4217 code")
        rate = Decimal(str(record["Rate"]))
        if not rate.is_finite() or rate <= 0:
            raise ValueError(f"Rate {record['Rate']!r} is not a positive number")
        effective = dt.date.fromisoformat(str(record["ExchangeRateEffectiveTimestamp"])[:10])
    except (KeyError, TypeError) as error:
        raise SourceError(f"{where}: missing field {error}") from error
    except (ValueError, InvalidOperation) as error:
        raise SourceError(f"{where}: {error}") from error
    return currency, effective, rate


def _write_page(
    body: dict[str, Any], where: str, out: TextIO, seen: set[tuple[str, dt.date]]
) -> tuple[int, dt.date | None]:
    """Append a page's rows to ``out``; the rows read and the latest date among them."""
    records = body.get("ForeignExchangeRates")
    if not isinstance(records, list):
        raise SourceError(f"{where}: no ForeignExchangeRates list in the answer")
    latest: dt.date | None = None
    for index, record in enumerate(records):
        parsed = parse_rate(record, f"{where}, ForeignExchangeRates[{index}]")
        if parsed is None:
            continue
        currency, effective, rate = parsed
        if (currency, effective) not in seen:
            seen.add((currency, effective))
            out.write(f"{currency},{effective.isoformat()},{rate}\n")
        latest = effective if latest is None else max(latest, effective)
    return len(records), latest


def fetch_rates(
    cache: ReferenceCache,
    start: dt.date,
    end: dt.date,
    *,
    url: str = DEFAULT_URL,
    client: httpx.Client | None = None,
    page_size: int = PAGE_SIZE,
    max_attempts: int = 4,
    backoff_seconds: float = 0.5,
) -> CacheInfo:
    """Fetch the rates in force from ``start`` to ``end`` page by page into the cache."""
    if end < start:
        raise SourceError(f"the end date {end} is before the start date {start}")
    version = f"cbsa-exchange-rates {start.isoformat()}..{end.isoformat()}"
    seen: set[tuple[str, dt.date]] = set()
    rate_date: dt.date | None = None
    with http_client(client, 30.0) as http, cache.writing(TABLE) as out:
        out.write(f"# reference-version: {version}\n# fetched from {url} at {now_utc()}\ncurrency,valid_from,rate\n")
        skip = 0
        while True:
            params: dict[str, str | int] = {
                "StartDate": start.isoformat(),
                "EndDate": end.isoformat(),
                "limit": page_size,
                "skip": skip,
            }
            body = get_json(http, url, params, max_attempts=max_attempts, backoff_seconds=backoff_seconds)
            count, latest = _write_page(body, f"{url} (skip={skip})", out, seen)
            if latest is not None:
                rate_date = latest if rate_date is None else max(rate_date, latest)
            if count < page_size:
                break
            skip += count
        if not seen:
            raise SourceError(f"{url}: no rate into CAD between {start} and {end}")
    info = CacheInfo(TABLE, url, version, now_utc(), len(seen), rate_date.isoformat() if rate_date else None)
    cache.install(info)
    return info


def load_rates_file(cache: ReferenceCache, path: Path) -> CacheInfo:
    """Install rates from a file: a saved answer of the API (``.json``) or a table in
    ``exchange_rates.csv``'s shape, checked by the gateway's own reader either way."""
    seen: set[tuple[str, dt.date]] = set()
    rate_date: dt.date | None = None
    try:
        if path.suffix.lower() == ".json":
            body = read_saved_answer(path)
            with cache.partial_path(TABLE).open("w", encoding="utf-8", newline="") as out:
                out.write(f"# reference-version: file-{path.name}\ncurrency,valid_from,rate\n")
                _, rate_date = _write_page(body, str(path), out, seen)
            rows = len(seen)
        else:
            rows = cache.copy_in(TABLE, path)
        version = cache.check(TABLE) or f"file-{path.name}"
        if rate_date is None:
            rate_date = ReferenceData.load(
                DEFAULT_DIRECTORY, exchange_rates_path=cache.partial_path(TABLE)
            ).exchange_rates.latest()
    except BaseException:
        cache.discard(TABLE)
        raise
    info = CacheInfo(TABLE, str(path.resolve()), version, now_utc(), rows, rate_date.isoformat() if rate_date else None)
    cache.install(info)
    return info
