"""S1 routes, mounted at the root: the gateway maps /auth/login to /login."""

from __future__ import annotations

from typing import Annotated

import asyncpg
from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import AfterValidator

from helpdesk_common.auth import AdminUser, CurrentUser, ServiceOrStaff, ServiceOrUser, require_service
from helpdesk_common.bodies import require_json_body
from helpdesk_common.db import DbConn
from helpdesk_common.pagination import DEFAULT_LIMIT, Cursor, Limit
from helpdesk_common.security import Role
from helpdesk_common.text import single_line_text
from helpdesk_common.token_state import TokenStateOut
from helpdesk_common.types import PathId
from s1_auth import service
from s1_auth.repository import CallerState, UserFilters, UsersRepository
from s1_auth.schemas import (
    USER_SEARCH_MAX,
    AccessTokenOut,
    ActiveUpdate,
    LoginIn,
    MeOut,
    MessageOut,
    MeUpdate,
    MeUser,
    PasswordChange,
    PasswordResetConfirm,
    PasswordResetRequest,
    RefreshIn,
    RefreshVia,
    RegisterIn,
    RoleUpdate,
    TokenOut,
    UserList,
    UserRead,
)
from s1_auth.settings import Settings

router = APIRouter(tags=["auth"])

# The browser's copy of the refresh token: HttpOnly (no script can read it), SameSite=Strict
# (never sent from another site), Secure, and scoped to the two paths that use it.
REFRESH_COOKIE = "helpdesk_refresh"
COOKIE_PATHS = ("/refresh", "/logout")


async def get_repository(conn: DbConn) -> UsersRepository:
    return UsersRepository(conn)


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_pool(request: Request) -> asyncpg.Pool | None:
    pool: asyncpg.Pool | None = getattr(request.app.state, "pool", None)
    return pool


Repository = Annotated[UsersRepository, Depends(get_repository)]
Pool = Annotated[asyncpg.Pool | None, Depends(get_pool)]
Hasher = Annotated[service.PasswordHasher, Depends(service.password_hasher)]
AuthSettings = Annotated[Settings, Depends(get_settings)]
Proxies = Annotated[service.TrustedProxies, Depends(service.trusted_proxies)]


def user_read(row: asyncpg.Record) -> UserRead:
    return UserRead.model_validate(dict(row))


def me_out(user: CallerState | asyncpg.Record) -> MeOut:
    if isinstance(user, CallerState):
        return MeOut(user=MeUser(sub=user.id, role=user.role, email=user.email, name=user.name))
    return MeOut(user=MeUser(sub=user["id"], role=user["role"], email=user["email"], name=user["name"]))


def set_refresh_cookies(response: Response, settings: Settings, token: str | None) -> None:
    """Set (or, with None, clear) the refresh cookie on each path that uses it."""
    for path in COOKIE_PATHS:
        response.set_cookie(
            REFRESH_COOKIE,
            token or "",
            max_age=settings.refresh_token_ttl_seconds if token else 0,
            path=f"{settings.public_path_prefix}{path}",
            secure=settings.refresh_cookie_secure,
            httponly=True,
            samesite="strict",
        )


def token_out(issued: service.IssuedTokens, response: Response, settings: Settings, via: RefreshVia) -> TokenOut:
    assert issued.refresh_token is not None
    if via == "cookie":
        set_refresh_cookies(response, settings, issued.refresh_token)
    return TokenOut(
        token=issued.access_token,
        expires_in=issued.expires_in,
        refresh_token=issued.refresh_token if via == "body" else None,
        refresh_expires_in=issued.refresh_expires_in,
    )


def presented_refresh_token(body: RefreshIn, request: Request) -> tuple[str, RefreshVia]:
    """The refresh token from the body (API clients) or else the cookie (browsers)."""
    if body.refresh_token is not None:
        return body.refresh_token, "body"
    cookie = request.cookies.get(REFRESH_COOKIE)
    if cookie:
        return cookie, "cookie"
    raise service.ended("A refresh token is required: send it as refresh_token, or sign in again.")


# --- accounts and sessions --------------------------------------------------------------------


@router.post(
    "/register",
    status_code=201,
    response_model=UserRead,
    summary="Create an account (always role `user`)",
    dependencies=[Depends(require_json_body)],
)
async def register(
    body: RegisterIn, request: Request, pool: Pool, hasher: Hasher, settings: AuthSettings, proxies: Proxies
) -> UserRead:
    client_ip = service.client_address(request, trusted=proxies)
    user = await service.register(
        pool,
        hasher,
        settings,
        email=body.email,
        password=body.password,
        name=body.name,
        client_ip=client_ip,
        from_inside=service.is_trusted(client_ip, proxies),
    )
    return user_read(user)


@router.post(
    "/login",
    response_model=TokenOut,
    summary="Exchange email and password for an access token and a refresh token",
    dependencies=[Depends(require_json_body)],
)
async def login(
    body: LoginIn,
    request: Request,
    response: Response,
    pool: Pool,
    hasher: Hasher,
    settings: AuthSettings,
    proxies: Proxies,
) -> TokenOut:
    issued = await service.login(
        pool,
        hasher,
        settings,
        email=body.email,
        password=body.password,
        client_ip=service.client_address(request, trusted=proxies),
    )
    return token_out(issued, response, settings, body.refresh_via)


@router.post(
    "/refresh",
    response_model=TokenOut,
    summary="Exchange a refresh token (body or cookie) for a new access token and the next refresh token",
    dependencies=[Depends(require_json_body)],
)
async def refresh(
    body: RefreshIn, request: Request, response: Response, repo: Repository, settings: AuthSettings
) -> TokenOut:
    token, via = presented_refresh_token(body, request)
    issued = await service.refresh(repo, settings, refresh_token=token)
    return token_out(issued, response, settings, via)


@router.post(
    "/logout",
    status_code=204,
    summary="End the session of a refresh token (body or cookie); the cookie is cleared",
    dependencies=[Depends(require_json_body)],
)
async def logout(body: RefreshIn, request: Request, repo: Repository, settings: AuthSettings) -> Response:
    token, _ = presented_refresh_token(body, request)
    await service.logout(repo, refresh_token=token)
    answer = Response(status_code=204)
    set_refresh_cookies(answer, settings, None)
    return answer


@router.get("/me", response_model=MeOut, summary="The caller, as the database has them now")
async def me(user: CurrentUser, repo: Repository) -> MeOut:
    return me_out(await service.fresh_caller(repo, user))


@router.patch(
    "/me",
    response_model=MeOut,
    summary="Change the caller's display name (null removes it)",
    dependencies=[Depends(require_json_body)],
)
async def update_me(body: MeUpdate, user: CurrentUser, repo: Repository) -> MeOut:
    return me_out(await service.update_me(repo, caller=user, name=body.name))


@router.post(
    "/password",
    response_model=AccessTokenOut,
    summary="Change the caller's password; every other session ends, this one goes on with the token returned",
    dependencies=[Depends(require_json_body)],
)
async def change_password(
    body: PasswordChange,
    user: CurrentUser,
    request: Request,
    pool: Pool,
    hasher: Hasher,
    settings: AuthSettings,
    proxies: Proxies,
) -> AccessTokenOut:
    issued = await service.change_password(
        pool,
        hasher,
        settings,
        caller=user,
        current_password=body.current_password,
        new_password=body.new_password,
        client_ip=service.client_address(request, trusted=proxies),
    )
    return AccessTokenOut(token=issued.access_token, expires_in=issued.expires_in)


@router.post(
    "/password-reset",
    status_code=202,
    response_model=MessageOut,
    summary="Email a password reset link, if an account has the address (the answer is the same either way)",
    dependencies=[Depends(require_json_body)],
)
async def request_password_reset(
    body: PasswordResetRequest, request: Request, pool: Pool, settings: AuthSettings, proxies: Proxies
) -> MessageOut:
    client_ip = service.client_address(request, trusted=proxies)
    await service.request_password_reset(
        pool, settings, email=body.email, client_ip=client_ip, from_inside=service.is_trusted(client_ip, proxies)
    )
    return MessageOut(message=service.RESET_REQUESTED)


@router.post(
    "/password-reset/confirm",
    response_model=MessageOut,
    summary="Set a new password with the token from a reset link; every session of the account ends",
    dependencies=[Depends(require_json_body)],
)
async def confirm_password_reset(
    body: PasswordResetConfirm, pool: Pool, hasher: Hasher, settings: AuthSettings
) -> MessageOut:
    await service.confirm_password_reset(pool, hasher, settings, token=body.token, new_password=body.new_password)
    return MessageOut(message=service.RESET_DONE)


# --- users ------------------------------------------------------------------------------------


@router.get("/users", response_model=UserList, summary="List users by id (staff, or another service)")
async def list_users(
    _: ServiceOrStaff,
    repo: Repository,
    role: Role | None = None,
    active: Annotated[bool | None, Query(description="Only active (true) or deactivated (false) users")] = None,
    q: Annotated[
        Annotated[str, AfterValidator(single_line_text)] | None,
        Query(max_length=USER_SEARCH_MAX, description="Words that begin the name or the email address"),
    ] = None,
    ids: Annotated[
        str | None, Query(max_length=12 * service.IDS_MAX, description="Comma-separated ids (at most 200)")
    ] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> UserList:
    filters = UserFilters(role=role, active=active, search=service.search_query(q), ids=service.parse_ids(ids))
    rows, next_cursor = await service.list_users(repo, filters=filters, cursor=cursor, limit=limit)
    return UserList(users=[user_read(row) for row in rows], next_cursor=next_cursor)


@router.get(
    "/users/{user_id}", response_model=UserRead, summary="One user (staff, the user themselves, or another service)"
)
async def get_user(user_id: PathId, caller: ServiceOrUser, repo: Repository) -> UserRead:
    # Services ask this to check an assignee's role (S4) and to find a recipient's address (S6).
    return user_read(await service.get_user(repo, caller=caller.user, user_id=user_id))


@router.patch(
    "/users/{user_id}/role",
    response_model=UserRead,
    summary="Change a user's role (admin; the last admin cannot be demoted)",
    dependencies=[Depends(require_json_body)],
)
async def set_role(user_id: PathId, body: RoleUpdate, caller: AdminUser, conn: DbConn) -> UserRead:
    return user_read(await service.set_role(conn, caller=caller, user_id=user_id, role=body.role))


@router.patch(
    "/users/{user_id}/active",
    response_model=UserRead,
    summary="Deactivate or reactivate a user (admin; not oneself, not the last admin)",
    dependencies=[Depends(require_json_body)],
)
async def set_active(user_id: PathId, body: ActiveUpdate, caller: AdminUser, conn: DbConn) -> UserRead:
    return user_read(await service.set_active(conn, caller=caller, user_id=user_id, active=body.active))


# --- for the other services -------------------------------------------------------------------


@router.get(
    "/token-state",
    response_model=TokenStateOut,
    summary="What ended tokens since a cursor (service credential): every service polls it",
    dependencies=[Depends(require_service)],
)
async def token_state(
    repo: Repository,
    settings: AuthSettings,
    since: Annotated[int | None, Query(ge=0, le=2**62, description="The cursor of the previous answer")] = None,
) -> TokenStateOut:
    return await service.token_state(repo, settings, since=since)
