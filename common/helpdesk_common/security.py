"""Pure JWT functions (python-jose): no FastAPI, no I/O.

`decode_access_token` pins the accepted algorithm and catches every JOSEError, so a token
with `alg: none`, another algorithm, a bad signature or a malformed body is an
InvalidToken, never a crash.

Besides `sub`, `role`, `email`, `iat` and `exp`, S1's tokens carry `tv` (the user's token
version: S1 bumps it on a password change, a role change or a deactivation, and every service
refuses tokens with an older one, see token_state.py) and `sid` (the session the token was
issued in: a logout or a reused refresh token ends it). Both are optional: a token without
`tv` counts as version 0 and one without `sid` belongs to no session, so tokens minted
without them (tests, older tokens) stay valid until the user's version moves.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal, get_args

from jose import jwt
from jose.exceptions import JOSEError

Role = Literal["user", "staff", "admin"]
ROLES: tuple[str, ...] = get_args(Role)
STAFF_ROLES = frozenset({"staff", "admin"})


class InvalidToken(Exception):
    """The token is missing, malformed, forged, expired or carries claims we do not accept."""


@dataclass(frozen=True, slots=True)
class TokenUser:
    id: int
    role: Role
    email: str
    token_version: int = 0
    session_id: int | None = None

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def create_access_token(
    *,
    user_id: int,
    role: str,
    email: str,
    secret: str,
    algorithm: str,
    ttl_seconds: int,
    now: float | None = None,
    token_version: int = 0,
    session_id: int | None = None,
) -> str:
    issued = int(now if now is not None else time.time())
    claims: dict[str, object] = {
        "sub": str(user_id),
        "role": role,
        "email": email,
        "iat": issued,
        "exp": issued + ttl_seconds,
        "tv": token_version,
    }
    if session_id is not None:
        claims["sid"] = session_id
    return jwt.encode(claims, secret, algorithm=algorithm)


def _int_claim(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def decode_access_token(token: str, *, secret: str, algorithm: str) -> TokenUser:
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[algorithm],
            options={"require_exp": True, "require_iat": True, "require_sub": True},
        )
    except JOSEError as exc:
        raise InvalidToken(str(exc)) from exc
    except (ValueError, TypeError, KeyError) as exc:  # malformed segments that slip past jose
        raise InvalidToken("malformed token") from exc
    sub, role, email = claims.get("sub"), claims.get("role"), claims.get("email")
    if not isinstance(sub, str) or not sub.isdigit() or int(sub) <= 0:
        raise InvalidToken("bad subject")
    if role not in ROLES:
        raise InvalidToken("bad role")
    if not isinstance(email, str):
        raise InvalidToken("bad email")
    token_version = claims.get("tv", 0)
    if not _int_claim(token_version) or token_version < 0:
        raise InvalidToken("bad token version")
    session_id = claims.get("sid")
    if session_id is not None and (not _int_claim(session_id) or session_id <= 0):
        raise InvalidToken("bad session id")
    return TokenUser(id=int(sub), role=role, email=email, token_version=token_version, session_id=session_id)
