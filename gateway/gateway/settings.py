"""Gateway settings: the shared ones plus CORS and request-size limits.

Lists may be given as JSON (`["http://a", "http://b"]`) or comma-separated (`http://a,http://b`).
"""

from __future__ import annotations

from pydantic import AliasChoices, Field, field_validator

from helpdesk_common.settings import ServiceSettings, SettingList

MIB = 1024 * 1024
KIB = 1024


class Settings(ServiceSettings):
    service_name: str = "gateway"
    # PORT wins (the fleet's process runner sets it); GATEWAY_PORT is read when PORT is unset.
    port: int = Field(default=8080, ge=1, le=65535, validation_alias=AliasChoices("port", "gateway_port"))

    # Browser origins allowed to call the API; "*" allows any origin.
    cors_origins: SettingList = Field(default_factory=lambda: ["http://localhost:5173"])
    cors_allow_methods: SettingList = Field(
        default_factory=lambda: ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    )
    cors_allow_headers: SettingList = Field(
        default_factory=lambda: ["Authorization", "Content-Type", "X-Request-ID", "Idempotency-Key", "If-Match"]
    )
    cors_max_age: int = Field(default=600, ge=0)

    # Request body limits: everything but /media/upload, and /media/upload (10 MiB of file plus
    # room for the multipart envelope and the other form fields).
    max_body_bytes: int = Field(default=1 * MIB, ge=0)
    media_upload_max_body_bytes: int = Field(default=10 * MIB + 64 * KIB, ge=0)

    # The longest a proxied exchange may last once the request body has arrived, response body
    # included (HTTP_READ_TIMEOUT bounds each wait for the upstream; this bounds the sum). Event
    # streams are exempt. Generous: a 10 MiB download to a slow phone must fit.
    request_deadline_seconds: float = Field(default=300.0, gt=0)

    # Connections the proxy keeps open to all upstreams together.
    upstream_max_connections: int = Field(default=200, ge=1)

    @field_validator("cors_origins")
    @classmethod
    def _normalise_origins(cls, value: list[str]) -> list[str]:
        # An Origin header never ends with a slash; a configured one would never match.
        return [origin.rstrip("/") for origin in value]
