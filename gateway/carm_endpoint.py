"""Where the CARM connector posts (``portal_api`` carm): an Airflow connection when
``carm_connection_id`` names one, else the ``carm_*`` settings, each falling back to its
``portal_*`` counterpart (the embedded portal serves the CARM-shaped API on ``portal_url``)."""

from __future__ import annotations

from gateway.settings import Settings
from portal.carm import CarmEndpoint


def carm_endpoint(settings: Settings) -> CarmEndpoint:
    """The endpoint, key and CA bundle of CARM's declaration API."""
    if settings.carm_connection_id:
        return endpoint_of_connection(settings.carm_connection_id, settings.carm_cad_path)
    return CarmEndpoint(
        url=settings.carm_url or settings.portal_url,
        api_key=settings.carm_api_key if settings.carm_api_key is not None else settings.portal_api_key,
        ca_bundle=settings.carm_ca_bundle or settings.portal_ca_bundle,
        cad_path=settings.carm_cad_path,
    )


def endpoint_of_connection(connection_id: str, cad_path: str) -> CarmEndpoint:
    """The endpoint an Airflow connection describes, as Airflow's HTTP connections do: ``host`` (a
    full URL, or a host name with ``schema`` as the protocol, https by default, and ``port``), the
    key as ``password``, and in ``extra`` the ``ca_bundle`` and the ``cad_path`` (else ``cad_path``).
    Airflow's secrets backends serve it (an ``AIRFLOW_CONN_…`` variable, Vault, a Kubernetes secret)."""
    from airflow.sdk import BaseHook  # only a deployment that names a connection needs Airflow here

    connection = BaseHook.get_connection(connection_id)
    host = connection.host or ""
    if not host:
        raise ValueError(f"the Airflow connection {connection_id!r} names no host: CARM's endpoint is its host")
    if "://" in host:
        url = host.rstrip("/")
    else:
        port = f":{connection.port}" if connection.port else ""
        url = f"{connection.schema or 'https'}://{host}{port}"
    extra = connection.extra_dejson
    return CarmEndpoint(
        url=url,
        api_key=connection.password or None,
        ca_bundle=extra.get("ca_bundle") or None,
        cad_path=extra.get("cad_path") or cad_path,
    )
