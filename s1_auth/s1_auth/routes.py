"""S1 routes, mounted at the root: the gateway maps /auth/login to /login."""

from __future__ import annotations

from typing import Annotated

import asyncpg
from fastapi import APIRouter, Depends, Request

from helpdesk_common.auth import AdminUser, CurrentUser, ServiceOrUser, StaffUser
from helpdesk_common.bodies import require_json_body
from helpdesk_common.db import DbConn
from helpdesk_common.pagination import DEFAULT_LIMIT, Cursor, Limit
from helpdesk_common.security import Role
from helpdesk_common.types import PathId
from s1_auth import service
from s1_auth.repository import UsersRepository
from s1_auth.schemas import LoginIn, MeOut, MeUser, RegisterIn, RoleUpdate, TokenOut, UserList, UserRead
from s1_auth.settings import Settings

router = APIRouter(tags=["auth"])


def get_repository(conn: DbConn) -> UsersRepository:
    return UsersRepository(conn)


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_pool(request: Request) -> asyncpg.Pool | None:
    pool: asyncpg.Pool | None = getattr(request.app.state, "pool", None)
    return pool


Repository = Annotated[UsersRepository, Depends(get_repository)]
Pool = Annotated[asyncpg.Pool | None, Depends(get_pool)]
Hasher = Annotated[service.PasswordHasher, Depends(service.password_hasher)]
AuthSettings = Annotated[Settings, Depends(get_settings)]


def user_read(row: asyncpg.Record) -> UserRead:
    return UserRead.model_validate(dict(row))


@router.post(
    "/register",
    status_code=201,
    response_model=UserRead,
    summary="Create an account (always role `user`)",
    dependencies=[Depends(require_json_body)],
)
async def register(body: RegisterIn, pool: Pool, hasher: Hasher) -> UserRead:
    return user_read(await service.register(pool, hasher, email=body.email, password=body.password))


@router.post(
    "/login",
    response_model=TokenOut,
    summary="Exchange email and password for a bearer token",
    dependencies=[Depends(require_json_body)],
)
async def login(body: LoginIn, request: Request, pool: Pool, hasher: Hasher, settings: AuthSettings) -> TokenOut:
    return await service.login(
        pool,
        hasher,
        settings,
        email=body.email,
        password=body.password,
        client_ip=service.client_address(request, trust_forwarded_for=settings.trust_forwarded_for),
    )


@router.get("/me", response_model=MeOut, summary="The caller, as their token describes them")
async def me(user: CurrentUser) -> MeOut:
    return MeOut(user=MeUser(sub=user.id, role=user.role, email=user.email))


@router.get("/users", response_model=UserList, summary="List users by id (staff)")
async def list_users(
    _: StaffUser,
    repo: Repository,
    role: Role | None = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> UserList:
    rows, next_cursor = await service.list_users(repo, role=role, cursor=cursor, limit=limit)
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
