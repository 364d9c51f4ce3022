"""Shared fixtures: the Airflow test environment, the embedded portal over HTTP,
gateway settings in a temporary folder, and delivering fixture files to an inbox.

Airflow reads its configuration once, when it is first imported, so its
environment is set here at import time, before any test module can import it:
a per-session ``AIRFLOW_HOME`` with its own SQLite database, no examples, the
project's ``dags`` and ``plugins`` folders, the simple auth manager with two known
users (``admin``, role admin, and ``viewer``, role viewer; passwords in ``AIRFLOW_USERS``)
and a JWT secret. Nothing here imports Airflow; tests that need its database request
``airflow_db`` (created once per session, about 1.5 s).
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gateway.settings import Settings
from portal.server import PortalServer
from tests.servers import s3_server, sshd  # noqa: F401  (session fixtures: real sshd and SeaweedFS, started on first use)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DAGS_FOLDER = PROJECT_ROOT / "dags"
PLUGINS_FOLDER = PROJECT_ROOT / "plugins"
FIXTURES = PROJECT_ROOT / "fixtures"
TARIFF_PATH = FIXTURES / "reference" / "tariff.csv"

_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="carm-airflow-"))
atexit.register(shutil.rmtree, _AIRFLOW_HOME, ignore_errors=True)
AIRFLOW_USERS = {"admin": "admin-password", "viewer": "viewer-password"}
(_AIRFLOW_HOME / "passwords.json").write_text(json.dumps(AIRFLOW_USERS))
os.environ.update(
    {
        "AIRFLOW_HOME": str(_AIRFLOW_HOME),
        "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PLUGINS_FOLDER),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,viewer:viewer",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(_AIRFLOW_HOME / "passwords.json"),
        "AIRFLOW__API_AUTH__JWT_SECRET": "carm-tests-" + "0123456789abcdef" * 4,
    }
)


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """The Airflow metadata database, created from the ORM once per session."""
    from airflow.utils import db

    db.initdb()


@pytest.fixture
def portal_server(tmp_path: Path) -> Iterator[PortalServer]:
    """The embedded portal on 127.0.0.1 (free port) with its SQLite database in tmp_path."""
    with PortalServer(f"sqlite:///{tmp_path / 'portal.sqlite'}", TARIFF_PATH) as server:
        yield server


@pytest.fixture
def gateway_settings(tmp_path: Path, portal_server: PortalServer, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings with every folder and database in tmp_path, posting to ``portal_server``.

    Inbox files are claimed when listed (``quiet_seconds`` 0): the tests copy
    whole files in. They are also exported as ``CARM_*`` variables, so code that builds
    ``Settings()`` itself (the DAG's tasks) sees the same values.
    """
    values = {
        "data_dir": str(tmp_path / "data"),
        "ledger_url": f"sqlite:///{tmp_path / 'ledger.sqlite'}",
        "portal_url": portal_server.url,
        "portal_backoff_seconds": "0.01",
        "quiet_seconds": "0",  # tests put whole files in place; tests/test_partial_uploads.py sets its own
    }
    for name, value in values.items():
        monkeypatch.setenv(f"CARM_{name.upper()}", value)
    return Settings()


def fixture_file(name: str) -> Path:
    """A CUSDEC fixture by file name, from ``valid/`` or ``invalid/``."""
    for folder in ("valid", "invalid"):
        path = FIXTURES / "cusdec" / folder / name
        if path.is_file():
            return path
    raise FileNotFoundError(name)


@pytest.fixture
def deliver(gateway_settings: Settings) -> Callable[..., Path]:
    """``deliver("v01_single.edi", ..., partner="broker01")`` copies fixture files
    into ``<data_dir>/partners/<partner>/inbox`` and returns that inbox."""

    def _deliver(*names: str, partner: str = "broker01") -> Path:
        inbox = gateway_settings.resolved_data_dir / "partners" / partner / "inbox"
        inbox.mkdir(parents=True, exist_ok=True)
        for name in names:
            shutil.copyfile(fixture_file(name), inbox / name)
        return inbox

    return _deliver
