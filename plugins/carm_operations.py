"""The CARM operations page in the Airflow UI: thin wiring of ``gateway.operations_page``.

Airflow mounts the plugin's FastAPI app under ``/carm`` and shows it in its navigation
(an external view, in the UI's frame). Airflow does **not** protect a plugin's endpoints:
every request is checked here against Airflow's own login and auth manager. The caller is
the user of the UI's session cookie (``_token``) or of an ``Authorization: Bearer`` JWT;
reading needs permission to read the ``carm_inbound`` DAG, an action (reprocess, resend)
permission to run it (create its DAG runs). No login: 401; not allowed: 403.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin
from fastapi import HTTPException, Request

from gateway.operations_page import create_app

DAG_ID = "carm_inbound"
URL_PREFIX = "/carm"
TOKEN_COOKIE = "_token"  # airflow.api_fastapi.auth.managers.base_auth_manager.COOKIE_NAME_JWT_TOKEN


async def authorize(request: Request, act: bool) -> str:
    """The Airflow user making ``request``, allowed to read the DAG (or, with ``act``, to run it)."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails
    from airflow.api_fastapi.core_api.security import resolve_user_from_token

    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    token = credentials if scheme.lower() == "bearer" else request.cookies.get(TOKEN_COOKIE)
    user = await resolve_user_from_token(token)  # 401 without a token, 403 for a bad one
    allowed = get_auth_manager().is_authorized_dag(
        method="POST" if act else "GET",
        access_entity=DagAccessEntity.RUN if act else None,
        details=DagDetails(id=DAG_ID),
        user=user,
    )
    if not allowed:
        needed = f"permission to run the DAG {DAG_ID}" if act else f"permission to read the DAG {DAG_ID}"
        raise HTTPException(403, f"{user.get_name()} lacks {needed}")
    return user.get_name()


def login_url(next_url: str) -> str:
    from airflow.api_fastapi.app import get_auth_manager

    return get_auth_manager().get_url_login(next_url=next_url)


app = create_app(authorize, login_url=login_url)


class CarmOperationsPlugin(AirflowPlugin):
    name = "carm_operations"
    fastapi_apps = [{"app": app, "url_prefix": URL_PREFIX, "name": "CARM operations"}]  # noqa: RUF012  (Airflow's declared shape)
    external_views = [  # noqa: RUF012
        {"name": "CARM files", "href": f"{URL_PREFIX}/files", "destination": "nav", "url_route": "carm-files"}
    ]
