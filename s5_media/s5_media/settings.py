"""S5's settings: the shared ones plus where files live, the upload limits and the quotas."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from helpdesk_common.settings import ServiceSettings

MIB = 1024 * 1024
KIB = 1024


class Settings(ServiceSettings):
    service_name: str = "s5-media"
    port: int = 3005

    # Where the files are kept (created at start). `make up` runs from the repository root, so
    # the default lands in .data/media beside the embedded database; the test fleet gives each
    # run a temporary folder of its own.
    media_dir: Path = Path(".data/media")

    # The largest file accepted; the multipart body may be larger by the envelope and the other
    # fields (MEDIA_MAX_ENVELOPE_BYTES). The gateway's MEDIA_UPLOAD_MAX_BODY_BYTES must be at
    # least the sum of the two, or it refuses first.
    media_max_file_bytes: int = Field(default=10 * MIB, ge=1)
    media_max_envelope_bytes: int = Field(default=64 * KIB, ge=1 * KIB)

    # Per ticket: at most this many files and this many bytes in all (409 beyond).
    media_ticket_max_files: int = Field(default=50, ge=1)
    media_ticket_max_bytes: int = Field(default=100 * MIB, ge=1)

    # Uploads in flight in this instance; more are answered 503 with Retry-After at once.
    media_max_uploads_in_flight: int = Field(default=32, ge=1)
    media_retry_after_seconds: int = Field(default=2, ge=1)
    # Slow clients (slowloris): after a grace period the body must keep arriving at this average
    # rate, and no gap between two pieces may be longer than the idle limit; else 408 and cut off.
    media_upload_min_bytes_per_second: int = Field(default=32 * KIB, ge=1)
    media_upload_rate_grace_seconds: float = Field(default=10.0, ge=0)
    media_upload_idle_seconds: float = Field(default=30.0, gt=0)

    # The orphan sweep (at start-up and then every MEDIA_SWEEP_INTERVAL_SECONDS) leaves alone
    # what is younger than this: another instance may be between moving a file into place and
    # inserting its row, or still receiving into a temporary file.
    media_orphan_grace_seconds: float = Field(default=3600.0, ge=0)
    media_sweep_interval_seconds: float = Field(default=3600.0, gt=0)

    @model_validator(mode="after")
    def _grace_outlasts_an_upload(self) -> Settings:
        # A temporary file younger than the slowest upload allowed could still be growing.
        slowest = self.media_upload_rate_grace_seconds + (
            (self.media_max_file_bytes + self.media_max_envelope_bytes) / self.media_upload_min_bytes_per_second
        )
        if 0 < self.media_orphan_grace_seconds < slowest:
            raise ValueError(
                f"MEDIA_ORPHAN_GRACE_SECONDS ({self.media_orphan_grace_seconds:g}) must be 0 or outlast the slowest "
                f"upload the rate limit allows ({slowest:.0f} s)"
            )
        return self

    @property
    def media_max_body_bytes(self) -> int:
        return self.media_max_file_bytes + self.media_max_envelope_bytes
