"""The tariff and exchange-rate loaders against a real HTTP server on 127.0.0.1 serving the
hand-built answers of fixtures/reference_sources/ (429s, 400s, malformed answers included)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

from reference_sources.cache import ReferenceCache
from reference_sources.exchange_rates import fetch_rates, load_rates_file
from reference_sources.http import SourceError
from reference_sources.tariff_service import fetch_tariff, load_tariff_file
from tests.edifact_helpers import CUSDEC

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "reference_sources"
RULES = FIXTURES.parent / "rules"
Answer = tuple[int, dict[str, str], bytes]


def fixture(name: str) -> Answer:
    return 200, {"Content-Type": "application/json"}, (FIXTURES / name).read_bytes()


class Service:
    """A loopback HTTP server answering each (path, query) from a script: the answers are
    given in order, the last one repeated; every request is logged."""

    def __init__(self) -> None:
        self.script: dict[tuple[str, frozenset[tuple[str, str]]], list[Answer]] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = dict(parse_qsl(parts.query))
                service.requests.append((parts.path, query))
                answers = service.script.get((parts.path, frozenset(query.items())))
                status, headers, body = (
                    (answers.pop(0) if len(answers) > 1 else answers[0]) if answers else (404, {}, b"")
                )
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def on(self, path: str, query: dict[str, str], *answers: Answer) -> None:
        self.script[(path, frozenset(query.items()))] = list(answers)


@pytest.fixture
def service() -> Iterator[Service]:
    running = Service()
    thread = threading.Thread(target=running.server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield running
    running.server.shutdown()
    running.server.server_close()


TARIFF_PATH = "/v1/tariff-srv/TariffItems"
FIRST = {"$expand": "Rates"}
SECOND = {"$expand": "Rates", "$skip": "2"}
RATES_PATH = "/exchange-rate-lambda/exchange-rates"


def rates_query(skip: int, limit: int = 3) -> dict[str, str]:
    return {"StartDate": "2026-12-01", "EndDate": "2026-12-04", "limit": str(limit), "skip": str(skip)}


def fetch_the_rates(service: Service, cache: ReferenceCache) -> object:
    return fetch_rates(
        cache,
        dt.date(2026, 12, 1),
        dt.date(2026, 12, 4),
        url=service.base + RATES_PATH,
        page_size=3,
        backoff_seconds=0.01,
    )


# the tariff service ---------------------------------------------------------------------


def test_the_tariff_is_read_page_by_page_into_the_cache_and_used(service: Service, tmp_path: Path) -> None:
    service.on(TARIFF_PATH, FIRST, fixture("tariff-page-1.json"))
    service.on(TARIFF_PATH, SECOND, fixture("tariff-page-2.json"))
    cache = ReferenceCache(tmp_path / "reference")

    info = fetch_tariff(cache, url=f"{service.base}{TARIFF_PATH}?$expand=Rates", version="2026-test")

    assert [query for _, query in service.requests] == [FIRST, SECOND]
    assert (info.version, info.rows) == ("2026-test", 5)
    assert cache.info("tariff") == info
    tariff = cache.load_reference().tariff
    assert tariff.version == "2026-test" and not tariff.excerpt
    mfn = tariff.row("6109100010", "2", dt.date(2026, 6, 1))
    assert mfn is not None and mfn.duty_rate == Decimal("18") and mfn.treatment == "*"
    ust = tariff.row("6109100010", "10", dt.date(2026, 6, 1))
    assert ust is not None and ust.duty_rate == 0
    wine = tariff.row("2204210000", "2", dt.date(2026, 6, 1))
    assert wine is not None and (wine.specific_rate, wine.specific_unit) == (Decimal("0.0187"), "LTR")
    car = tariff.row("8703800000", "2", dt.date(2026, 6, 1))
    assert car is not None and car.duty_rate == Decimal("6.1")
    assert tariff.row("6109100010", "2", dt.date(2025, 12, 31)) is None  # not in force before its EffectiveDate


def test_a_429_is_waited_out_as_retry_after_says(service: Service, tmp_path: Path) -> None:
    throttled: Answer = (429, {"Retry-After": "0"}, b'{"error": "Too Many Requests"}')
    service.on(TARIFF_PATH, FIRST, throttled, throttled, fixture("tariff-page-1.json"))
    service.on(TARIFF_PATH, SECOND, throttled, fixture("tariff-page-2.json"))
    cache = ReferenceCache(tmp_path)

    info = fetch_tariff(cache, url=f"{service.base}{TARIFF_PATH}?$expand=Rates", backoff_seconds=0.01)

    assert [query for _, query in service.requests] == [FIRST, FIRST, FIRST, SECOND, SECOND]
    assert info.rows == 5


def test_endless_429s_give_up_after_the_attempts_and_keep_the_previous_cache(service: Service, tmp_path: Path) -> None:
    service.on(TARIFF_PATH, FIRST, fixture("tariff-page-1.json"))
    service.on(TARIFF_PATH, SECOND, fixture("tariff-page-2.json"))
    cache = ReferenceCache(tmp_path)
    url = f"{service.base}{TARIFF_PATH}?$expand=Rates"
    before = fetch_tariff(cache, url=url, version="first")
    service.on(TARIFF_PATH, FIRST, (429, {"Retry-After": "0"}, b""))

    with pytest.raises(SourceError, match=r"gave up after 3 attempts, the last one HTTP 429 \(throttled\)"):
        fetch_tariff(cache, url=url, version="second", max_attempts=3, backoff_seconds=0.01)

    assert cache.info("tariff") == before
    assert not cache.partial_path("tariff").exists()
    assert cache.load_reference().tariff.version == "first"


def test_a_malformed_tariff_item_is_named_and_nothing_installed(service: Service, tmp_path: Path) -> None:
    service.on(TARIFF_PATH, FIRST, fixture("tariff-malformed.json"))
    cache = ReferenceCache(tmp_path)

    with pytest.raises(SourceError) as raised:
        fetch_tariff(cache, url=f"{service.base}{TARIFF_PATH}?$expand=Rates")

    message = str(raised.value)
    assert "(page 1), value[1]" in message
    assert "TariffItemNumber '6204.62.000' is not a 10-digit tariff item" in message
    assert cache.info("tariff") is None and not cache.csv_path("tariff").exists()
    assert cache.load_reference().tariff.version == "2025.1-illustrative"  # the shipped excerpt


def test_a_next_link_that_never_ends_is_refused(service: Service, tmp_path: Path) -> None:
    service.on(TARIFF_PATH, FIRST, fixture("tariff-page-1.json"))
    service.on(TARIFF_PATH, SECOND, fixture("tariff-page-1.json"))  # links to itself
    cache = ReferenceCache(tmp_path)
    with pytest.raises(SourceError, match="more than 3 pages, refused"):
        fetch_tariff(cache, url=f"{service.base}{TARIFF_PATH}?$expand=Rates", max_pages=3)
    assert len(service.requests) == 3 and cache.info("tariff") is None


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"<html>gateway error</html>", "the answer is not JSON"),
        (b'["not", "an", "object"]', "JSON but not an object"),
        (b'{"items": []}', "no OData 'value' array"),
    ],
)
def test_an_answer_that_is_not_an_odata_page_is_refused(
    service: Service, tmp_path: Path, body: bytes, expected: str
) -> None:
    service.on(TARIFF_PATH, FIRST, (200, {"Content-Type": "application/json"}, body))
    with pytest.raises(SourceError, match=expected):
        fetch_tariff(ReferenceCache(tmp_path), url=f"{service.base}{TARIFF_PATH}?$expand=Rates")


def test_a_saved_tariff_answer_or_table_file_is_installed(tmp_path: Path) -> None:
    cache = ReferenceCache(tmp_path / "cache")
    info = load_tariff_file(cache, FIXTURES / "tariff-page-2.json", version="saved")
    assert (info.version, info.rows) == ("saved", 1)
    assert cache.load_reference().tariff.row("8703800000", "2", dt.date(2026, 6, 1)) is not None

    table = tmp_path / "tariff.csv"
    table.write_text(
        "# tariff-version: broker-2026.12\n"
        "hs_code,treatment,description,unit,duty_rate,excise_rate,gst_exempt,valid_from\n"
        "6109100010,*,T-shirts,NMB,18,0,false,2026-01-01\n",
        encoding="utf-8",
    )
    info = load_tariff_file(cache, table)
    assert (info.version, info.rows) == ("broker-2026.12", 1)
    assert cache.load_reference().tariff.version == "broker-2026.12"


def test_a_tariff_file_that_does_not_load_is_not_installed(tmp_path: Path) -> None:
    table = tmp_path / "tariff.csv"
    table.write_text("hs_code,treatment\n6109100010,*\n", encoding="utf-8")
    cache = ReferenceCache(tmp_path / "cache")
    with pytest.raises(SourceError, match=r"the tariff table does not load: .*columns must be"):
        load_tariff_file(cache, table)
    assert cache.info("tariff") is None


# the Exchange Rates API -------------------------------------------------------------------


def test_rates_are_read_by_date_range_with_limit_and_skip(service: Service, tmp_path: Path) -> None:
    service.on(RATES_PATH, rates_query(0), fixture("rates-page-1.json"))
    service.on(RATES_PATH, rates_query(3), fixture("rates-page-2.json"))
    cache = ReferenceCache(tmp_path)

    info = fetch_the_rates(service, cache)

    assert [query for _, query in service.requests] == [rates_query(0), rates_query(3)]
    assert (info.rows, info.rate_date) == (4, "2026-12-04")
    assert info.version == "cbsa-exchange-rates 2026-12-01..2026-12-04"
    reference = cache.load_reference()
    rates = reference.exchange_rates
    assert rates.rate("USD", dt.date(2026, 12, 3)) == Decimal("1.3912")
    assert rates.rate("USD", dt.date(2026, 12, 4)) == Decimal("1.3950")
    assert rates.rate("CNY", dt.date(2026, 12, 5)) == Decimal("0.1921")
    assert rates.rate("CNY", dt.date(2026, 12, 3)) is None
    assert rates.rate_date("USD", dt.date(2026, 12, 3)) == dt.date(2026, 12, 1)
    assert reference.versions["exchange_rates.csv"] == info.version


def test_a_rates_429_is_retried_and_a_400_names_the_query(service: Service, tmp_path: Path) -> None:
    service.on(RATES_PATH, rates_query(0), (429, {"Retry-After": "0"}, b""), fixture("rates-page-1.json"))
    service.on(RATES_PATH, rates_query(3), (400, {}, b'{"error": {"message": "EndDate is invalid"}}'))
    cache = ReferenceCache(tmp_path)

    with pytest.raises(SourceError) as raised:
        fetch_the_rates(service, cache)

    assert len(service.requests) == 3  # the 429 retried once, the 400 not retried
    message = str(raised.value)
    assert "StartDate=2026-12-01&EndDate=2026-12-04&limit=3&skip=3" in message
    assert "400 Bad Request" in message and "EndDate is invalid" in message
    assert cache.info("exchange_rates") is None


def test_a_malformed_rate_row_is_named(service: Service, tmp_path: Path) -> None:
    service.on(RATES_PATH, rates_query(0), fixture("rates-malformed.json"))
    with pytest.raises(SourceError, match=r"\(skip=0\), ForeignExchangeRates\[1\]: missing field 'Rate'"):
        fetch_the_rates(service, ReferenceCache(tmp_path))


def test_a_server_that_is_down_is_an_error_after_the_attempts(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="gave up after 2 attempts, the last one could not connect"):
        fetch_rates(
            ReferenceCache(tmp_path),
            dt.date(2026, 12, 1),
            dt.date(2026, 12, 4),
            url="http://127.0.0.1:9/exchange-rates",
            max_attempts=2,
            backoff_seconds=0.01,
        )


def test_a_saved_rates_answer_is_installed_with_its_rate_date(tmp_path: Path) -> None:
    cache = ReferenceCache(tmp_path)
    info = load_rates_file(cache, FIXTURES / "rates-page-1.json")
    assert (info.rows, info.rate_date) == (3, "2026-12-04")
    assert json.loads((tmp_path / "exchange_rates.json").read_text())["rate_date"] == "2026-12-04"


# `carm-edi tariff` and `carm-edi rates`, run as a user runs them ---------------------------

CLI = [sys.executable, "-m", "gateway.cli"]


def run(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("CARM_")}
    env["CARM_DATA_DIR"] = str(data_dir)
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120, env=env)


def test_tariff_show_update_and_the_estimate_uses_the_cache(service: Service, tmp_path: Path) -> None:
    shown = run("tariff", "show", "--json", data_dir=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) | {"source": None} == {
        "table": "tariff",
        "cached": False,
        "source": None,
        "version": "2025.1-illustrative",
    }

    service.on(TARIFF_PATH, FIRST, fixture("tariff-page-1.json"))
    service.on(TARIFF_PATH, SECOND, fixture("tariff-page-2.json"))
    url = f"{service.base}{TARIFF_PATH}?$expand=Rates"
    updated = run("tariff", "update", "--url", url, "--version", "cbsa-2026-12", "--json", data_dir=tmp_path)
    assert updated.returncode == 0, updated.stderr
    shown_body = json.loads(run("tariff", "show", "--json", data_dir=tmp_path).stdout)
    assert shown_body["cached"] and (shown_body["source"], shown_body["version"], shown_body["rows"]) == (
        url,
        "cbsa-2026-12",
        5,
    )

    estimate = run("estimate", "--json", str(CUSDEC / "invalid" / "i11_unknown_hs.edi"), data_dir=tmp_path)
    body = json.loads(estimate.stdout)
    assert body["tariff_version"] == "cbsa-2026-12"
    assert "is not in the tariff (version cbsa-2026-12)" in body["declarations"][0]["lines"][0]["problem"]


def test_rates_update_from_a_failing_service_leaves_the_cache_and_says_why(service: Service, tmp_path: Path) -> None:
    service.on(RATES_PATH, rates_query(0, limit=500), fixture("rates-malformed.json"))
    failed = run(
        "rates",
        "update",
        "--url",
        service.base + RATES_PATH,
        "--start",
        "2026-12-01",
        "--end",
        "2026-12-04",
        data_dir=tmp_path,
    )
    assert failed.returncode == 2
    assert "cannot update the exchange_rates:" in failed.stderr and "missing field 'Rate'" in failed.stderr
    assert json.loads(run("rates", "show", "--json", data_dir=tmp_path).stdout)["cached"] is False

    installed = run("rates", "update", "--file", str(FIXTURES / "rates-page-1.json"), data_dir=tmp_path)
    assert installed.returncode == 0, installed.stderr
    shown = json.loads(run("rates", "show", "--json", data_dir=tmp_path).stdout)
    assert (shown["cached"], shown["rate_date"], shown["rows"]) == (True, "2026-12-04", 3)


def test_check_uses_the_cached_rates_and_tariff_and_its_findings_name_them(tmp_path: Path) -> None:
    rates = tmp_path / "rates.csv"
    rates.write_text("# reference-version: broker-rates-1\ncurrency,valid_from,rate\nEUR,2025-01-02,1.4800\n")
    # the shipped table's rate is 1.4700 from 2024-01-01: a finding with 1.4800 of 2025-01-02 used the cache
    tariff = tmp_path / "tariff.csv"
    tariff.write_text(
        (Path(__file__).resolve().parent.parent / "fixtures" / "reference" / "tariff.csv")
        .read_text(encoding="utf-8")
        .replace("# tariff-version: 2025.1-illustrative", "# tariff-version: broker-tariff-7")
    )
    for table, path in (("rates", rates), ("tariff", tariff)):
        installed = run(table, "update", "--file", str(path), data_dir=tmp_path)
        assert installed.returncode == 0, installed.stderr

    fx = run("check", "--json", str(RULES / "amt-fx_fail.edi"), data_dir=tmp_path)
    [finding] = [e for e in json.loads(fx.stdout)["documents"][0]["errors"] if e["code"] == "AMT-FX"]
    assert finding["message"].endswith(
        "differs from the reference rate 1.4800 in force on the date of direct shipment 2025-01-11 "
        "(the rate of 2025-01-02, exchange rates version broker-rates-1)"
    )
    rate = run("check", "--json", str(RULES / "amt-rate_fail.edi"), data_dir=tmp_path)
    [finding] = [e for e in json.loads(rate.stdout)["documents"][0]["errors"] if e["code"] == "AMT-RATE"]
    assert finding["message"].endswith("in the loaded tariff excerpt (version broker-tariff-7)")
    duty = run("check", "--json", str(RULES / "amt-duty_fail.edi"), data_dir=tmp_path)
    [finding] = [e for e in json.loads(duty.stdout)["documents"][0]["errors"] if e["code"] == "AMT-DUTY"]
    assert finding["message"].endswith("= 145.80, by the loaded tariff excerpt (version broker-tariff-7)")
