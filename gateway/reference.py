"""The reference tables the gateway runs with: the fetched cache where there is one, the configured
directory (``Settings.reference_dir``, the shipped excerpt by default) otherwise."""

from __future__ import annotations

from gateway.settings import Settings
from reference_sources.cache import ReferenceCache
from validators.reference_data import DEFAULT_DIRECTORY, ReferenceData


def active_reference(settings: Settings) -> ReferenceData | None:
    """The tables of ``settings.reference_dir`` with the cached (or explicitly configured) tariff and
    the cached rates; None when none of them differs from the shipped ones (the rules then use
    ``default_reference()``)."""
    directory = settings.reference_dir
    tariff = settings.active_tariff_path()
    rates_cached = ReferenceCache(settings.reference_cache_dir).info("exchange_rates") is not None
    rates = settings.reference_cache_dir / "exchange_rates.csv" if rates_cached else None
    if directory.resolve() == DEFAULT_DIRECTORY and tariff == DEFAULT_DIRECTORY / "tariff.csv" and rates is None:
        return None
    return ReferenceData.load(directory, tariff_path=tariff, exchange_rates_path=rates)
