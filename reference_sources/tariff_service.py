"""A loader of CBSA's tariff: the public OData tariff service, or a saved answer of it.

CBSA publishes the Customs Tariff through an OData service
(``https://ccapi-ipacc.cbsa-asfc.cloud-nuage.canada.ca/v1/tariff-srv/``). Its entity model
could not be read from here, so the loader takes the OData v4 JSON conventions (a ``value``
array, ``@odata.nextLink`` for the next page) and this entity, as far as the public
description goes (tariff item, description, unit, rate per treatment, specific rates)::

    GET <base>/TariffItems?$expand=Rates
    {"value": [{"TariffItemNumber": "6109.10.00.10", "Description": "…", "UnitOfMeasure": "NMB",
                "EffectiveDate": "2025-01-01",
                "Rates": [{"TreatmentCode": "2", "AdValoremRate": "18",
                           "SpecificRate": null, "SpecificRateUnit": null}, …]}, …],
     "@odata.nextLink": "<base>/TariffItems?$expand=Rates&$skip=1000"}

(docs/decisions.md records the choice.) Pages are written to the cache one at a time,
never the whole tariff in memory. The MFN rate (treatment 2) becomes the ``*`` row, the
rate of every treatment without its own row; excise and GST are not the tariff's (they
come from ``duties.charges``), so the rows carry 0 and false.
"""

from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import httpx

from reference_sources.cache import CacheInfo, ReferenceCache, now_utc
from reference_sources.http import SourceError, get_json, http_client, read_saved_answer

DEFAULT_URL = "https://ccapi-ipacc.cbsa-asfc.cloud-nuage.canada.ca/v1/tariff-srv/TariffItems?$expand=Rates"
TABLE = "tariff"
MFN_CODE = "2"
COLUMNS = (
    "hs_code",
    "treatment",
    "description",
    "unit",
    "duty_rate",
    "excise_rate",
    "gst_exempt",
    "valid_from",
    "specific_rate",
    "specific_unit",
)
MAX_PAGES = 10_000  # a service whose nextLink never ends is refused, not followed forever


def _decimal(value: Any, name: str) -> str:
    try:
        number = Decimal(str(value))
    except InvalidOperation as error:
        raise ValueError(f"{name} {value!r} is not a number") from error
    if not number.is_finite() or number < 0:
        raise ValueError(f"{name} {value!r} is not a non-negative number")
    return str(number)


def tariff_rows(item: Any, where: str) -> list[list[str]]:
    """The ``tariff.csv`` rows of one ``TariffItems`` entity."""
    try:
        if not isinstance(item, dict):
            raise ValueError("not an object")
        number = str(item["TariffItemNumber"]).replace(".", "")
        if len(number) != 10 or not number.isascii() or not number.isdigit():
            raise ValueError(f"TariffItemNumber {item['TariffItemNumber']!r} is not a 10-digit tariff item")
        description = str(item["Description"]).strip()
        unit = str(item.get("UnitOfMeasure") or "").strip()
        valid_from = dt.date.fromisoformat(str(item["EffectiveDate"])[:10]).isoformat()
        rates = item["Rates"]
        if not isinstance(rates, list) or not rates:
            raise ValueError("Rates is not a non-empty list")
        rows = []
        for index, rate in enumerate(rates):
            code = str(rate["TreatmentCode"]).strip()
            if not code.isascii() or not code.isdigit():
                raise ValueError(f"Rates[{index}].TreatmentCode {code!r} is not digits")
            specific = rate.get("SpecificRate")
            specific_unit = rate.get("SpecificRateUnit")
            if (specific is None) != (specific_unit is None):
                raise ValueError(f"Rates[{index}]: SpecificRate and SpecificRateUnit go together")
            rows.append(
                [
                    number,
                    "*" if str(int(code)) == MFN_CODE else str(int(code)),
                    description,
                    unit,
                    _decimal(rate.get("AdValoremRate") or 0, f"Rates[{index}].AdValoremRate"),
                    "0",
                    "false",
                    valid_from,
                    "" if specific is None else _decimal(specific, f"Rates[{index}].SpecificRate"),
                    "" if specific_unit is None else str(specific_unit),
                ]
            )
    except (KeyError, TypeError, AttributeError) as error:
        raise SourceError(f"{where}: missing or malformed field {error}") from error
    except ValueError as error:
        raise SourceError(f"{where}: {error}") from error
    return rows


def _write_page(body: dict[str, Any], where: str, writer: Any) -> int:
    items = body.get("value")
    if not isinstance(items, list):
        raise SourceError(f"{where}: no OData 'value' array in the answer")
    count = 0
    for index, item in enumerate(items):
        for row in tariff_rows(item, f"{where}, value[{index}]"):
            writer.writerow(row)
            count += 1
    return count


def write_header(out: Any, version: str, source: str, *, full: bool = True) -> None:
    """The comment lines of a cached tariff: its version, its scope (``full`` for the whole tariff), its source."""
    scope = "# tariff-scope: full\n" if full else ""
    out.write(f"# tariff-version: {version}\n{scope}# fetched from {source} at {now_utc()}\n")


def fetch_tariff(
    cache: ReferenceCache,
    *,
    url: str = DEFAULT_URL,
    version: str | None = None,
    client: httpx.Client | None = None,
    max_attempts: int = 4,
    backoff_seconds: float = 0.5,
    max_pages: int = MAX_PAGES,
) -> CacheInfo:
    """Follow the service's pages from ``url`` into the cache; the version defaults to the fetch date."""
    version = version or f"cbsa-tariff-srv-{dt.datetime.now(dt.UTC).date().isoformat()}"
    rows = 0
    with http_client(client, 60.0) as http, cache.writing(TABLE) as out:
        write_header(out, version, url)
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(COLUMNS)
        next_url: str | None = url
        page = 0
        while next_url is not None:
            if page == max_pages:
                raise SourceError(f"{url}: more than {max_pages} pages, refused")
            page += 1
            body = get_json(http, next_url, max_attempts=max_attempts, backoff_seconds=backoff_seconds)
            rows += _write_page(body, f"{next_url} (page {page})", writer)
            link = body.get("@odata.nextLink")
            if link is not None and not isinstance(link, str):
                raise SourceError(f"{next_url}: @odata.nextLink is not a URL")
            next_url = str(httpx.URL(next_url).join(link)) if link else None
        if not rows:
            raise SourceError(f"{url}: the service answered no tariff item")
    info = CacheInfo(TABLE, url, version, now_utc(), rows)
    cache.install(info)
    return info


def load_tariff_file(cache: ReferenceCache, path: Path, *, version: str | None = None) -> CacheInfo:
    """Install a tariff from a file: a saved answer of the service (``.json``, one page) or a
    table in ``tariff.csv``'s shape, checked by the gateway's own reader either way."""
    try:
        if path.suffix.lower() == ".json":
            body = read_saved_answer(path)
            version = version or f"file-{path.name}"
            with cache.partial_path(TABLE).open("w", encoding="utf-8", newline="") as out:
                write_header(out, version, str(path))
                writer = csv.writer(out, lineterminator="\n")
                writer.writerow(COLUMNS)
                rows = _write_page(body, str(path), writer)
        else:
            rows = cache.copy_in(TABLE, path)
        version = cache.check(TABLE) or version or f"file-{path.name}"
    except BaseException:
        cache.discard(TABLE)
        raise
    info = CacheInfo(TABLE, str(path.resolve()), version, now_utc(), rows)
    cache.install(info)
    return info
