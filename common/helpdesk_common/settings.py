"""Settings shared by every service, read from the environment (pydantic-settings).

Secrets have no usable default outside development: a service started with
ENVIRONMENT=production and a missing or placeholder JWT_SECRET / SERVICE_TOKEN refuses to start.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BeforeValidator, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Values that are fine on a laptop and must never reach a real deployment.


def split_setting_list(value: Any) -> Any:
    """A list setting from the environment: a JSON array, or comma-separated words."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


# A list of strings read from one variable: `CORS_ORIGINS=http://a,http://b` or a JSON array
# (NoDecode: pydantic-settings would otherwise insist on JSON).
SettingList = Annotated[list[str], NoDecode, BeforeValidator(split_setting_list)]

DEV_JWT_SECRET = "dev-secret-change-me"  # noqa: S105 - refused outside development
DEV_SERVICE_TOKEN = "dev-service-token-change-me"  # noqa: S105 - refused outside development
PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret", "dev-secret", DEV_JWT_SECRET, DEV_SERVICE_TOKEN}
# Every development default in infra/ (compose, the Kubernetes base) says so in its value.
PLACEHOLDER_MARKER = "change-me"


def is_placeholder_secret(value: str) -> bool:
    """A known placeholder, or a development default (one that says change-me)."""
    text = value.strip().lower()
    return text in PLACEHOLDER_SECRETS or PLACEHOLDER_MARKER in text


def is_secret_setting(name: str, annotation: Any = None) -> bool:
    """Whether a setting holds a credential: by its name (..._SECRET, ..._TOKEN, ..._PASSWORD, a
    private key, the database URL with its password) or its type (SecretStr). Deployments keep
    these in a secret store (infra/k8s: the Secret; compose: the environment), never in files."""
    upper = name.upper()
    return (
        upper.endswith(("SECRET", "TOKEN", "PASSWORD"))
        or "PRIVATE_KEY" in upper
        or upper == "DB_URL"
        or "SecretStr" in str(annotation)
    )


class ServiceSettings(BaseSettings):
    """Base settings; each service subclasses it and sets `service_name` and `port`."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    environment: Literal["development", "test", "production"] = "development"
    service_name: str = "service"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # The host other services use to reach this one (the compose service name in Docker).
    advertise_host: str | None = None

    db_url: str | None = None
    db_pool_min: int = Field(default=1, ge=0)
    db_pool_max: int = Field(default=10, ge=1)

    jwt_secret: str = DEV_JWT_SECRET
    jwt_algorithm: Literal["HS256", "HS384", "HS512"] = "HS256"
    # Lifetime of the access tokens S1 signs. Short, because a token is checked without asking
    # S1: a session that ends (logout, password change, deactivation) is refused everywhere
    # within TOKEN_STATE_POLL_SECONDS, and anything the revocation feed could miss (a service
    # started while S1 was unreachable) within this lifetime. Refresh tokens keep users signed in.
    jwt_ttl_seconds: int = Field(default=900, ge=60)
    # How often a service asks S1 which tokens it has revoked (helpdesk_common.token_state).
    token_state_poll_seconds: float = Field(default=2.0, gt=0, le=60)

    # Shared credential that services present to each other (X-Service-Token).
    service_token: str = DEV_SERVICE_TOKEN

    registry_url: str | None = "http://127.0.0.1:3003"
    registry_heartbeat_seconds: float = Field(default=10.0, gt=0)
    discovery_cache_seconds: float = Field(default=5.0, ge=0)
    # A registry that answers it knows no instance of a service (it restarted: it keeps them in
    # memory) is not believed for this long after it last named some: they are called meanwhile,
    # and re-register within a heartbeat. Bounded, so that a service really gone is dropped (a
    # refused connection drops an instance at once anyway).
    discovery_stale_seconds: float = Field(default=30.0, ge=0)
    # Fallback upstream addresses used when the registry cannot be asked, e.g.
    # SERVICE_URLS='{"s2-tickets": "http://127.0.0.1:3002"}'.
    service_urls: dict[str, str] = Field(default_factory=dict)

    http_connect_timeout: float = Field(default=2.0, gt=0)
    http_read_timeout: float = Field(default=10.0, gt=0)
    # Calls to other services (helpdesk_common.service_client): retries after the first try,
    # and the backoff before each (doubling from service_call_backoff, full jitter).
    service_call_retries: int = Field(default=3, ge=0, le=10)
    service_call_backoff: float = Field(default=0.1, ge=0)
    service_call_backoff_max: float = Field(default=2.0, ge=0)

    log_level: str = "INFO"
    access_log: bool = True

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> ServiceSettings:
        if self.environment == "production":
            for name in ("jwt_secret", "service_token"):
                value = getattr(self, name)
                if is_placeholder_secret(value) or len(value) < 16:
                    raise ValueError(f"{name.upper()} must be set to a real secret (16+ characters) in production")
            # Any other credential (a subclass's too: S1's ADMIN_PASSWORD, S6's SMTP_PASSWORD) may
            # be unset, but never left at a development default.
            for name, info in type(self).model_fields.items():
                value = getattr(self, name)
                if isinstance(value, SecretStr):
                    value = value.get_secret_value()
                if name == "db_url" and value:
                    value = urlsplit(value).password or ""
                if is_secret_setting(name, info.annotation) and isinstance(value, str) and value:
                    if PLACEHOLDER_MARKER in value.lower():
                        raise ValueError(f"{name.upper()} is a development default; set a real one in production")
        return self

    @property
    def advertised_host(self) -> str:
        if self.advertise_host:
            return self.advertise_host
        return "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
