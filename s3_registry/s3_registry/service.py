"""Health checking: every instance is probed periodically; one that fails
`max_failed_checks` probes in a row is dropped from the registry."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import httpx

from s3_registry.repository import Instance, InstanceStore

logger = logging.getLogger("s3_registry.health")


async def probe(instance: Instance, http: httpx.AsyncClient, probe_timeout: float) -> bool:
    """One health check; records the outcome on the instance and returns whether it passed."""
    try:
        response = await http.get(instance.health_url, timeout=probe_timeout)
        ok = 200 <= response.status_code < 300
        error = None if ok else f"HTTP {response.status_code}"
    except httpx.HTTPError as exc:
        ok, error = False, type(exc).__name__
    instance.last_health_check = datetime.now(UTC)
    if ok:
        instance.status, instance.failed_checks, instance.last_error = "healthy", 0, None
    else:
        instance.status, instance.last_error = "unhealthy", error
        instance.failed_checks += 1
    return ok


async def check_all(store: InstanceStore, http: httpx.AsyncClient, *, probe_timeout: float, max_failed: int) -> None:
    instances = store.all()
    await asyncio.gather(*(probe(i, http, probe_timeout) for i in instances))
    for instance in instances:
        if instance.failed_checks >= max_failed:
            logger.warning(
                "dropping an instance that failed its health checks",
                extra={"instance": f"{instance.name}@{instance.key}", "failed_checks": instance.failed_checks},
            )
            store.remove(name=instance.name, key=instance.key)


async def run_health_checks(
    store: InstanceStore, http: httpx.AsyncClient, *, interval: float, probe_timeout: float, max_failed: int
) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await check_all(store, http, probe_timeout=probe_timeout, max_failed=max_failed)
        except Exception:  # a bug here must not end health checking for good
            logger.exception("health check round failed")
