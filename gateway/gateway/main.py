"""The gateway: the FastAPI app (health, readiness, /registry/services, docs) behind the
bare ASGI proxy that serves every routed prefix (see proxy.py)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from gateway.proxy import ROUTES, GatewayApp
from gateway.routes import router
from gateway.settings import Settings
from helpdesk_common.app import create_app

READY_REGISTRY_TIMEOUT = 1.0

DESCRIPTION = """The one public entry point. Besides the routes below, it proxies (streaming, not
buffering) every request under these prefixes to the service found through the registry,
with the prefix stripped (`/tickets/7` -> S2 `/7`, `/tickets` -> S2 `/`):

| Prefix | Service |
|---|---|
""" + "\n".join(f"| `/{prefix.decode()}` | {name} |" for prefix, name in ROUTES.items())


def build_app(settings: Settings | None = None) -> GatewayApp:
    settings = settings or Settings()

    async def attach_proxy(app: FastAPI) -> None:
        await gateway.start(app.state.registry)

    async def detach_proxy(_: FastAPI) -> None:
        await gateway.stop()

    async def check_routing(app: FastAPI) -> None:
        """Ready when the registry answers, or when SERVICE_URLS fallbacks can be routed to."""
        problem = "no REGISTRY_URL"
        if settings.registry_url:
            try:
                response = await app.state.http.get(
                    f"{settings.registry_url.rstrip('/')}/health", timeout=READY_REGISTRY_TIMEOUT
                )
                if response.status_code == 200:
                    return
                problem = f"the registry answered {response.status_code}"
            except httpx.HTTPError as exc:
                problem = f"the registry is not reachable ({type(exc).__name__})"
        if settings.service_urls:
            return
        raise RuntimeError(f"{problem} and no SERVICE_URLS fallbacks are configured")

    api = create_app(
        settings,
        title="Gateway",
        description=DESCRIPTION,
        routers=[(router, "")],
        uses_database=False,
        registers=False,
        on_startup=[attach_proxy],
        on_shutdown=[detach_proxy],
        ready_checks=[check_routing],
    )
    gateway = GatewayApp(api, settings, api.state.access_log)
    return gateway
