"""Start a service under granian (`python -m <service>` calls `serve`).

granian serves the same ASGI apps as uvicorn but measured faster on this machine kind
(docs/performance.md); one worker per service, uvloop, HTTP/1.1, no websockets.
"""

from __future__ import annotations

from granian import Granian
from granian.constants import HTTPModes, Interfaces, Loops

from helpdesk_common.settings import ServiceSettings


def serve(factory: str, settings: ServiceSettings, *, websockets: bool = False) -> None:
    Granian(
        factory,
        factory=True,
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,
        loop=Loops.uvloop,
        http=HTTPModes.http1,
        websockets=websockets,
        log_level=settings.log_level.lower(),  # type: ignore[arg-type]
        log_access=False,  # our middleware writes one JSON access line with the request id
    ).serve()
