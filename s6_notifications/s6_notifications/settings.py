"""S6's own settings on top of the shared ones: SMTP, the SMS provider, the queue and the stream."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, SecretStr, model_validator

from helpdesk_common.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "s6-notifications"
    port: int = 3006

    # --- email (SMTP) ---------------------------------------------------------------------------
    # The default is `make up`'s local mail sink; production points these at a real server.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=1025, ge=1, le=65535)
    # none: plain SMTP (the local sink only); starttls: upgrade after EHLO (port 587);
    # tls: TLS from the first byte (SMTPS, port 465).
    smtp_security: Literal["none", "starttls", "tls"] = "none"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "Helpdesk <helpdesk@localhost>"
    smtp_timeout_seconds: float = Field(default=10.0, gt=0)
    smtp_validate_certs: bool = True
    # Connections kept open to the server while a backlog drains (one message at a time each).
    smtp_connections: int = Field(default=4, ge=1, le=64)
    # A connection unused this long is closed (QUIT) rather than left for the server to drop.
    smtp_idle_seconds: float = Field(default=30.0, gt=0)

    # --- sms (an HTTP provider) -----------------------------------------------------------------
    # POSTed a JSON body {to, from, body, reference} with `Authorization: Bearer <token>`;
    # unset: SMS notifications fail with a clear error (nothing to send them to).
    sms_provider_url: str | None = None
    sms_provider_token: SecretStr | None = None
    sms_sender: str | None = None  # the `from` the provider shows (a number or a short name)
    sms_concurrency: int = Field(default=8, ge=1, le=128)
    # One request to the provider, connecting included (an outside service: not HTTP_READ_TIMEOUT).
    sms_timeout_seconds: float = Field(default=10.0, gt=0)

    # --- the queue ------------------------------------------------------------------------------
    # Rows one worker claims at a time (email and sms; in-app rows are marked in larger batches).
    delivery_batch: int = Field(default=100, ge=1, le=1000)
    in_app_batch: int = Field(default=500, ge=1, le=5000)
    # How long a claim lasts: a worker that dies mid-send leaves its rows to be claimed again
    # after this; no send is started later than claim - (the send's own timeout).
    claim_seconds: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=3, ge=0, le=20)
    # Backoff before retry n (1, 2, 3): retry_base * 2^(n-1), capped at retry_max, with jitter.
    retry_base_seconds: float = Field(default=30.0, ge=0)
    retry_max_seconds: float = Field(default=900.0, ge=0)
    # The polling fallback: the longest a worker sleeps without a NOTIFY before looking again.
    poll_interval_seconds: float = Field(default=5.0, gt=0)

    # --- the stream (SSE) -----------------------------------------------------------------------
    # Keep-alive comments: well under the gateway's read timeout (HTTP_READ_TIMEOUT, 10 s).
    stream_ping_seconds: float = Field(default=5.0, gt=0)
    # A stream ticket (POST /stream/ticket) is good for one GET /stream within this many seconds.
    stream_ticket_seconds: int = Field(default=30, ge=1, le=300)

    # Seconds kept between the end of the longest possible send and the end of its claim.
    CLAIM_MARGIN_SECONDS: ClassVar[float] = 1.0

    def send_timeout(self, channel: str) -> float:
        """The longest one send on `channel` can take (connecting included)."""
        if channel == "email":
            return self.smtp_timeout_seconds * 2  # connecting (and STARTTLS, AUTH), then the message
        return self.sms_timeout_seconds

    @model_validator(mode="after")
    def _claims_outlast_sends(self) -> Settings:
        for channel in ("email", "sms"):
            needed = self.send_timeout(channel) + self.CLAIM_MARGIN_SECONDS
            if self.claim_seconds <= needed:
                raise ValueError(
                    f"CLAIM_SECONDS must be more than {needed:g} (the longest {channel} send plus a margin), "
                    "or no send could start within a claim"
                )
        return self

    @model_validator(mode="after")
    def _no_password_in_clear(self) -> Settings:
        if self.environment == "production" and self.smtp_password is not None and self.smtp_security == "none":
            raise ValueError("SMTP_SECURITY must be starttls or tls when SMTP credentials are set in production")
        return self
