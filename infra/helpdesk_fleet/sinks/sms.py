"""The local SMS sink: an HTTP endpoint in the shape of S6's SMS provider, recording each request.

    python -m helpdesk_fleet.sinks.sms [--port 8026] [--file .data/sms/messages.jsonl] [--token T]

- `POST /messages` (the provider endpoint S6's SMS_PROVIDER_URL points at): a JSON body
  `{to, from, body, reference}` with `Authorization: Bearer <token>` when `--token` is set;
  202 `{"id", "status": "queued"}`, each request kept as one JSON line in `--file`;
- `GET /messages` (`?to=<number>`, `?limit=`, newest first): `{"count", "messages": [...]}`;
- `DELETE /messages`: forget them all;
- `/faults` as in `helpdesk_fleet.sinks`: a refusal answers the rule's `code` as the HTTP status
  (e.g. 503), a hold leaves the request unanswered until the rules are cleared.

Settings also come from the environment: PORT, SMS_SINK_FILE, SMS_SINK_TOKEN.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from helpdesk_fleet.sinks import FaultRules, add_common_routes, bad_request, run_until_stopped, serve_http


class Outbox:
    """The JSON-lines file, and what it holds (oldest first)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.messages: list[dict[str, Any]] = []

    def load(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            for line in self.path.read_text().splitlines():
                if line.strip():
                    self.messages.append(json.loads(line))

    async def record(self, body: dict[str, Any], *, idempotency_key: str | None) -> dict[str, Any]:
        entry = {
            "id": f"sms-{len(self.messages) + 1:06d}",
            "received_at": datetime.now(UTC).isoformat(timespec="microseconds"),
            "to": body.get("to"),
            "from": body.get("from"),
            "body": body.get("body"),
            "reference": body.get("reference"),
            "idempotency_key": idempotency_key,
        }
        self.messages.append(entry)
        await asyncio.to_thread(self._append, json.dumps(entry) + "\n")
        return entry

    def _append(self, line: str) -> None:
        with self.path.open("a") as out:
            out.write(line)

    def clear(self) -> None:
        self.messages.clear()
        self.path.unlink(missing_ok=True)


def http_app(outbox: Outbox, rules: FaultRules, token: str | None) -> web.Application:
    app = web.Application()

    async def receive(request: web.Request) -> web.Response:
        if token and not hmac.compare_digest(request.headers.get("Authorization", ""), f"Bearer {token}"):
            return web.json_response({"error": "missing or wrong bearer token"}, status=401)
        try:
            body = await request.json()
        except ValueError:
            raise bad_request("the body is not JSON") from None
        if not isinstance(body, dict) or not isinstance(body.get("to"), str) or not isinstance(body.get("body"), str):
            raise bad_request("give a JSON object with string fields to and body")
        decision, code = rules.decide(body["to"])
        if decision == "refuse":
            return web.json_response({"error": f"the SMS sink refuses {body['to']} (a fault rule)"}, status=code)
        if decision == "hold":
            await rules.hold(body["to"])
        entry = await outbox.record(body, idempotency_key=request.headers.get("Idempotency-Key"))
        rules.record_accepted(body["to"])
        print(json.dumps({"service": "sms-sink", "message": "sms received", "to": entry["to"]}), flush=True)
        return web.json_response({"id": entry["id"], "status": "queued"}, status=202)

    async def list_messages(request: web.Request) -> web.Response:
        to = request.query.get("to")
        try:
            limit = int(request.query.get("limit", "200"))
        except ValueError:
            raise bad_request("limit must be a number") from None
        found = [m for m in reversed(outbox.messages) if to is None or m["to"] == to]
        return web.json_response({"count": len(found), "messages": found[: max(limit, 0)]})

    async def delete_messages(_request: web.Request) -> web.Response:
        await asyncio.to_thread(outbox.clear)
        return web.json_response({"count": 0, "messages": []})

    app.router.add_post("/messages", receive)
    app.router.add_get("/messages", list_messages)
    app.router.add_delete("/messages", delete_messages)
    add_common_routes(app, rules)
    return app


async def serve(options: argparse.Namespace) -> None:
    outbox = Outbox(Path(options.file))
    await asyncio.to_thread(outbox.load)
    rules = FaultRules()
    runner = await serve_http(http_app(outbox, rules, options.token or None), options.host, options.port)
    url = f"http://{options.host}:{options.port}/messages"
    print(json.dumps({"service": "sms-sink", "message": "listening", "url": url, "file": options.file}), flush=True)
    try:
        await run_until_stopped()
    finally:
        await runner.cleanup()


def parse_options(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m helpdesk_fleet.sinks.sms", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT") or 8026))
    parser.add_argument("--file", default=os.environ.get("SMS_SINK_FILE", ".data/sms/messages.jsonl"))
    parser.add_argument("--token", default=os.environ.get("SMS_SINK_TOKEN", ""), help="the bearer token to require")
    return parser.parse_args(argv)


def main() -> None:
    asyncio.run(serve(parse_options(sys.argv[1:])))


if __name__ == "__main__":
    main()
