from pydantic import Field

from helpdesk_common.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "s7-analytics"
    port: int = 3007
    # How long computed figures are served before the next read computes them again (0: every
    # read computes; the benchmark's "uncached" runs use that).
    analytics_cache_seconds: float = Field(default=60.0, ge=0)
    # Figures are cached per period (?from=&to=); the least recently read beyond this are dropped.
    analytics_cache_entries: int = Field(default=64, ge=1)
    # After a failed computation the last good figures are served this long before trying again,
    # so a database outage is not met with a query set per request.
    analytics_retry_seconds: float = Field(default=5.0, ge=0)
    # A ceiling for any one query of the set (PostgreSQL's statement_timeout).
    analytics_statement_timeout_ms: int = Field(default=15_000, ge=100)
