"""CORS, answered by the gateway for every path (proxied or its own).

Why not Starlette's CORSMiddleware: its refusal of a preflight is a plain-text 400, while the
contract wants every error as `{"error": ...}`; and the proxy already walks the request headers
once, so noticing `Origin` there costs nothing, where the middleware would build a `Headers`
object and wrap `send` for every request. The rules are the same as Starlette's with explicit
origins: the allowed origin is echoed (never `*`), with `Vary: Origin`. Credentials (S1's
HttpOnly refresh cookie) are allowed for the configured origins only, never under `*`.

Exposed to the web client's scripts: the request id (for bug reports), `ETag` (S2's safe
edits), `Retry-After` (saying how long to wait after a 429 or 503) and `Content-Disposition`
(the file name of an S5 download).
"""

from __future__ import annotations

from collections.abc import Sequence

from gateway.settings import Settings

Headers = list[tuple[bytes, bytes]]


class CorsPolicy:
    def __init__(self, settings: Settings) -> None:
        self.allow_any = "*" in settings.cors_origins
        self.origins = frozenset(o.encode("latin-1") for o in settings.cors_origins if o != "*")
        self.preflight_headers: Headers = [
            (b"access-control-allow-methods", _join(settings.cors_allow_methods)),
            (b"access-control-allow-headers", _join(settings.cors_allow_headers)),
            (b"access-control-max-age", str(settings.cors_max_age).encode()),
        ]

    def allows(self, origin: bytes | None) -> bool:
        return origin is not None and (self.allow_any or origin in self.origins)

    def response_headers(self, origin: bytes) -> Headers:
        """Headers for a response to an allowed origin (call `allows` first)."""
        headers = [
            (b"access-control-allow-origin", origin),
            (b"vary", b"Origin"),
            (b"access-control-expose-headers", b"X-Request-ID, ETag, Retry-After, Content-Disposition"),
        ]
        if origin in self.origins:
            headers.append((b"access-control-allow-credentials", b"true"))
        return headers


def _join(values: Sequence[str]) -> bytes:
    return ", ".join(values).encode("latin-1")
