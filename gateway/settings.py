"""One typed settings object for the whole gateway (environment prefix ``CARM_``).

Defaults are the embedded set-up: local folders under ``data_dir``, SQLite for
the ledger and the embedded portal, the portal on 127.0.0.1.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CARM_", env_nested_delimiter="__")

    data_dir: Path = Field(default=Path(".demo"), description="Root of the local folder transport.")
    ledger_url: str | None = Field(
        default=None, description="SQLAlchemy URL of the ledger; default SQLite in data_dir."
    )
    portal_url: str = Field(default="http://127.0.0.1:8765", description="Base URL of the portal API.")
    portal_api_key: str | None = Field(default=None, description="Sent as x-api-key.")
    portal_api: Literal["json", "carm"] = Field(
        default="json",
        description="How declarations are posted: json (the embedded portal's JSON API) or carm "
        "(CAD-IN XML to CARM's declaration API at carm_url + carm_cad_path; docs/portal-api.md).",
    )
    carm_url: str | None = Field(
        default=None,
        description="Base URL of CARM's declaration API (portal_api carm); None: portal_url (the embedded "
        "portal's CARM-shaped API). The look-ups and payments stay on portal_url.",
    )
    carm_cad_path: str = Field(default="/carm/v1/cad", description="The CAD endpoint's path under carm_url.")
    carm_api_key: str | None = Field(
        default=None, repr=False, description="CARM's x-api-key; None: portal_api_key (the embedded portal's)."
    )
    carm_ca_bundle: str | None = Field(
        default=None, description="PEM file of the CAs that may sign CARM's certificate; None: portal_ca_bundle."
    )
    carm_connection_id: str | None = Field(
        default=None,
        description="An Airflow connection holding CARM's endpoint and key (host, schema https, port, password; "
        "extra ca_bundle and cad_path): it wins over carm_url, carm_api_key, carm_ca_bundle and carm_cad_path.",
    )
    portal_ca_bundle: str | None = Field(
        default=None, description="PEM file of the CAs that may sign the portal's certificate (None: the system's)."
    )
    portal_timeout_seconds: float = 10.0
    portal_max_attempts: int = Field(default=4, ge=1)
    portal_backoff_seconds: float = Field(default=0.2, ge=0)
    portal_circuit_failures: int = Field(
        default=8, ge=1, description="Consecutive failed attempts that open the circuit."
    )
    portal_circuit_cooldown_seconds: float = Field(
        default=30.0, ge=0, description="Open circuit: seconds before one trial request."
    )
    pending_first_query_seconds: float = Field(
        default=300.0, ge=0, description="A version answered 200 or 42 is first queried this long after its post."
    )
    pending_max_interval_seconds: float = Field(
        default=3600.0, gt=0, description="The longest wait between two queries of a pending version (doubling)."
    )
    pending_deadline_hours: float = Field(
        default=336.0, gt=0, description="A version still not final this long after its post is expired (logged)."
    )
    portal_concurrency: int = Field(
        default=32,
        ge=1,
        le=128,
        description="Requests in flight to the portal per worker (one keep-alive connection pool): a file's "
        "declarations are posted this many at a time (answered in message order) and the files worked at "
        "once (files_in_flight) share the bound; 1: one post at a time, one file at a time (files answered "
        "in the inbox's order).",
    )
    files_in_flight: int = Field(
        default=8,
        ge=1,
        le=64,
        description="A batch's files worked at once per worker, their posts overlapping (never more than "
        "portal_concurrency); 1: one file at a time, in the inbox's order.",
    )
    portal_rate_limit_per_second: float = Field(
        default=0.0, ge=0, description="At most this many requests to the portal per second per worker; 0: no limit."
    )
    claim_lease_seconds: float = Field(
        default=600.0, gt=0, description="A claim not renewed for this long is resumed by the next run."
    )
    quiet_seconds: float = Field(
        default=5.0,
        ge=0,
        le=300,
        description="An inbox file is claimed once its size and modification time held still this long, "
        "measured within one run (a partner's uploads.quiet_seconds overrides it; 0: claimed when listed).",
    )
    park_seconds: float = Field(
        default=300.0, ge=0, description="A file parked for a portal outage waits this long before a run retries it."
    )
    max_failed_attempts: int = Field(
        default=3,
        ge=1,
        description="Attempts at a file that may end in an unexpected error (an exception out of its flow); "
        "at this many the file is failed: internal error (quarantined, answered, not retried); "
        "a partner's max_failed_attempts in the registry overrides it.",
    )
    retention_years: int = Field(
        default=6,
        ge=0,
        le=100,
        description="A file's original, answers (acknowledgements, report) and ledger rows are kept this many full "
        "calendar years after the year it was received (UTC), then purged by `carm-edi ledger purge` and the "
        "carm_retention DAG; 6: the customs record-keeping rules (Imported Goods Records Regulations s. 2, Customs "
        "Brokers Licensing Regulations s. 17(2), CBSA memorandum D17-1-21; docs/decisions.md); a partner's "
        "retention_years in the registry overrides it.",
    )
    portal_database_url: str | None = Field(
        default=None, description="SQLAlchemy URL of the embedded portal; default SQLite in data_dir."
    )
    reference_dir: Path = Field(
        default=PROJECT_ROOT / "fixtures" / "reference",
        description="The reference tables' directory (docs/reference-data.md), read by the embedded portal (billing "
        "calendar, holidays, prescribed rates) and by the gateway's rules (treatments, offices, holidays, the "
        "exchange rates when none are cached, …); the tariff is tariff_path's.",
    )
    tariff_path: Path = Field(
        default=PROJECT_ROOT / "fixtures" / "reference" / "tariff.csv",
        description="The tariff table when none is cached (set explicitly, it wins over the cache).",
    )
    tariff_service_url: str = Field(
        default="https://ccapi-ipacc.cbsa-asfc.cloud-nuage.canada.ca/v1/tariff-srv/TariffItems?$expand=Rates",
        description="First page of CBSA's OData tariff service, for `carm-edi tariff update`.",
    )
    exchange_rates_url: str = Field(
        default="https://bcd-api-dca-ipa.cbsa-asfc.cloud-nuage.canada.ca/exchange-rate-lambda/exchange-rates",
        description="CBSA's Exchange Rates API, for `carm-edi rates update`.",
    )
    gateway_id: str = Field(default="CARMGW", description="Our UNB sender id on acknowledgements.")
    gateway_id_qualifier: str = Field(default="ZZZ")
    batch_size: int = Field(default=20, ge=1, description="Files per mapped Airflow task.")
    max_file_bytes: int = Field(
        default=1024**3,
        ge=1,
        description="Larger files are refused unread (a SIZE finding, a rejecting acknowledgement), whatever their "
        "format; a partner's max_file_bytes in the registry overrides it.",
    )
    notify_webhook_url: str | None = Field(
        default=None,
        description="Alerts (a failed run, parked files, a partner silent past its expected interval, a run past its "
        "deadline) are POSTed here as JSON (gateway/notifier.py); None: no webhook.",
    )
    notify_email_to: list[str] = Field(
        default_factory=list,
        description="Alerts are e-mailed to these addresses through Airflow's SMTP connection notify_smtp_conn_id "
        '(JSON list in CARM_NOTIFY_EMAIL_TO, e.g. ["ops@example.com"]); empty: no e-mail.',
    )
    notify_email_from: str | None = Field(
        default=None, description="The alerts' sender; None: the SMTP connection's from_email extra."
    )
    notify_smtp_conn_id: str = Field(default="smtp_default", description="The Airflow SMTP connection of alerts.")
    notify_timeout_seconds: float = Field(default=10.0, gt=0, description="Per alert and channel.")
    partners_path: Path = Field(
        default=PROJECT_ROOT / "fixtures" / "partners.toml",
        description="The partner registry (TOML, see docs/transports.md).",
    )

    @property
    def files_at_once(self) -> int:
        """The files of a batch a worker works at once: ``files_in_flight``, at most ``portal_concurrency``."""
        return min(self.files_in_flight, self.portal_concurrency)

    @cached_property
    def resolved_data_dir(self) -> Path:
        return self.data_dir.resolve()

    @property
    def reference_cache_dir(self) -> Path:
        """Where `carm-edi tariff/rates update` keep the fetched tables (reference_sources.cache)."""
        return self.resolved_data_dir / "reference"

    def active_tariff_path(self) -> Path:
        """The tariff in use: an explicitly set ``tariff_path``, else the cached one when fetched
        (its metadata written last, so its presence means the table is whole), else the shipped excerpt."""
        cached = self.reference_cache_dir / "tariff.csv"
        if "tariff_path" not in self.model_fields_set and (self.reference_cache_dir / "tariff.json").is_file():
            return cached
        return self.tariff_path

    def ledger_database_url(self) -> str:
        return self.ledger_url or f"sqlite:///{self.resolved_data_dir / 'ledger.sqlite'}"

    def portal_database(self) -> str:
        return self.portal_database_url or f"sqlite:///{self.resolved_data_dir / 'portal.sqlite'}"


def load_settings(**overrides: object) -> Settings:
    return Settings(**overrides)  # type: ignore[arg-type]  # any field by name: the model validates each override itself
