"""Loaders of CBSA's public reference data: the tariff service and the Exchange Rates API.

They fetch over HTTP and write the gateway's own CSV shapes (``duties.tariff``,
``validators.reference_data``) into a local cache (``reference_sources.cache``); the
rules and the portal read the cache when it is there, the shipped excerpt otherwise.
Neither CBSA host is reachable from the build machines: the tests serve hand-built
answers in the services' published shapes (``fixtures/reference_sources/``) on loopback.
"""
