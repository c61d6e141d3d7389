"""Registry routes. Every one of them asks for the shared service credential: registering
is how a caller gets traffic routed to it, so an open registry is a route-hijack hole."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from helpdesk_common.auth import require_service
from helpdesk_common.errors import ApiError
from helpdesk_common.registry_schemas import InstanceRead, ServiceList
from s3_registry.repository import Instance, InstanceStore
from s3_registry.schemas import (
    Deregistered,
    DiscoveredInstance,
    HealthCheckResult,
    RegistrationIn,
    RegistrationOut,
    ServiceInstances,
    ServiceName,
)
from s3_registry.service import probe

router = APIRouter(dependencies=[Depends(require_service)], tags=["registry"])

InstanceKey = Annotated[str | None, Query(pattern=r"^[A-Za-z0-9.-]{1,253}:[0-9]{1,5}$", description="host:port")]


def get_store(request: Request) -> InstanceStore:
    store: InstanceStore = request.app.state.store
    return store


Store = Annotated[InstanceStore, Depends(get_store)]


def _read(instance: Instance) -> InstanceRead:
    return InstanceRead(
        name=instance.name,
        host=instance.host,
        port=instance.port,
        url=instance.url,
        health_endpoint=instance.health_endpoint,
        status=instance.status,
        registered_at=instance.registered_at,
        last_health_check=instance.last_health_check,
    )


def _instances_or_404(store: InstanceStore, name: str) -> list[Instance]:
    instances = store.get(name)
    if not instances:
        raise ApiError(404, f"No service named {name!r} is registered.")
    return instances


@router.post("/register", status_code=201, response_model=RegistrationOut)
async def register(body: RegistrationIn, store: Store, response: Response) -> RegistrationOut:
    instance, created = store.upsert(
        name=body.name, host=body.host, port=body.port, health_endpoint=body.health_endpoint
    )
    verb = "registered" if created else "refreshed"
    return RegistrationOut(message=f"Service {body.name} {verb} at {instance.key}.", service=_read(instance))


@router.delete("/deregister/{name}", response_model=Deregistered)
async def deregister(name: ServiceName, store: Store, instance: InstanceKey = None) -> Deregistered:
    _instances_or_404(store, name)
    removed = store.remove(name=name, key=instance)
    if removed == 0:
        raise ApiError(404, f"Service {name!r} has no instance {instance}.")
    return Deregistered(message=f"Deregistered {removed} instance(s) of {name}.", removed=removed)


@router.get("/services", response_model=ServiceList)
async def list_services(store: Store) -> ServiceList:
    services = [_read(i) for i in store.all()]
    return ServiceList(count=len(services), services=services)


@router.get("/services/{name}", response_model=ServiceInstances)
async def get_service(name: ServiceName, store: Store) -> ServiceInstances:
    instances = [_read(i) for i in _instances_or_404(store, name)]
    return ServiceInstances(name=name, count=len(instances), instances=instances)


@router.get("/discover/{name}", response_model=DiscoveredInstance)
async def discover(name: ServiceName, store: Store) -> DiscoveredInstance:
    _instances_or_404(store, name)
    instance = store.next_healthy(name)
    if instance is None:
        raise ApiError(503, f"No healthy instance of {name!r} right now.")
    return DiscoveredInstance(
        name=instance.name, url=instance.url, host=instance.host, port=instance.port, status="healthy"
    )


@router.get("/health/{name}", response_model=HealthCheckResult)
async def check_service_now(name: ServiceName, store: Store, request: Request) -> HealthCheckResult:
    instances = _instances_or_404(store, name)
    timeout: float = request.app.state.settings.health_timeout_seconds
    results = [await probe(i, request.app.state.http, timeout) for i in instances]
    status: Literal["healthy", "unhealthy", "degraded"] = (
        "healthy" if all(results) else "unhealthy" if not any(results) else "degraded"
    )
    return HealthCheckResult(
        service=name,
        status=status,
        last_check=datetime.now(UTC),
        details=[
            {"instance": i.key, "url": i.health_url, "status": i.status, "error": i.last_error} for i in instances
        ],
    )
