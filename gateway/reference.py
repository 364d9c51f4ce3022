"""The reference tables the gateway runs with: the fetched cache where there is one, the shipped excerpt otherwise."""

from __future__ import annotations

from gateway.settings import Settings
from reference_sources.cache import ReferenceCache
from validators.reference_data import DEFAULT_DIRECTORY, ReferenceData


def active_reference(settings: Settings) -> ReferenceData | None:
    """The tables with the cached (or explicitly configured) tariff and the cached rates;
    None when neither differs from the shipped ones (the rules then use ``default_reference()``)."""
    tariff = settings.active_tariff_path()
    rates_cached = ReferenceCache(settings.reference_cache_dir).info("exchange_rates") is not None
    rates = settings.reference_cache_dir / "exchange_rates.csv" if rates_cached else None
    if tariff == DEFAULT_DIRECTORY / "tariff.csv" and rates is None:
        return None
    return ReferenceData.load(DEFAULT_DIRECTORY, tariff_path=tariff, exchange_rates_path=rates)
