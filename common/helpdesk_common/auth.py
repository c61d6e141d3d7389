"""Authentication and authorization as FastAPI dependencies.

Routes declare who may call them: `user: CurrentUser`, `dependencies=[Depends(require_staff)]`,
`StaffUser`, `AdminUser`, or `ServiceOrStaff` for endpoints that other services call with the
shared service credential (`X-Service-Token`).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from helpdesk_common.errors import ApiError
from helpdesk_common.security import InvalidToken, TokenUser, decode_access_token
from helpdesk_common.settings import ServiceSettings

SERVICE_TOKEN_HEADER = "X-Service-Token"
_UNAUTHORIZED_HEADERS = {"WWW-Authenticate": "Bearer"}


def _settings(request: Request) -> ServiceSettings:
    settings: ServiceSettings = request.app.state.settings
    return settings


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "Use an 'Authorization: Bearer <token>' header.", headers=_UNAUTHORIZED_HEADERS)
    return token.strip()


def get_current_user(request: Request) -> TokenUser:
    token = bearer_token(request)
    if token is None:
        raise ApiError(401, "Authentication required: missing bearer token.", headers=_UNAUTHORIZED_HEADERS)
    settings = _settings(request)
    try:
        return decode_access_token(token, secret=settings.jwt_secret, algorithm=settings.jwt_algorithm)
    except InvalidToken:
        raise ApiError(401, "Invalid or expired token.", headers=_UNAUTHORIZED_HEADERS) from None


CurrentUser = Annotated[TokenUser, Depends(get_current_user)]


def require_staff(user: CurrentUser) -> TokenUser:
    if not user.is_staff:
        raise ApiError(403, "Only staff can do this.")
    return user


def require_admin(user: CurrentUser) -> TokenUser:
    if not user.is_admin:
        raise ApiError(403, "Only an admin can do this.")
    return user


StaffUser = Annotated[TokenUser, Depends(require_staff)]
AdminUser = Annotated[TokenUser, Depends(require_admin)]


def is_service_call(request: Request) -> bool:
    presented = request.headers.get(SERVICE_TOKEN_HEADER)
    if presented is None:
        return False
    expected = _settings(request).service_token
    return bool(expected) and hmac.compare_digest(presented.encode(), expected.encode())


def require_service(request: Request) -> None:
    if not is_service_call(request):
        raise ApiError(401, "A valid service credential is required.")


@dataclass(frozen=True)
class Caller:
    """Either a signed-in user or another service of the fleet."""

    user: TokenUser | None
    is_service: bool


def get_service_or_staff(request: Request) -> Caller:
    if is_service_call(request):
        return Caller(user=None, is_service=True)
    user = get_current_user(request)
    if not user.is_staff:
        raise ApiError(403, "Only staff or another service can do this.")
    return Caller(user=user, is_service=False)


ServiceOrStaff = Annotated[Caller, Depends(get_service_or_staff)]
