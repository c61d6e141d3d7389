"""The routes the fleet documents, read from each service's OpenAPI document (and the
gateway's), as the gateway exposes them. The authorization matrix and the injection tests
walk these, so a route added to a service is covered (or fails for want of a row) at once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from gateway.proxy import ROUTES
from helpdesk_fleet.fleet import Fleet


@dataclass(frozen=True)
class Operation:
    method: str  # upper case
    path: str  # as the gateway exposes it, with the service's {placeholders}
    gateway_own: bool  # served by the gateway itself, not proxied
    spec: dict[str, Any]  # the OpenAPI operation object

    @property
    def key(self) -> str:
        return f"{'GATEWAY ' if self.gateway_own else ''}{self.method} {self.path}"

    def parameters(self, where: str) -> list[str]:
        return [p["name"] for p in self.spec.get("parameters", []) if p.get("in") == where]


def gateway_path(prefix: str, path: str) -> str:
    """`/tickets` + `/` -> `/tickets`; `/tickets` + `/{ticket_id}` -> `/tickets/{ticket_id}`."""
    return f"/{prefix}" if path == "/" else f"/{prefix}{path}"


def documented_operations(fleet: Fleet) -> list[Operation]:
    found = []
    for prefix, service in ROUTES.items():
        spec = httpx.get(f"{fleet.processes[service].url}/openapi.json", timeout=10).json()
        for path, operations in spec["paths"].items():
            for method, operation in operations.items():
                found.append(Operation(method.upper(), gateway_path(prefix.decode(), path), False, operation))
    spec = httpx.get(f"{fleet.gateway_url}/openapi.json", timeout=10).json()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            found.append(Operation(method.upper(), path, True, operation))
    return found
