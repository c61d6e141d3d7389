from pydantic import Field

from helpdesk_common.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "s3-registry"
    port: int = 3003
    # The registry is the one service that does not register with itself.
    registry_url: str | None = None
    health_interval_seconds: float = Field(default=10.0, gt=0)
    health_timeout_seconds: float = Field(default=2.0, gt=0)
    # Consecutive failed checks after which an instance is dropped (the contract says 3).
    max_failed_checks: int = Field(default=3, ge=1)
