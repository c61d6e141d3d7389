"""S1's settings: the shared ones plus the first admin, the login throttle and the password hash cost."""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator

from helpdesk_common.settings import ServiceSettings
from s1_auth.schemas import PASSWORD_MAX, PASSWORD_MIN, normalize_email, normalize_password

# OWASP's minimum for argon2id (Password Storage Cheat Sheet): 19 MiB, 2 iterations, 1 lane.
OWASP_ARGON2_MEMORY_KIB = 19_456
OWASP_ARGON2_TIME_COST = 2


class Settings(ServiceSettings):
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
    # Take the client address from the rightmost X-Forwarded-For entry (the one the gateway
    # appends). Turn off if S1 can be reached without going through the gateway.
    trust_forwarded_for: bool = True

    # Password hashing (argon2id). Hashes run in worker threads, at most this many at once, so
    # a burst of logins cannot take every core from the rest of the service.
    hash_concurrency: int = Field(default=2, ge=1, le=64)
    argon2_memory_cost_kib: int = Field(default=OWASP_ARGON2_MEMORY_KIB, ge=8)
    argon2_time_cost: int = Field(default=OWASP_ARGON2_TIME_COST, ge=1)
    argon2_parallelism: int = Field(default=1, ge=1, le=16)

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
