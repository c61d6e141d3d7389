"""System tests: the fleet as real processes (registry, S1, S2, gateway) talking HTTP.

The fleet most tests share starts once per session (those tests are in the xdist group
"fleet", so they run on one worker), on free ports, against a fresh database of its own.
Tests reach it through the gateway, as a client would; the registry is asked directly only to
watch what it knows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from helpdesk_fleet.fleet import Account, Fleet, running_fleet
from helpdesk_fleet.postgres import create_scratch_database
from helpdesk_fleet.process import free_port
from helpdesk_fleet.pytest_plugin import TEST_JWT_SECRET, TEST_SERVICE_TOKEN

ADMIN = ("admin@helpdesk.example.com", "admin-password-for-tests")

# The web client's browser tests (tests/webclient) serve it on this origin, chosen before the
# fleet starts so that the gateway allows it (CORS_ORIGINS), as it allows the client's real one.
WEBCLIENT_PORT = free_port()
WEBCLIENT_ORIGIN = f"http://127.0.0.1:{WEBCLIENT_PORT}"

SYSTEM_TEST_ENV = {
    "ENVIRONMENT": "test",
    "JWT_SECRET": TEST_JWT_SECRET,
    "SERVICE_TOKEN": TEST_SERVICE_TOKEN,
    # Cheap hashes keep the suite fast; S1's own tests cover the production cost.
    "ARGON2_MEMORY_COST_KIB": "1024",
    "ARGON2_TIME_COST": "1",
    # Fast heartbeats and checks, so restarts settle within a second or two.
    "REGISTRY_HEARTBEAT_SECONDS": "0.5",
    "DISCOVERY_CACHE_SECONDS": "0.5",
    "HEALTH_INTERVAL_SECONDS": "0.5",
    "HEALTH_TIMEOUT_SECONDS": "2",
    "HTTP_CONNECT_TIMEOUT": "1",
    "HTTP_READ_TIMEOUT": "5",
    # S6: retries in tenths of a second, claims that lapse within seconds, pings every second
    # (well under HTTP_READ_TIMEOUT, which the gateway's streams must outlive).
    "RETRY_BASE_SECONDS": "0.05",
    "RETRY_MAX_SECONDS": "0.2",
    "CLAIM_SECONDS": "5.5",
    "SMTP_TIMEOUT_SECONDS": "2",
    "SMS_TIMEOUT_SECONDS": "2",
    "POLL_INTERVAL_SECONDS": "1",
    "STREAM_PING_SECONDS": "1",
    "LOG_LEVEL": "WARNING",
    "ACCESS_LOG": "false",
    # Up to four fleets run at once (this one, the walkthrough's, make up's, the browser tests'
    # server beside them) on one test PostgreSQL with the default max_connections of 100:
    # eight services with pools of 10 each could take 80 per fleet. Four each is plenty for
    # tests and keeps every fleet together under the limit.
    "DB_POOL_MAX": "4",
    "CORS_ORIGINS": WEBCLIENT_ORIGIN,
}


def system_fleet(pg_admin_dsn: str, log_dir: Path, *, admin: tuple[str, str] = ADMIN) -> AbstractContextManager[Fleet]:
    """A fleet on a database of its own, with `admin` (email, password) as its first admin."""
    db_url = asyncio.run(create_scratch_database(pg_admin_dsn, prefix="system"))
    return running_fleet(db_url, log_dir, env=SYSTEM_TEST_ENV, admin=admin)


@pytest.fixture(scope="session")
def fleet(pg_admin_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """The fleet most system tests share, with a configured admin (ADMIN_EMAIL)."""
    with system_fleet(pg_admin_dsn, tmp_path_factory.mktemp("fleet-logs")) as fleet:
        yield fleet


@pytest.fixture(scope="session")
def accounts(fleet: Fleet) -> dict[str, Account]:
    """One account per role, plus a second user ("other") who owns nothing of the first's."""
    return {
        "user": fleet.new_account("user"),
        "other": fleet.new_account("user"),
        "staff": fleet.new_account("staff"),
        "admin": fleet.new_account("admin"),
    }
