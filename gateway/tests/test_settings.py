"""Limits and CORS origins come from the environment (the forgetful gateway is configured)."""

from __future__ import annotations

import pytest

from .conftest import (
    FORGETFUL_MAX_BODY,
    FORGETFUL_ORIGINS,
    FORGETFUL_UPLOAD_MAX_BODY,
    Fleet,
    parse_raw_response,
    raw_request,
)


@pytest.mark.parametrize(
    ("path", "limit"),
    [("/analytics/refresh", FORGETFUL_MAX_BODY), ("/media/upload", FORGETFUL_UPLOAD_MAX_BODY)],
)
def test_configured_body_limits(fleet: Fleet, path: str, limit: int) -> None:
    def status_for(length: int) -> int:
        head = f"POST {path} HTTP/1.1\nHost: test\nContent-Length: {length}"
        status, _, _ = parse_raw_response(raw_request(fleet.forgetful.port, head, iter([b"x" * length])))
        return status

    assert status_for(limit + 1) == 413
    # At the limit the request passes the size check (and then finds no instance: 503).
    assert status_for(limit) == 503


@pytest.mark.parametrize("origin", FORGETFUL_ORIGINS)
def test_configured_cors_origins(fleet: Fleet, origin: str) -> None:
    with fleet.forgetful.client() as client:
        allowed = client.options("/tickets", headers={"Origin": origin, "Access-Control-Request-Method": "POST"})
        default = client.options(
            "/tickets", headers={"Origin": "http://localhost:5173", "Access-Control-Request-Method": "POST"}
        )
    assert allowed.status_code == 204
    assert allowed.headers["access-control-allow-origin"] == origin
    assert default.status_code == 403
    assert "access-control-allow-origin" not in default.headers
