"""The registry's store: in memory, as in the original system.

Nothing is lost by keeping it there: every service re-registers on each heartbeat, so a
restarted registry refills itself within one heartbeat interval.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Instance:
    name: str
    host: str
    port: int
    health_endpoint: str
    registered_at: datetime = field(default_factory=_now)
    status: str = "healthy"  # it just called us, so it is up
    last_health_check: datetime | None = None
    failed_checks: int = 0
    last_error: str | None = None

    @property
    def key(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def health_url(self) -> str:
        return f"{self.url}{self.health_endpoint}"


class InstanceStore:
    def __init__(self) -> None:
        self._by_name: dict[str, dict[str, Instance]] = {}
        self._round_robin: defaultdict[str, int] = defaultdict(int)

    def upsert(self, *, name: str, host: str, port: int, health_endpoint: str) -> tuple[Instance, bool]:
        """Add an instance or refresh a known one; returns (instance, created)."""
        instances = self._by_name.setdefault(name, {})
        key = f"{host}:{port}"
        existing = instances.get(key)
        if existing is not None:
            existing.health_endpoint = health_endpoint
            existing.status = "healthy"
            existing.failed_checks = 0
            existing.last_error = None
            return existing, False
        instance = Instance(name=name, host=host, port=port, health_endpoint=health_endpoint)
        instances[key] = instance
        return instance, True

    def remove(self, *, name: str, key: str | None = None) -> int:
        instances = self._by_name.get(name)
        if not instances:
            return 0
        if key is None:
            removed = len(instances)
            instances.clear()
        else:
            removed = 1 if instances.pop(key, None) is not None else 0
        if not instances:
            self._by_name.pop(name, None)
            self._round_robin.pop(name, None)
        return removed

    def get(self, name: str) -> list[Instance]:
        return list(self._by_name.get(name, {}).values())

    def all(self) -> list[Instance]:
        return [i for name in sorted(self._by_name) for i in self._by_name[name].values()]

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def next_healthy(self, name: str) -> Instance | None:
        healthy = [i for i in self.get(name) if i.status == "healthy"]
        if not healthy:
            return None
        index = self._round_robin[name] % len(healthy)
        self._round_robin[name] += 1
        return healthy[index]
