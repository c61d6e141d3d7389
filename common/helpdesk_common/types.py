"""Constrained types shared by every service's schemas and routes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Path
from pydantic import BeforeValidator, Field, PlainSerializer

# Ids are PostgreSQL `integer` identity columns; anything outside that range cannot exist,
# and letting it reach asyncpg would be a 500 instead of a 400.
MAX_ID = 2_147_483_647

Id = Annotated[int, Field(gt=0, le=MAX_ID, strict=True)]


def _digits_only(value: object) -> object:
    # Path parameters arrive as strings; pydantic's lax int parsing would accept "1.0", " 1"
    # or "+1". An id in a path is written with digits only.
    if isinstance(value, str) and not (value.isascii() and value.isdigit()):
        raise ValueError("must be a positive integer id")
    return value


PathId = Annotated[int, BeforeValidator(_digits_only), Path(gt=0, le=MAX_ID, description="A positive integer id")]


def _iso_timestamp(value: datetime) -> str:
    # The contract's form: 2026-11-24T10:30:00.000000+00:00 (always UTC, always microseconds).
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="microseconds")


Timestamp = Annotated[datetime, PlainSerializer(_iso_timestamp, return_type=str, when_used="json")]
