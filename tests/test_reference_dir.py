"""One setting, ``reference_dir`` (``CARM_REFERENCE_DIR``), points the embedded portal and the
gateway's rules at a reference directory other than the shipped one (issue 17: the billing
calendar is "shipped as data and overridable").

Dates by hand: released Wednesday 2025-01-15, a declaration is in the period 2024-12-18 –
2025-01-17 (Friday). The shipped calendar makes it due the 10th weekday after: 20 21 22 23 24,
27 28 29 30 31 January, so Friday 2025-01-31 (no holiday in between). With ``due_days`` 5 it is
due Friday 2025-01-24; with 2025-01-31 a holiday it moves to the next business day, Monday
2025-02-03.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from gateway.reference import active_reference
from gateway.settings import PROJECT_ROOT, Settings
from portal.server import PortalServer
from tests.test_portal_api import TARIFF_PATH, make_declaration, make_line, post
from validators.reference_data import DEFAULT_DIRECTORY
from validators.rules import payment_due_date

IMPORTER = "123456782RM0001"
RELEASE = dt.date(2025, 1, 15)
SHIPPED_DUE = dt.date(2025, 1, 31)


def overridden(tmp_path: Path, change: str) -> Path:
    """A copy of the shipped reference directory with one table changed."""
    directory = tmp_path / "reference"
    shutil.copytree(DEFAULT_DIRECTORY, directory)
    if change == "treatments":  # MFN (2) struck from the treatment list
        treatments = directory / "tariff_treatments.csv"
        rows = treatments.read_text().splitlines(keepends=True)
        assert sum(row.startswith("2,MFN,") for row in rows) == 1
        treatments.write_text("".join(row for row in rows if not row.startswith("2,MFN,")))
    elif change == "calendar":
        calendar = directory / "billing_calendar.csv"
        shipped_row = '17,10,weekdays,next_business_day,"SOR/86-1062'
        assert shipped_row in calendar.read_text()
        calendar.write_text(calendar.read_text().replace(shipped_row, '17,5,weekdays,next_business_day,"SOR/86-1062'))
    else:
        with (directory / "holidays.csv").open("a") as holidays:
            holidays.write('2025-01-31,"A holiday of our own"\n')
    return directory


OVERRIDES = [("calendar", dt.date(2025, 1, 24)), ("holidays", dt.date(2025, 2, 3))]


def due_date_served(url: str) -> dt.date:
    """Declare one line released on ``RELEASE`` and read its period's due date from the statement."""
    declaration = make_declaration(make_line(1, "6109100010", "2", "810.00"), transaction_number="10207000220870")
    with httpx.Client(base_url=url, timeout=10) as http:
        answer = post(http, declaration.model_copy(update={"release_date": RELEASE}), "key-reference-dir")
        assert answer.status_code == 201, answer.text
        statement = http.get(f"/v1/accounts/{IMPORTER}/statement", params={"as_of": "2025-01-20"}).json()
    [period] = statement["periods"]
    assert (period["period_start"], period["period_end"]) == ("2024-12-18", "2025-01-17")
    return dt.date.fromisoformat(period["due_date"])


@pytest.mark.parametrize(("change", "due"), OVERRIDES)
def test_an_overridden_reference_directory_changes_the_due_date_served(
    tmp_path: Path, change: str, due: dt.date
) -> None:
    directory = overridden(tmp_path, change)
    with PortalServer(f"sqlite:///{tmp_path / 'portal.sqlite'}", TARIFF_PATH, reference_dir=directory) as server:
        assert due_date_served(server.url) == due
    with PortalServer(f"sqlite:///{tmp_path / 'shipped.sqlite'}", TARIFF_PATH) as shipped:
        assert due_date_served(shipped.url) == SHIPPED_DUE


def test_the_portal_assesses_with_the_treatments_of_its_directory(tmp_path: Path) -> None:
    declaration = make_declaration(make_line(1, "6109100010", "2", "810.00"), transaction_number="10207000220870")

    def answer(server: PortalServer) -> httpx.Response:
        with server, httpx.Client(base_url=server.url, timeout=10) as http:
            return post(http, declaration, "key-treatments")

    directory = overridden(tmp_path, "treatments")
    refused = answer(PortalServer(f"sqlite:///{tmp_path / 'portal.sqlite'}", TARIFF_PATH, reference_dir=directory))
    assert refused.status_code == 422, refused.text
    assert [(e["code"], e["pointer"]) for e in refused.json()["errors"]] == [("P202", "lines[0].tariff_treatment")]
    assert answer(PortalServer(f"sqlite:///{tmp_path / 'shipped.sqlite'}", TARIFF_PATH)).status_code == 201


@pytest.mark.parametrize(("change", "due"), OVERRIDES)
def test_the_gateway_rules_read_the_same_directory(tmp_path: Path, change: str, due: dt.date) -> None:
    settings = Settings(data_dir=tmp_path / "data", reference_dir=overridden(tmp_path, change))
    reference = active_reference(settings)
    assert reference is not None and reference.directory == settings.reference_dir
    assert payment_due_date(RELEASE, reference) == due
    assert active_reference(Settings(data_dir=tmp_path / "data")) is None  # the shipped tables: the defaults


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_portal_serve_reads_the_setting(tmp_path: Path) -> None:
    """``carm-edi portal serve`` with ``CARM_REFERENCE_DIR`` set, in its own process."""
    port = _free_port()
    environment = {
        **os.environ,
        "CARM_REFERENCE_DIR": str(overridden(tmp_path, "holidays")),
        "CARM_DATA_DIR": str(tmp_path / "data"),
    }
    command = [sys.executable, "-c", "import sys; from gateway.cli import main; sys.exit(main(sys.argv[1:]))"]
    command += ["portal", "serve", "--port", str(port), "--database-url", f"sqlite:///{tmp_path / 'portal.sqlite'}"]
    server = subprocess.Popen(command, cwd=PROJECT_ROOT, env=environment, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/docs", timeout=1)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                assert time.monotonic() < deadline, "the portal did not start"
                time.sleep(0.1)
        assert due_date_served(url) == dt.date(2025, 2, 3)
    finally:
        server.terminate()
        server.wait(timeout=10)
