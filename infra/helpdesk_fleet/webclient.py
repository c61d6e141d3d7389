"""Serve the built web client (`webclient/dist`) for `make up` and the end-to-end tests.

A small Starlette app under granian, run like the services (`python -m helpdesk_fleet.webclient`,
`HOST`/`PORT` from the environment) so `process.ServiceProcess` starts, waits for and stops it
the same way. It serves what the Docker image's nginx serves (webclient/nginx/): the files,
`index.html` for every other path (the client routes in the browser), `/config.js` written
from `API_BASE_URL`, long caching for the content-hashed assets only, and the same security
headers.

Environment: `WEBCLIENT_DIST` (default: the repository's webclient/dist), `API_BASE_URL`
(default http://localhost:8080), `HOST` (127.0.0.1), `PORT` (5173).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import urlsplit

from granian import Granian
from granian.constants import HTTPModes, Interfaces, Loops
from granian.log import LogLevels
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from helpdesk_fleet.process import ServiceSpec

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DIST = REPO_ROOT / "webclient" / "dist"
DEFAULT_API_BASE_URL = "http://localhost:8080"

# Not a service of the fleet (it registers nowhere, owns no data); started after the gateway.
WEBCLIENT = ServiceSpec("webclient", "helpdesk_fleet.webclient", 5173, "WEBCLIENT_PORT", uses_database=False)

# Vite names every built asset by its content's hash: a changed file is a new name.
IMMUTABLE = "public, max-age=31536000, immutable"
# index.html and config.js name the current assets: always asked again.
REVALIDATE = "no-cache"


def config_script(api_base_url: str) -> str:
    """The `/config.js` the client reads at start (see webclient/src/lib/config.ts)."""
    return f"window.__HELPDESK_CONFIG__ = {json.dumps({'apiBaseUrl': api_base_url})};\n"


def security_headers(api_base_url: str) -> dict[str, str]:
    """Scripts from this origin only; API calls to this origin and the gateway's."""
    api = urlsplit(api_base_url)
    api_origin = f"{api.scheme}://{api.netloc}" if api.scheme and api.netloc else ""
    policy = "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            # Svelte sets style attributes (transitions, custom properties) from script.
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data: blob:",
            f"connect-src 'self' {api_origin}".rstrip(),
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
    }


class ClientFiles(StaticFiles):
    """The built files; any path that is not one of them gets index.html (history routing).

    A missing file under /assets/ stays a 404: a browser asking for an old chunk must fail
    visibly rather than receive HTML as JavaScript.
    """

    def __init__(self, directory: Path, headers: dict[str, str]) -> None:
        super().__init__(directory=directory, html=True, check_dir=False)
        self.index = directory / "index.html"
        self.headers = headers

    async def get_response(self, path: str, scope: Scope) -> Response:
        try:
            response = await super().get_response(path, scope)
        except HTTPException as exc:
            if exc.status_code != 404 or path.startswith("assets/"):
                raise
            response = FileResponse(self.index)
        if response.status_code == 404 and not path.startswith("assets/"):
            response = FileResponse(self.index)
        cache = IMMUTABLE if path.startswith("assets/") and response.status_code == 200 else REVALIDATE
        response.headers["Cache-Control"] = cache
        response.headers.update(self.headers)
        return response


def build_app(dist: Path = DEFAULT_DIST, api_base_url: str = DEFAULT_API_BASE_URL) -> Starlette:
    headers = security_headers(api_base_url)
    script = config_script(api_base_url)

    async def config(_: Request) -> Response:
        return Response(
            script,
            media_type="text/javascript",
            headers={"Cache-Control": REVALIDATE, **headers},
        )

    async def health(_: Request) -> Response:
        return JSONResponse({"status": "ok", "service": WEBCLIENT.name})

    async def ready(_: Request) -> Response:
        if not (dist / "index.html").is_file():
            return JSONResponse({"error": f"{dist} holds no built client: run `make webclient`."}, status_code=503)
        return JSONResponse({"status": "ready", "service": WEBCLIENT.name})

    return Starlette(
        routes=[
            Route("/config.js", config),
            Route("/health", health),
            Route("/ready", ready),
            Mount("/", app=ClientFiles(dist, headers)),
        ]
    )


def app_from_environment() -> Starlette:
    dist = Path(os.environ.get("WEBCLIENT_DIST", DEFAULT_DIST))
    return build_app(dist, os.environ.get("API_BASE_URL", DEFAULT_API_BASE_URL).rstrip("/"))


def serve() -> None:
    Granian(
        "helpdesk_fleet.webclient:app_from_environment",
        factory=True,
        address=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", WEBCLIENT.port)),
        interface=Interfaces.ASGI,
        loop=Loops.uvloop,
        http=HTTPModes.http1,
        log_level=LogLevels.warning,
        log_access=False,
    ).serve()


if __name__ == "__main__":
    serve()
