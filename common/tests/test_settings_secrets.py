"""Production refuses every development default credential, not only JWT_SECRET and SERVICE_TOKEN."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from helpdesk_common.settings import ServiceSettings, is_placeholder_secret, is_secret_setting

REAL = {"jwt_secret": "j" * 32, "service_token": "s" * 32}


class WithPassword(ServiceSettings):
    admin_password: SecretStr | None = None


def test_a_database_url_with_the_development_password_is_refused_in_production() -> None:
    url = "postgresql://helpdesk:dev-db-password-change-me@postgres:5432/ticketdb"
    with pytest.raises(ValidationError, match="DB_URL is a development default"):
        ServiceSettings(environment="production", db_url=url, **REAL)
    ServiceSettings(environment="development", db_url=url)
    ServiceSettings(environment="production", db_url="postgresql://helpdesk:Xq7-real@postgres/ticketdb", **REAL)
    ServiceSettings(environment="production", db_url="postgresql:///ticketdb?host=/run/postgresql", **REAL)


def test_a_subclass_credential_left_at_its_development_default_is_refused_in_production() -> None:
    with pytest.raises(ValidationError, match="ADMIN_PASSWORD is a development default"):
        WithPassword(environment="production", admin_password=SecretStr("dev-admin-password-change-me"), **REAL)
    WithPassword(environment="production", admin_password=SecretStr("a real one, long enough"), **REAL)
    WithPassword(environment="production", **REAL)  # unset is allowed


@pytest.mark.parametrize(
    ("name", "secret"),
    [("JWT_SECRET", True), ("SMS_PROVIDER_TOKEN", True), ("ADMIN_PASSWORD", True), ("DB_URL", True),
     ("JWT_PRIVATE_KEY", True), ("TOKEN_STATE_POLL_SECONDS", False), ("REFRESH_TOKEN_TTL_SECONDS", False),
     ("SMTP_HOST", False)],
)  # fmt: skip
def test_credentials_are_known_by_name(name: str, secret: bool) -> None:
    assert is_secret_setting(name) is secret


def test_placeholders() -> None:
    assert is_placeholder_secret("dev-secret-change-me") and is_placeholder_secret("CHANGEME ")
    assert not is_placeholder_secret("x" * 40)
