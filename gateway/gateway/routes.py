"""The gateway's own routes (served by FastAPI, off the proxy's hot path)."""

from __future__ import annotations

import logging

import httpx
from fastapi import APIRouter, Request, Response

from helpdesk_common.auth import SERVICE_TOKEN_HEADER, AdminUser
from helpdesk_common.errors import ApiError
from helpdesk_common.registry_schemas import ErrorBody, ServiceList
from helpdesk_common.settings import ServiceSettings

logger = logging.getLogger("helpdesk.gateway")

router = APIRouter(tags=["registry"])

REGISTRY_TIMEOUT = 3.0


@router.get(
    "/registry/services",
    summary="Every registered instance, as the registry (S3 /services) lists it. Admin only.",
    response_model=None,
    responses={
        200: {"model": ServiceList},
        401: {"model": ErrorBody},
        403: {"model": ErrorBody},
        503: {"model": ErrorBody},
    },
)
async def registry_services(_: AdminUser, request: Request) -> Response:
    settings: ServiceSettings = request.app.state.settings
    http: httpx.AsyncClient = request.app.state.http
    if not settings.registry_url:
        raise ApiError(503, "No service registry is configured.")
    try:
        upstream = await http.get(
            f"{settings.registry_url.rstrip('/')}/services",
            headers={SERVICE_TOKEN_HEADER: settings.service_token},
            timeout=REGISTRY_TIMEOUT,
        )
    except httpx.HTTPError as exc:
        logger.warning("registry not reachable", extra={"error": repr(exc)})
        raise ApiError(503, "The service registry is not reachable.") from None
    if upstream.status_code != 200:
        logger.warning("registry refused the service list", extra={"status": upstream.status_code})
        raise ApiError(503, "The service registry did not give its service list.")
    return Response(content=upstream.content, media_type="application/json")
