"""S1's settings: the shared ones and the outbox relay's, plus the first admin, sessions,
password reset, the throttles, the trusted proxies and the password hash cost."""

from __future__ import annotations

import ipaddress
import re

from pydantic import Field, SecretStr, field_validator, model_validator

from helpdesk_common.outbox import OutboxSettings
from helpdesk_common.settings import SettingList
from s1_auth.schemas import PASSWORD_MAX, PASSWORD_MIN, normalize_email, normalize_password

# OWASP's minimum for argon2id (Password Storage Cheat Sheet): 19 MiB, 2 iterations, 1 lane.
OWASP_ARGON2_MEMORY_KIB = 19_456
OWASP_ARGON2_TIME_COST = 2
_HOST_NAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)


class Settings(OutboxSettings):
    """The shared settings, the outbox relay's (helpdesk_common.outbox: it delivers the reset
    emails written to `s1_auth_outbox` to S6), and S1's own."""

    service_name: str = "s1-auth"
    port: int = 3001

    # The first admin (ADMIN_EMAIL / ADMIN_PASSWORD): created at start if absent, promoted to
    # admin if present (its password is then left alone). Both or neither.
    admin_email: str | None = None
    admin_password: SecretStr | None = None

    # Login throttle: this many failures within the window, for one email or from one client
    # address, and further logins are answered 429 without looking at the password.
    login_max_failures_per_email: int = Field(default=5, ge=1)
    login_max_failures_per_ip: int = Field(default=20, ge=1)
    login_failure_window_seconds: int = Field(default=900, ge=1, le=86_400)
    # Registration: this many attempts from one client address within the window, then 429.
    register_max_per_ip: int = Field(default=10, ge=1)
    register_window_seconds: int = Field(default=600, ge=1, le=86_400)
    # Registration hashes run on threads of their own (at most this many at once), never on
    # the ones logins use, and at most `register_queue_max` wait for one (then 503): a burst
    # of registrations cannot make logins wait.
    register_hash_concurrency: int = Field(default=1, ge=1, le=16)
    register_queue_max: int = Field(default=8, ge=0, le=1000)

    # Addresses (IPs, CIDR ranges or host names, resolved every 30 s) of the proxies in front
    # of S1 whose X-Forwarded-For entries are believed: the gateway. The client is the
    # rightmost address that is not one of them. Loopback by default (make up: the gateway on
    # the same host); compose sets the gateway's service name. JSON or comma-separated.
    trusted_proxies: SettingList = Field(default_factory=lambda: ["127.0.0.0/8", "::1"])

    # Sessions: a refresh token lives this long unused (each use issues a new one, for as long
    # again), 30 days by default.
    refresh_token_ttl_seconds: int = Field(default=30 * 24 * 3600, ge=300, le=366 * 24 * 3600)
    # Browsers get the refresh token as an HttpOnly cookie scoped to the refresh and logout
    # paths as the browser sees them (behind the gateway's /auth prefix). Secure: sent over
    # HTTPS only (browsers treat http://localhost as secure too); off only for a plain-HTTP
    # deployment on another host name, which should not exist.
    refresh_cookie_secure: bool = True
    public_path_prefix: str = "/auth"

    # Password reset by email. The link is PUBLIC_WEB_URL/reset-password#token=... (the web
    # client's page; the token in the fragment never reaches a server log) and works once,
    # for this long.
    public_web_url: str = "http://localhost:5173"
    password_reset_ttl_seconds: int = Field(default=1800, ge=300, le=86_400)
    # Reset requests within the window: from one client address beyond this many, 429; for one
    # address asked for beyond this many, still 202 but no email (the answer must not differ
    # between addresses that have an account and those that have none).
    password_reset_max_per_ip: int = Field(default=10, ge=1)
    password_reset_max_per_email: int = Field(default=3, ge=1)
    password_reset_window_seconds: int = Field(default=3600, ge=1, le=86_400)

    # Password hashing (argon2id). Hashes run in worker threads, at most this many at once, so
    # a burst of logins cannot take every core from the rest of the service.
    hash_concurrency: int = Field(default=2, ge=1, le=64)
    argon2_memory_cost_kib: int = Field(default=OWASP_ARGON2_MEMORY_KIB, ge=8)
    argon2_time_cost: int = Field(default=OWASP_ARGON2_TIME_COST, ge=1)
    argon2_parallelism: int = Field(default=1, ge=1, le=16)

    @field_validator("trusted_proxies")
    @classmethod
    def _addresses_or_host_names(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                if not _HOST_NAME.match(entry):
                    raise ValueError(
                        f"TRUSTED_PROXIES: {entry!r} is neither an address, a range nor a host name"
                    ) from None
        return value

    @field_validator("public_path_prefix")
    @classmethod
    def _path_prefix(cls, value: str) -> str:
        value = value.rstrip("/")
        if value and not re.fullmatch(r"(/[A-Za-z0-9._~-]+)+", value):
            raise ValueError("PUBLIC_PATH_PREFIX must be a path like /auth")
        return value

    @field_validator("public_web_url")
    @classmethod
    def _web_url(cls, value: str) -> str:
        value = value.rstrip("/")
        if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value):
            raise ValueError("PUBLIC_WEB_URL must be an http(s) URL like https://helpdesk.example.com")
        return value

    @model_validator(mode="after")
    def _check_auth_settings(self) -> Settings:
        if (self.admin_email is None) != (self.admin_password is None):
            raise ValueError("set ADMIN_EMAIL and ADMIN_PASSWORD together, or neither")
        if self.admin_email is not None:
            try:
                normalize_email(self.admin_email)
            except ValueError as exc:
                raise ValueError(f"ADMIN_EMAIL is not a valid email address: {exc}") from None
        if self.admin_password is not None and not (
            PASSWORD_MIN <= len(normalize_password(self.admin_password.get_secret_value())) <= PASSWORD_MAX
        ):
            raise ValueError(f"ADMIN_PASSWORD must be {PASSWORD_MIN} to {PASSWORD_MAX} characters long")
        # Tests lower the hash cost to stay fast; a deployment never may.
        if self.environment == "production" and (
            self.argon2_memory_cost_kib < OWASP_ARGON2_MEMORY_KIB or self.argon2_time_cost < OWASP_ARGON2_TIME_COST
        ):
            raise ValueError(
                "argon2 cost below OWASP's minimum "
                f"({OWASP_ARGON2_MEMORY_KIB} KiB, {OWASP_ARGON2_TIME_COST} iterations)"
            )
        return self
