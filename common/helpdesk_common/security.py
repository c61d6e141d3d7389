"""Pure JWT functions (python-jose): no FastAPI, no I/O.

`decode_access_token` pins the accepted algorithm and catches every JOSEError, so a token
with `alg: none`, another algorithm, a bad signature or a malformed body is an
InvalidToken, never a crash.
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

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def create_access_token(
    *, user_id: int, role: str, email: str, secret: str, algorithm: str, ttl_seconds: int, now: float | None = None
) -> str:
    issued = int(now if now is not None else time.time())
    claims = {"sub": str(user_id), "role": role, "email": email, "iat": issued, "exp": issued + ttl_seconds}
    return jwt.encode(claims, secret, algorithm=algorithm)


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
    return TokenUser(id=int(sub), role=role, email=email)
