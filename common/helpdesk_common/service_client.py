"""Calling another service of the fleet: found through the registry, with bounded retries.

    response = await services.request("s1-auth", "GET", f"/users/{user_id}")

- The peer is found with the shared `RegistryClient` (cached, round-robin, SERVICE_URLS
  fallbacks), so a call goes to a healthy instance and follows the fleet as it changes.
- Every call carries the service credential (`X-Service-Token`) unless `as_service=False`, the
  caller's bearer token when `bearer=` is given (so the peer applies the caller's own rights),
  the current request id (the shared HTTP client adds it) and an `Idempotency-Key` when asked.
- Retries, bounded (`SERVICE_CALL_RETRIES`, default 3) with exponential backoff and full
  jitter: always when the request cannot have reached the peer (no instance known, connection
  refused: that instance is forgotten, so the next try re-discovers); on a 503 answer or a
  timeout only when repeating is safe (GET/HEAD/PUT/DELETE, or an `Idempotency-Key` given).
- When no try succeeds, a WARNING is logged (unless `log_unavailable=False`: for a caller that
  logs the failure itself with more to say, like S4's outbox relay with the row id) and
  `PeerUnavailable` is raised: an ApiError 503 with a sentence naming
  the peer, so a route that does not catch it answers `503 {"error"}` and writes nothing
  (raise it before committing anything, or inside the route's transaction).

Other answers (2xx, 4xx, a 500) are returned as they are: what they mean is the caller's call.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping
from typing import Annotated, Any

import aiohttp
import httpx
from fastapi import Depends, Request

from helpdesk_common.auth import SERVICE_TOKEN_HEADER
from helpdesk_common.errors import ApiError
from helpdesk_common.registry_client import RegistryClient, ServiceUnavailable
from helpdesk_common.settings import ServiceSettings

logger = logging.getLogger("helpdesk.service_client")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
# Failures after the request may have reached the peer: retried only when repeating is safe.
_RETRYABLE_AFTER_SENDING = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


class PeerUnavailable(ApiError):
    """No instance of a peer answered usefully within the retry budget (answered as 503)."""

    def __init__(self, service: str, reason: str) -> None:
        super().__init__(503, f"The {service} service is not available right now; try again shortly.")
        self.service = service
        self.reason = reason


def _not_sent(exc: BaseException) -> bool:
    """True when the request cannot have reached the peer (safe to send again anywhere)."""
    # httpx-aiohttp maps aiohttp's errors coarsely (a refused connection arrives as
    # ConnectTimeout); the aiohttp error it came from says what really happened.
    cause = exc.__cause__
    if isinstance(cause, aiohttp.ClientConnectorError):
        return True
    return isinstance(exc, httpx.ConnectError)


class ServiceClient:
    def __init__(self, settings: ServiceSettings, http: httpx.AsyncClient, registry: RegistryClient) -> None:
        self.settings = settings
        self.http = http
        self.registry = registry

    def _backoff(self, attempt: int) -> float:
        # Full jitter (AWS architecture blog): spreads retries of many callers apart.
        ceiling = min(self.settings.service_call_backoff_max, self.settings.service_call_backoff * (2**attempt))
        return random.uniform(0, ceiling)  # noqa: S311 - jitter, not cryptography

    async def request(
        self,
        service: str,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        bearer: str | None = None,
        as_service: bool = True,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
        retries: int | None = None,
        read_timeout: float | None = None,
        log_unavailable: bool = True,
    ) -> httpx.Response:
        method = method.upper()
        send_headers: dict[str, str] = dict(headers or {})
        if as_service:
            send_headers[SERVICE_TOKEN_HEADER] = self.settings.service_token
        if bearer is not None:
            send_headers["Authorization"] = f"Bearer {bearer}"
        if idempotency_key is not None:
            send_headers[IDEMPOTENCY_KEY_HEADER] = idempotency_key
        repeatable = method in IDEMPOTENT_METHODS or idempotency_key is not None
        budget = self.settings.service_call_retries if retries is None else retries
        extra: dict[str, Any] = {}
        if read_timeout is not None:
            extra["timeout"] = httpx.Timeout(self.settings.http_connect_timeout, read=read_timeout)
        reason = "no attempt made"
        for attempt in range(budget + 1):
            if attempt:
                await asyncio.sleep(self._backoff(attempt - 1))
            try:
                base = await self.registry.resolve(service)
            except ServiceUnavailable:
                reason = "no instance registered"
                continue
            try:
                response = await self.http.request(
                    method, f"{base}{path}", json=json, params=params, headers=send_headers, **extra
                )
            except httpx.HTTPError as exc:
                if _not_sent(exc):
                    self.registry.forget(service, base)
                    reason = f"not reachable at {base}"
                    continue
                reason = f"{type(exc).__name__} from {base}"
                if repeatable and isinstance(exc, _RETRYABLE_AFTER_SENDING):
                    continue
                break
            if response.status_code == 503:
                # The peer says it cannot serve now (its own database or peer is down).
                reason = f"503 from {base}"
                if repeatable:
                    continue
                break
            return response
        if log_unavailable:
            logger.warning(
                "peer unavailable", extra={"peer": service, "method": method, "path": path, "reason": reason}
            )
        raise PeerUnavailable(service, reason)


def get_service_client(request: Request) -> ServiceClient:
    client: ServiceClient = request.app.state.services
    return client


async def _service_client(request: Request) -> ServiceClient:
    return get_service_client(request)


Services = Annotated[ServiceClient, Depends(_service_client)]
