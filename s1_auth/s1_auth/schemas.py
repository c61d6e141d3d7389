"""Request and response bodies of S1, and the constrained types they are built from.

Inputs are strict: `{"email": 5}` is a 400, never coerced to "5". Text PostgreSQL cannot store
(NUL, lone surrogates) is refused here, so it can never turn into a 500 further down.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Any, Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from helpdesk_common.security import Role
from helpdesk_common.types import Id

PASSWORD_MIN = 8
PASSWORD_MAX = 1024
# RFC 3696's historical limit; email-validator then applies the real one (254).
EMAIL_MAX = 320
NAME_MAX = 100
# Refresh tokens are 43 URL-safe characters; anything much longer is not one of ours.
REFRESH_TOKEN_MAX = 256
USER_SEARCH_MAX = 100
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def normalize_email(value: str) -> str:
    """The stored form of an address: validated, trimmed, lower-cased (domain and local part).

    Raises ValueError with a sentence saying what is wrong.
    """
    try:
        address = validate_email(value.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from None
    return address.normalized.lower()


def login_email(value: str) -> str:
    """The form an address typed at login is looked up (and throttled) by.

    Never refuses: an address that is not valid cannot belong to an account, and answering it
    exactly like a wrong password (401, counted by the throttle) says nothing about which
    addresses exist.
    """
    try:
        return normalize_email(value)
    except ValueError:
        return value.strip().lower()


def normalize_password(password: str) -> str:
    """The form a password is hashed and checked in. NIST SP 800-63B: normalize Unicode, so the
    same password typed on two keyboards (composed or decomposed accents) is the same secret."""
    return unicodedata.normalize("NFKC", password)


def _normalized_password(value: Any) -> Any:
    # Before the length check, so the limits apply to what is hashed (NFKC can expand a
    # character up to 18-fold). Anything but a string is left for the strict check to refuse.
    return normalize_password(value) if isinstance(value, str) else value


def _storable(value: str) -> str:
    # Lone surrogates are valid in JSON ("\ud800") but not in UTF-8, and PostgreSQL text cannot
    # hold NUL: both would fail in the driver.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise PydanticCustomError("invalid_text", "must be valid Unicode text") from None
    if "\x00" in value:
        raise PydanticCustomError("invalid_text", "must not contain NUL characters")
    return value


def _email_address(value: str) -> str:
    try:
        return normalize_email(value)
    except ValueError as exc:
        raise PydanticCustomError(
            "invalid_email", "not a valid email address: {reason}", {"reason": str(exc)}
        ) from None


def _display_name(value: str) -> str | None:
    # Blank means "no name" (an empty form field), like an explicit null.
    value = value.strip()
    if not value:
        return None
    if len(value) > NAME_MAX:
        raise PydanticCustomError("name_too_long", "must be at most {max} characters", {"max": NAME_MAX})
    if _CONTROL.search(value):
        raise PydanticCustomError("control_characters", "must not contain control characters")
    return _storable(value)


EmailIn = Annotated[
    str, StringConstraints(max_length=EMAIL_MAX), AfterValidator(_storable), AfterValidator(_email_address)
]
NewPassword = Annotated[
    str,
    BeforeValidator(_normalized_password),
    StringConstraints(min_length=PASSWORD_MIN, max_length=PASSWORD_MAX),
    AfterValidator(_storable),
]
# Bounded before trimming too, so a megabyte of spaces is refused without being scanned twice.
NameText = Annotated[str, StringConstraints(max_length=NAME_MAX * 4), AfterValidator(_display_name)]
LoginEmail = Annotated[str, StringConstraints(min_length=1, max_length=EMAIL_MAX), AfterValidator(_storable)]
LoginPassword = Annotated[
    str,
    BeforeValidator(_normalized_password),
    StringConstraints(min_length=1, max_length=PASSWORD_MAX),
    AfterValidator(_storable),
]


RefreshTokenIn = Annotated[str, StringConstraints(min_length=1, max_length=REFRESH_TOKEN_MAX)]
# Reset tokens are 43 URL-safe characters too.
ResetTokenIn = Annotated[str, StringConstraints(min_length=1, max_length=REFRESH_TOKEN_MAX), AfterValidator(_storable)]
RefreshVia = Literal["body", "cookie"]


class RegisterIn(BaseModel):
    """POST /register. Any other key (notably `role`) is ignored: self-registration is always `user`."""

    model_config = ConfigDict(strict=True, extra="ignore")

    email: EmailIn
    password: NewPassword
    name: NameText | None = None


class LoginIn(BaseModel):
    """POST /login. The email is not validated as an address here (see `login_email`).

    `refresh_via`: "body" (default, API clients) puts the refresh token in the answer;
    "cookie" (browsers) puts it in an HttpOnly cookie instead, out of reach of scripts.
    """

    model_config = ConfigDict(strict=True, extra="ignore")

    email: LoginEmail
    password: LoginPassword
    refresh_via: RefreshVia = "body"


class RefreshIn(BaseModel):
    """POST /refresh and POST /logout: the refresh token in the body, or (browsers) none here
    and the cookie instead."""

    model_config = ConfigDict(strict=True, extra="forbid")

    refresh_token: RefreshTokenIn | None = None


class PasswordChange(BaseModel):
    """POST /password."""

    model_config = ConfigDict(strict=True, extra="forbid")

    current_password: LoginPassword
    new_password: NewPassword

    @model_validator(mode="after")
    def _a_new_password(self) -> PasswordChange:
        if self.new_password == self.current_password:
            raise PydanticCustomError("same_password", "the new password must differ from the current one")
        return self


class PasswordResetRequest(BaseModel):
    """POST /password-reset: the address to send a reset link to (if an account has it)."""

    model_config = ConfigDict(strict=True, extra="forbid")

    email: EmailIn


class PasswordResetConfirm(BaseModel):
    """POST /password-reset/confirm: the token from the emailed link and the new password."""

    model_config = ConfigDict(strict=True, extra="forbid")

    token: ResetTokenIn
    new_password: NewPassword


class MessageOut(BaseModel):
    """An answer that is only a sentence for the person who asked."""

    message: str


class MeUpdate(BaseModel):
    """PATCH /me: the display name (null or blank removes it)."""

    model_config = ConfigDict(strict=True, extra="forbid")

    name: NameText | None


class ActiveUpdate(BaseModel):
    """PATCH /users/{id}/active."""

    model_config = ConfigDict(strict=True, extra="forbid")

    active: bool


class RoleUpdate(BaseModel):
    """PATCH /users/{id}/role."""

    model_config = ConfigDict(strict=True, extra="forbid")

    role: Role


class UserRead(BaseModel):
    id: Id
    email: str
    role: Role
    name: str | None
    active: bool


class UserList(BaseModel):
    users: list[UserRead]
    next_cursor: str | None


class AccessTokenOut(BaseModel):
    """A new access token for the caller's current session (POST /password)."""

    token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the scheme's name, not a secret
    expires_in: int


class TokenOut(AccessTokenOut):
    """POST /login and POST /refresh. `refresh_token` is null when it went into the cookie."""

    refresh_token: str | None
    refresh_expires_in: int


class MeUser(BaseModel):
    """The caller (the original system's shape: `sub` is the id), as the database has them now."""

    sub: int
    role: Role
    email: str
    name: str | None


class MeOut(BaseModel):
    user: MeUser
