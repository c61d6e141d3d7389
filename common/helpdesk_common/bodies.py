"""Request-body rules shared by every JSON endpoint."""

from __future__ import annotations

from fastapi import Request

from helpdesk_common.errors import ApiError


async def require_json_body(request: Request) -> None:
    """415 for a body sent as anything but JSON, or sent without a Content-Type.

    FastAPI would not parse such a body, and "field required" would send the caller looking in
    the wrong place. Use as `dependencies=[Depends(require_json_body)]` on POST/PATCH/PUT routes.
    (`async def`: FastAPI runs a plain `def` dependency in a worker thread, a hop that costs more
    than the check.)
    """
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json")):
        return
    raise ApiError(415, "Send the body as JSON (Content-Type: application/json).")
