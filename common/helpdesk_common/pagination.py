"""Keyset pagination: `?limit=` (default 50, max 200) and an opaque `?cursor=`.

A cursor is the sort key of the last row of the previous page, packed as URL-safe base64
JSON; a cursor that does not decode is a 400, never a 500.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import Query

from helpdesk_common.errors import ApiError

DEFAULT_LIMIT = 50
MAX_LIMIT = 200

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size (1-200)")]
Cursor = Annotated[str | None, Query(max_length=512, description="Opaque cursor from next_cursor")]


def encode_cursor(*values: Any) -> str:
    packed = [v.isoformat() if isinstance(v, datetime) else v for v in values]
    raw = json.dumps(packed, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, *, kinds: tuple[type, ...]) -> tuple[Any, ...]:
    """Unpack a cursor whose values have the given types (datetime, int or str)."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
        if not isinstance(values, list) or len(values) != len(kinds):
            raise ValueError("wrong arity")
        out: list[Any] = []
        for value, kind in zip(values, kinds, strict=True):
            if kind is datetime:
                parsed = datetime.fromisoformat(value)
                if parsed.tzinfo is None:
                    raise ValueError("naive timestamp")
                out.append(parsed)
            elif kind is int:
                if not isinstance(value, int) or isinstance(value, bool):
                    raise ValueError("not an int")
                out.append(value)
            else:
                out.append(kind(value))
        return tuple(out)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise ApiError(400, "Invalid cursor.", details=[{"field": "cursor", "message": "not a valid cursor"}]) from exc
