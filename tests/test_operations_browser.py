"""The operations page in a real browser: Airflow's api-server started here with the
project's DAG and plugin folders, the DAG run over fixture files, then Debian's chromium
(headless, driven by playwright) signs in to Airflow, filters the rejected files, opens
the one a broker filed for an importer without a delegation, watches the operator add
the delegation on the portal (POST /v1/delegations), reprocesses the file and sees it
accepted. Without a login (and as a read-only user) the same actions are refused and
change nothing.

Screenshots go to ``$CARM_SCREENSHOT_DIR`` when set (``docs/images`` regenerates the
README's), else to the test's temporary folder."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.settings import Settings
from ledger import Ledger
from portal.server import PortalServer
from tests.conftest import AIRFLOW_USERS, DAGS_FOLDER, PLUGINS_FOLDER, PROJECT_ROOT, fixture_file
from tests.servers import _log_tail, _stop, ensure_chromium, free_ports

IMPORTER = "123456782RM0001"
UNDELEGATED_BROKER = "100000009RM0001"  # a registered broker (portal seed) without this importer's delegation
NO_DELEGATION = "d01_no_delegation.edi"
START_TIMEOUT = 120.0


def no_delegation_file(inbox: Path) -> None:
    """v01 filed by a broker the importer never delegated (its NAD+DT changed, nothing else)."""
    text = fixture_file("v01_single.edi").read_text(encoding="latin-1")
    changed = text.replace(
        "NAD+DT+123026635RM0001++NORTHERN CUSTOMS BROKERS LTD", f"NAD+DT+{UNDELEGATED_BROKER}++PRAIRIE BROKERS"
    )
    assert changed != text
    (inbox / NO_DELEGATION).write_text(changed, encoding="latin-1")


@pytest.fixture
def ran_dag(airflow_db: None, gateway_settings: Settings, deliver: Callable[..., Path]) -> dict[str, int]:
    """The DAG run once over v02 (accepted), i10 (a bad date) and the undelegated filing (v01's
    interchange and transaction: v01 itself is not delivered)."""
    from airflow.dag_processing.dagbag import DagBag

    inbox = deliver("v02_multi_message.edi", "i10_bad_date.edi")
    no_delegation_file(inbox)
    run = DagBag(dag_folder=str(DAGS_FOLDER)).dags["carm_inbound"].test()
    assert run.state == "success"
    ledger = Ledger(gateway_settings.ledger_database_url())
    try:
        return {r.name: r.id for r in ledger.files()}
    finally:
        ledger.dispose()


@pytest.fixture
def api_server(ran_dag: dict[str, int], tmp_path: Path) -> Iterator[str]:
    """``airflow api-server`` (core API and UI, one worker) on a free 127.0.0.1 port, with this
    checkout first on the path, the tests' Airflow home, database, users and CARM settings."""
    [port] = free_ports(1)
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PYTHONPATH": str(PROJECT_ROOT),
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": url,
    }
    env.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)  # a server as deployed
    assert env["AIRFLOW__CORE__PLUGINS_FOLDER"] == str(PLUGINS_FOLDER)
    log_path = tmp_path / "api-server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "airflow", "api-server", "-H", "127.0.0.1", "-p", str(port), "-w", "1", "--apps", "core"],
            cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"api-server exited with {process.returncode}:\n{_log_tail(log_path)}")
            try:
                if httpx.get(f"{url}/api/v2/monitor/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"api-server not healthy after {START_TIMEOUT:.0f} s:\n{_log_tail(log_path)}")
            time.sleep(0.5)
        yield url
    finally:
        _stop(process)


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    executable = ensure_chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(executable), args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


def screenshot_dir(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("CARM_SCREENSHOT_DIR") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def sign_in(page: Any, url: str, user: str) -> None:
    """Through Airflow's own login form, from the page's 401 link back to the page."""
    page.goto(f"{url}/carm/files")
    assert page.locator("#problem").inner_text() == "Not authenticated"
    page.click("text=Sign in to Airflow")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", AIRFLOW_USERS[user])
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/carm/files")
    assert page.locator("#user").inner_text() == user


def state_of(settings: Settings, file_id: int) -> tuple[str, bool | None, int]:
    ledger = Ledger(settings.ledger_database_url())
    try:
        record = ledger.file(file_id)
        return record.state, record.accepted, len(ledger.events(file_id))
    finally:
        ledger.dispose()


def test_an_operator_fixes_a_rejected_filing_in_the_browser(
    api_server: str,
    ran_dag: dict[str, int],
    browser: Any,
    gateway_settings: Settings,
    portal_server: PortalServer,
    tmp_path: Path,
) -> None:
    url, shots = api_server, screenshot_dir(tmp_path)
    file_id = ran_dag[NO_DELEGATION]
    before = state_of(gateway_settings, file_id)
    assert before[:2] == ("archived", False)  # a sound interchange whose one declaration was refused

    # No login, then a read-only login: the actions are refused and nothing moves.
    anonymous = browser.new_context()
    for action in ("reprocess", "resend"):
        assert anonymous.request.post(f"{url}/carm/files/{file_id}/{action}").status == 401
    viewer = browser.new_context()
    sign_in(viewer.new_page(), url, "viewer")
    for action in ("reprocess", "resend"):
        assert viewer.request.post(f"{url}/carm/files/{file_id}/{action}").status == 403
    assert state_of(gateway_settings, file_id) == before

    # The operator signs in and filters the rejected files.
    page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    sign_in(page, url, "admin")
    page.select_option("select[name=outcome]", "rejected")
    page.click("#filters button[type=submit]")
    page.wait_for_url("**outcome=rejected**")
    rows = page.locator("#files tr[data-file]")
    assert sorted(rows.locator("td:nth-child(2)").all_inner_texts()) == [NO_DELEGATION, "i10_bad_date.edi"]
    page.screenshot(path=str(shots / "operations-rejected-files.png"), full_page=True)

    # The undelegated filing: the declaration refused for the missing delegation.
    page.click(f"text={NO_DELEGATION}")
    page.wait_for_url(f"{url}/carm/files/{file_id}")
    assert page.locator("#outcome").inner_text() == "rejected"
    refused = page.locator("#declarations").inner_text()
    assert "\t412\t" in refused  # the portal's status: the declarant may not file for this importer
    assert f"Declarant {UNDELEGATED_BROKER} holds no active delegation from importer {IMPORTER}" in refused
    page.screenshot(path=str(shots / "operations-file-rejected.png"), full_page=True)

    # The operator adds the delegation on the portal, then reprocesses the file.
    added = httpx.post(f"{portal_server.url}/v1/delegations", json={"importer": IMPORTER, "broker": UNDELEGATED_BROKER})
    assert added.status_code == 201, added.text
    page.click("#reprocess")
    page.wait_for_url(f"{url}/carm/files/{file_id}?notice=**")
    assert page.locator("#outcome").inner_text() == "accepted"
    assert page.locator("#state").inner_text() == "archived"
    assert "now " + NO_DELEGATION + ": archived" in page.locator("#notice").inner_text()
    assert "\t40\t" in page.locator("#declarations").inner_text()  # CARM status 40: accepted
    page.screenshot(path=str(shots / "operations-file-reprocessed.png"), full_page=True)
    assert state_of(gateway_settings, file_id)[:2] == ("archived", True)

    page.click("text=Audit trail")
    audit = page.locator("#actions").inner_text()
    assert "admin" in audit and "page" in audit and f"file {file_id}" in audit and "reprocess" in audit

    # The page inside the Airflow UI (its navigation's external view).
    page.goto(f"{url}/plugin/carm-files")
    frame = page.frame_locator("iframe")
    assert frame.locator("h1").inner_text() == "CARM files"
    page.screenshot(path=str(shots / "operations-in-airflow.png"))
