from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from helpdesk_fleet.process import ALL_SERVICES, ServiceProcess, free_port
from helpdesk_fleet.pytest_plugin import TEST_SERVICE_TOKEN

REGISTRY_SPEC = next(s for s in ALL_SERVICES if s.module == "s3_registry")
AUTH = {"X-Service-Token": TEST_SERVICE_TOKEN}


def _start_registry(log_dir: Path, interval: float) -> ServiceProcess:
    process = ServiceProcess(
        spec=REGISTRY_SPEC,
        port=free_port(),
        env={
            "ENVIRONMENT": "test",
            "SERVICE_TOKEN": TEST_SERVICE_TOKEN,
            "HEALTH_INTERVAL_SECONDS": str(interval),
            "HEALTH_TIMEOUT_SECONDS": "1",
            "LOG_LEVEL": "WARNING",
        },
        log_path=log_dir / f"registry-{interval}.log",
    )
    process.start()
    process.wait_ready()
    return process


@pytest.fixture(scope="session")
def quiet_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    """A registry whose periodic checks never fire during a test: state changes only by API."""
    process = _start_registry(tmp_path_factory.mktemp("registry"), interval=3600)
    yield process
    process.stop()


@pytest.fixture(scope="session")
def busy_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    """A registry that health-checks every 0.2 s."""
    process = _start_registry(tmp_path_factory.mktemp("registry"), interval=0.2)
    yield process
    process.stop()


@pytest.fixture
def registry(quiet_registry: ServiceProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=quiet_registry.url, headers=AUTH, timeout=5) as client:
        yield client
