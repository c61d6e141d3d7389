"""Response shapes of the gateway's own routes, for its OpenAPI document."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RegistryInstance(BaseModel):
    """One registered instance, as S3 lists it."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    name: str
    host: str
    port: int
    url: str
    health_endpoint: str = Field(alias="healthEndpoint")
    status: str = Field(description="healthy | unhealthy")
    registered_at: str = Field(alias="registeredAt")
    last_health_check: str | None = Field(alias="lastHealthCheck")


class RegistryServiceList(BaseModel):
    count: int
    services: list[RegistryInstance]


class ErrorBody(BaseModel):
    error: str
