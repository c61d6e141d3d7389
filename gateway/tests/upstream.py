"""A small real HTTP upstream for the gateway's tests (aiohttp.web, one process, many ports).

Run as `python upstream.py PORT [PORT ...]`; it prints `listening` once every port is bound.
Each port stands for one service, so a test can tell which service a request reached.

- any other path: echoes what arrived as JSON: `{port, method, path, query, headers, body_size,
  sha256}` (the path and query exactly as received, headers as a list of pairs).
- `/__download?size=N`: N bytes of a known pattern, in 64 KiB chunks, with or without
  Content-Length (`&chunked=1`).
- `/__slow?seconds=S`: answers after S seconds.
- `/__hop`: answers with hop-by-hop headers that a proxy must drop.
- `/__drip?key=K`: sends a first chunk, then waits until `/__release?key=K` is called, then
  ends (proves the proxy does not buffer the response).
- `/upload?key=K`: reads the body; `/__seen?key=K` tells how many bytes of it have arrived
  so far and whether it completed (proves the proxy does not buffer the request).
- `/__early?status=N`: reads the first 64 KiB of the body, then answers N at once without
  reading the rest (as S5 refuses an upload too large or for a ticket the caller cannot see).
- `/__requests?rid=R`: what happened to the requests that carried X-Request-ID R.
- `/__trickle?count=N&every=S`: N bytes with Content-Length N, one every S seconds (an
  upstream that keeps a request alive without ever tripping the read timeout).
- `/__sse?events=N&every=S`: a Server-Sent Events stream: a keep-alive comment every S
  seconds, an event after each of the first N pings, then it ends.
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
from collections import defaultdict
from typing import Any

from aiohttp import web

CHUNK = 64 * 1024
PATTERN = bytes(range(256)) * (CHUNK // 256)


def pattern_bytes(size: int) -> bytes:
    """The bytes `/__download?size=N` sends (the tests compare against them)."""
    return (PATTERN * (size // CHUNK + 1))[:size]


releases: dict[str, asyncio.Event] = defaultdict(asyncio.Event)
uploads: dict[str, dict[str, Any]] = {}
by_request_id: dict[str, list[dict[str, Any]]] = defaultdict(list)


def port_of(request: web.Request) -> int:
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    return int(sockname[1]) if sockname else 0


async def read_body(request: web.Request, progress: dict[str, Any]) -> hashlib._Hash:
    digest = hashlib.sha256()
    async for chunk in request.content.iter_any():
        digest.update(chunk)
        progress["bytes"] += len(chunk)
    return digest


async def handle(request: web.Request) -> web.StreamResponse:
    path = request.path
    record: dict[str, Any] = {"path": request.raw_path, "bytes": 0, "completed": False}
    rid = request.headers.get("x-request-id")
    if rid:
        by_request_id[rid].append(record)

    if path == "/__download":
        size = int(request.query["size"])
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        if request.query.get("chunked"):
            response.enable_chunked_encoding()
        else:
            response.content_length = size
        await response.prepare(request)
        data = pattern_bytes(size) if request.method != "HEAD" else b""
        for start in range(0, len(data), CHUNK):
            await response.write(data[start : start + CHUNK])
        await response.write_eof()
        return response
    if path == "/__slow":
        await asyncio.sleep(float(request.query["seconds"]))
        return web.json_response({"slow": True})
    if path == "/__hop":
        response = web.Response(
            text="hop",
            headers={
                "Connection": "X-Hop-Named",
                "X-Hop-Named": "must go",
                "Keep-Alive": "timeout=99",
                "Proxy-Authenticate": "Basic realm=x",
                "Trailer": "X-Checksum",
                "X-End-To-End": "kept",
            },
        )
        return response
    if path == "/__drip":
        key = request.query["key"]
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(b"first;")
        await releases[key].wait()
        await response.write(b"last")
        await response.write_eof()
        return response
    if path == "/__trickle":
        count, every = int(request.query["count"]), float(request.query["every"])
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        response.content_length = count
        await response.prepare(request)
        for _ in range(count):
            await asyncio.sleep(every)
            await response.write(b".")
        await response.write_eof()
        return response
    if path == "/__sse":
        events, every = int(request.query["events"]), float(request.query["every"])
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for n in range(events):
            await asyncio.sleep(every)
            await response.write(b": ping\n\n")
            await response.write(f"id: {n}\ndata: event {n}\n\n".encode())
        await response.write_eof()
        return response
    if path == "/__release":
        releases[request.query["key"]].set()
        return web.json_response({"released": True})
    if path == "/upload":
        progress = uploads.setdefault(request.query["key"], {"bytes": 0, "completed": False})
        digest = await read_body(request, progress)
        progress["completed"] = True
        return web.json_response({"body_size": progress["bytes"], "sha256": digest.hexdigest()})
    if path == "/__seen":
        return web.json_response(uploads.get(request.query["key"], {"bytes": 0, "completed": False}))
    if path == "/__early":
        await request.content.readexactly(CHUNK)
        return web.json_response({"error": "refused early"}, status=int(request.query["status"]))
    if path == "/__requests":
        return web.json_response({"requests": by_request_id.get(request.query["rid"], [])})

    digest = await read_body(request, record)
    record["completed"] = True
    return web.json_response(
        {
            "port": port_of(request),
            "method": request.method,
            "path": request.raw_path.split("?", 1)[0],
            "query": request.raw_path.partition("?")[2],
            "headers": [[k.decode("latin-1").lower(), v.decode("latin-1")] for k, v in request.raw_headers],
            "body_size": record["bytes"],
            "sha256": digest.hexdigest(),
        }
    )


async def main(ports: list[int]) -> None:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    for port in ports:
        await web.TCPSite(runner, "127.0.0.1", port).start()
    print("listening", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main([int(p) for p in sys.argv[1:]]))
