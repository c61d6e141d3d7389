"""Talking to S3, the registry: keep this service registered, and find others.

- `keep_registered()` registers at start (retrying until the registry answers) and then
  re-registers every heartbeat; re-registering refreshes the instance, so a registry that
  restarted and forgot us has us back within one heartbeat.
- `deregister()` removes this instance on shutdown.
- `resolve(name)` gives a base URL for a service: instances are cached briefly and used
  round-robin; while the registry is down the last known instances (or the configured
  SERVICE_URLS fallbacks) keep serving. A registry that answers it knows none of a service's
  instances (it restarted, and the instances have not re-registered yet) is not believed for
  DISCOVERY_STALE_SECONDS after it last named some: the last good view keeps serving meanwhile.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from dataclasses import dataclass, field

import httpx

from helpdesk_common.auth import SERVICE_TOKEN_HEADER
from helpdesk_common.settings import ServiceSettings

logger = logging.getLogger("helpdesk.registry_client")


class ServiceUnavailable(Exception):
    """No instance of the named service is known to be up."""


@dataclass
class _Instances:
    urls: list[str]
    fetched_at: float  # when the registry was last asked
    confirmed_at: float  # when it last named these instances
    counter: itertools.count[int] = field(default_factory=itertools.count)

    def pick(self) -> str:
        return self.urls[next(self.counter) % len(self.urls)]


class RegistryClient:
    def __init__(self, settings: ServiceSettings, http: httpx.AsyncClient) -> None:
        self.settings = settings
        self.http = http
        self.base_url = (settings.registry_url or "").rstrip("/")
        self._cache: dict[str, _Instances] = {}
        self._refreshing: dict[str, asyncio.Task[None]] = {}
        self._registered = asyncio.Event()
        self._stale_logged: dict[str, bool] = {}

    @property
    def _headers(self) -> dict[str, str]:
        return {SERVICE_TOKEN_HEADER: self.settings.service_token}

    @property
    def instance_key(self) -> str:
        return f"{self.settings.advertised_host}:{self.settings.port}"

    # --- our own registration -------------------------------------------------------------

    async def register_once(self) -> bool:
        body = {
            "name": self.settings.service_name,
            "host": self.settings.advertised_host,
            "port": self.settings.port,
            "healthEndpoint": "/health",
        }
        try:
            response = await self.http.post(f"{self.base_url}/register", json=body, headers=self._headers, timeout=3.0)
        except httpx.HTTPError as exc:
            logger.debug("registry not reachable", extra={"error": str(exc)})
            return False
        if response.status_code != 201:
            logger.warning("registry refused registration", extra={"status": response.status_code})
            return False
        if not self._registered.is_set():
            logger.info("registered with the registry", extra={"instance": self.instance_key})
            self._registered.set()
        return True

    async def keep_registered(self) -> None:
        """Run forever (as a task): register, then refresh every heartbeat."""
        backoff = 0.2
        while True:
            if await self.register_once():
                backoff = 0.2
                await asyncio.sleep(self.settings.registry_heartbeat_seconds)
            else:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.settings.registry_heartbeat_seconds)

    async def deregister(self) -> None:
        try:
            await self.http.delete(
                f"{self.base_url}/deregister/{self.settings.service_name}",
                params={"instance": self.instance_key},
                headers=self._headers,
                timeout=2.0,
            )
        except httpx.HTTPError:
            logger.info("registry not reachable at shutdown; it will drop us after failed health checks")

    # --- finding others -------------------------------------------------------------------

    async def _fetch(self, name: str) -> None:
        try:
            response = await self.http.get(f"{self.base_url}/services/{name}", headers=self._headers, timeout=2.0)
        except httpx.HTTPError:
            return  # keep what we last knew
        if response.status_code == 404:
            self._keep_recent_view(name)
            return
        if response.status_code != 200:
            return
        instances = response.json().get("instances", [])
        urls = [i["url"] for i in instances if i.get("status") == "healthy"]
        if urls:
            now = time.monotonic()
            self._cache[name] = _Instances(urls=urls, fetched_at=now, confirmed_at=now)
            self._stale_logged.pop(name, None)
        else:
            # It knows the instances and found them failing its health checks: believe it.
            self._cache.pop(name, None)

    def _keep_recent_view(self, name: str) -> None:
        """The registry knows no `name` at all: after a restart it is empty until every service's
        next heartbeat, so keep the last instances it named for a bounded time."""
        cached = self._cache.get(name)
        now = time.monotonic()
        if cached is not None and now - cached.confirmed_at <= self.settings.discovery_stale_seconds:
            cached.fetched_at = now  # ask again after DISCOVERY_CACHE_SECONDS, not on every call
            if not self._stale_logged.get(name):
                logger.info("the registry has forgotten a service; routing on its last known instances",
                            extra={"upstream": name, "instances": len(cached.urls)})  # fmt: skip
                self._stale_logged[name] = True
            return
        self._cache.pop(name, None)
        self._stale_logged.pop(name, None)

    def _start_refresh(self, name: str) -> asyncio.Task[None]:
        # One fetch per name at a time; `_refreshing` holds the task so it is not collected.
        task = self._refreshing.get(name)
        if task is None:
            task = asyncio.create_task(self._fetch(name))
            self._refreshing[name] = task
            task.add_done_callback(lambda _t: self._refreshing.pop(name, None))
        return task

    async def _refresh(self, name: str) -> None:
        await asyncio.shield(self._start_refresh(name))

    async def resolve(self, name: str) -> str:
        """A base URL (`http://host:port`) for one instance of `name`."""
        cached = self._cache.get(name)
        if cached is not None:
            if time.monotonic() - cached.fetched_at > self.settings.discovery_cache_seconds and self.base_url:
                # Serve the stale entry now and refresh it in the background.
                self._start_refresh(name)
            return cached.pick()
        if self.base_url:
            await self._refresh(name)
            cached = self._cache.get(name)
            if cached is not None:
                return cached.pick()
        fallback = self.settings.service_urls.get(name)
        if fallback:
            return fallback.rstrip("/")
        raise ServiceUnavailable(name)

    def forget(self, name: str, url: str) -> None:
        """Drop an instance that just failed a connection so the next call tries another."""
        cached = self._cache.get(name)
        if cached is not None and url in cached.urls:
            cached.urls.remove(url)
            if not cached.urls:
                self._cache.pop(name, None)
