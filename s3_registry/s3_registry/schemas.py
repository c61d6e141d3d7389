from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from helpdesk_common.registry_schemas import InstanceRead, InstanceStatus
from helpdesk_common.types import Timestamp

ServiceName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$", description="e.g. s2-tickets")]
# A DNS name or an IPv4 address; the registry hands it out as part of a URL, so nothing else.
HostName = Annotated[str, Field(pattern=r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")]
HealthPath = Annotated[str, Field(pattern=r"^/[A-Za-z0-9._~/-]{0,199}$")]


class RegistrationIn(BaseModel):
    model_config = ConfigDict(strict=True, populate_by_name=True)

    name: ServiceName
    host: HostName
    port: Annotated[int, Field(ge=1, le=65535)]
    health_endpoint: HealthPath = Field(default="/health", alias="healthEndpoint")


class RegistrationOut(BaseModel):
    message: str
    service: InstanceRead


class ServiceInstances(BaseModel):
    name: str
    count: int
    instances: list[InstanceRead]


class DiscoveredInstance(BaseModel):
    name: str
    url: str
    host: str
    port: int
    status: InstanceStatus


class Deregistered(BaseModel):
    message: str
    removed: int


class HealthCheckResult(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    service: str
    status: Literal["healthy", "unhealthy", "degraded"]
    last_check: Timestamp = Field(alias="lastCheck")
    details: list[dict[str, str | int | None]]
