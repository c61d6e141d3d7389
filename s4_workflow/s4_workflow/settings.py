from pydantic import Field, model_validator

from helpdesk_common.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "s4-workflow"
    port: int = 3004

    # The outbox relay (relay.py): delivers the notifications changes wrote to S6.
    # Off: this process only writes the outbox; relays run elsewhere (any S4 instance relays).
    outbox_relay: bool = True
    # Rows claimed per round, and how many of them are in flight to S6 at once.
    outbox_batch_size: int = Field(default=100, ge=1, le=1000)
    outbox_concurrency: int = Field(default=16, ge=1, le=200)
    # The relay wakes on NOTIFY at each commit; this is the polling fallback (and how soon a
    # row whose backoff ended is seen).
    outbox_poll_seconds: float = Field(default=1.0, gt=0)
    # How long a claim lasts: a relay killed mid-send leaves its rows due again after this.
    # Must be longer than one call to S6 can take.
    outbox_claim_seconds: float = Field(default=60.0, gt=0)
    # Retry delays per row: doubling from the first, capped, with jitter.
    outbox_backoff_seconds: float = Field(default=0.5, gt=0)
    outbox_max_backoff_seconds: float = Field(default=30.0, gt=0)
    # Delivered rows are deleted after this (failed rows are kept for an operator).
    outbox_retention_hours: float = Field(default=72.0, gt=0)
    # How often the relay refreshes the pending figures shown on /health.
    outbox_stats_seconds: float = Field(default=5.0, gt=0)

    @model_validator(mode="after")
    def _claim_outlasts_a_call(self) -> "Settings":
        if self.outbox_claim_seconds <= self.http_connect_timeout + self.http_read_timeout:
            raise ValueError("OUTBOX_CLAIM_SECONDS must be longer than HTTP_CONNECT_TIMEOUT + HTTP_READ_TIMEOUT")
        return self
