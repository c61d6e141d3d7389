"""Settings: the first admin's pair, and no weak hash cost in production."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from s1_auth.settings import Settings

PRODUCTION_SECRETS = {"jwt_secret": "a-real-secret-of-some-length", "service_token": "another-real-secret-value"}


def test_defaults() -> None:
    settings = Settings()

    assert settings.service_name == "s1-auth"
    assert settings.port == 3001
    assert settings.admin_email is None and settings.admin_password is None
    assert settings.login_max_failures_per_email == 5
    assert settings.login_max_failures_per_ip == 20
    assert settings.login_failure_window_seconds == 900
    assert settings.hash_concurrency == 2
    assert settings.argon2_memory_cost_kib >= 19_456
    assert settings.argon2_time_cost >= 2


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADMIN_EMAIL", "boss@example.com")
    monkeypatch.setenv("ADMIN_PASSWORD", "boss-password")
    monkeypatch.setenv("LOGIN_MAX_FAILURES_PER_EMAIL", "7")
    monkeypatch.setenv("HASH_CONCURRENCY", "4")

    settings = Settings()

    assert settings.admin_email == "boss@example.com"
    assert settings.admin_password is not None
    assert settings.admin_password.get_secret_value() == "boss-password"
    assert "boss-password" not in repr(settings)
    assert settings.login_max_failures_per_email == 7
    assert settings.hash_concurrency == 4


@pytest.mark.parametrize(
    "values",
    [
        {"admin_email": "boss@example.com"},
        {"admin_password": "boss-password"},
        {"admin_email": "not-an-email", "admin_password": "boss-password"},
        {"admin_email": "boss@example.com", "admin_password": "short"},
        {"hash_concurrency": 0},
        {"login_max_failures_per_email": 0},
        {"login_failure_window_seconds": 0},
        {"argon2_memory_cost_kib": 4},
    ],
    ids=[
        "email alone",
        "password alone",
        "bad email",
        "short password",
        "no hashing",
        "zero limit",
        "no window",
        "tiny memory",
    ],
)
def test_inconsistent_settings_refuse_to_start(values: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Settings(**values)


@pytest.mark.parametrize("weak", [{"argon2_memory_cost_kib": 8}, {"argon2_time_cost": 1}])
def test_production_refuses_a_hash_cost_below_owasp(weak: dict[str, int]) -> None:
    with pytest.raises(ValidationError, match="OWASP"):
        Settings(environment="production", **PRODUCTION_SECRETS, **weak)


def test_production_accepts_the_defaults() -> None:
    assert Settings(environment="production", **PRODUCTION_SECRETS).environment == "production"
