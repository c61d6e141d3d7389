"""What the registry (S3) answers about registered instances: its own routes and the gateway's
`/registry/services` (which passes S3's answer on) document the same shapes from here."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from helpdesk_common.types import Timestamp

InstanceStatus = Literal["healthy", "unhealthy"]


class InstanceRead(BaseModel):
    """One registered instance (camelCase on the wire, as the original registry answered)."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    name: str
    host: str
    port: int
    url: str
    health_endpoint: str = Field(alias="healthEndpoint")
    status: InstanceStatus
    registered_at: Timestamp = Field(alias="registeredAt")
    last_health_check: Timestamp | None = Field(alias="lastHealthCheck")


class ServiceList(BaseModel):
    count: int
    services: list[InstanceRead]


class ErrorBody(BaseModel):
    """Every error of every service (`details` only for validation errors)."""

    error: str
