"""The local mail sink: a real SMTP server (aiosmtpd) that keeps every message it receives.

    python -m helpdesk_fleet.sinks.mail [--smtp-port 1025] [--http-port 8025] [--dir .data/mail]

Each message is saved as an `.eml` file (the message as received, with `X-MailFrom` and
`X-RcptTo` lines on top for the envelope) in `--dir`, and listed over HTTP:

- `GET /messages` (`?to=<address>`, `?limit=`, newest first): `{"count", "messages": [{id, from,
  to, subject, date, message_id, received_at, file}]}`;
- `GET /messages/<id>`: the raw message as text;
- `DELETE /messages`: remove them all;
- `/faults`: refuse or hold deliveries, for tests (see `helpdesk_fleet.sinks`).

A refusal is given at RCPT TO with the rule's code (e.g. `451 4.3.0`, `550 5.1.1`); a held
delivery gets no answer to its DATA until the rules are cleared, and is discarded if its sender
goes away first. Every setting also comes from the environment (PORT, MAIL_SINK_SMTP_PORT,
MAIL_SINK_DIR, MAIL_SINK_REFUSE_FIRST, MAIL_SINK_REFUSE_ALWAYS, MAIL_SINK_REFUSE_CODE), which is
how `make up` and the test fleet configure it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

from aiohttp import web
from aiosmtpd.smtp import SMTP, Envelope, Session

from helpdesk_fleet.sinks import (
    FaultRules,
    add_common_routes,
    bad_request,
    default_fault,
    env_flag,
    env_int,
    run_until_stopped,
    serve_http,
)

_MESSAGE_ID = re.compile(r"^[0-9A-Za-z._-]{1,80}$")
# compat32 (the default) and decoding only what is shown: the modern policy parses every header
# and cost the sink more CPU per message than the SMTP conversation itself.
_HEADERS = BytesHeaderParser()


def _text(value: object) -> str:
    if value is None:
        return ""
    try:
        return str(make_header(decode_header(str(value))))
    except (ValueError, LookupError):
        return str(value)


def _summary(message_id: str, path: Path, raw: bytes) -> dict[str, Any]:
    headers = _HEADERS.parsebytes(raw)
    return {
        "id": message_id,
        "from": _text(headers.get("From")),
        "to": [a.strip() for a in str(headers.get("X-RcptTo", "")).split(",") if a.strip()],
        "subject": _text(headers.get("Subject")),
        "date": str(headers.get("Date", "")),
        "message_id": str(headers.get("Message-ID", "")),
        "received_at": str(headers.get("X-Received-At", "")),
        "file": str(path),
    }


class Mailbox:
    """The folder of `.eml` files and an index of their headers (oldest first)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.index: list[dict[str, Any]] = []
        self._count = 0

    def load(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        for path in sorted(self.folder.glob("*.eml")):
            self.index.append(_summary(path.stem, path, path.read_bytes()))
        self._count = len(self.index)

    async def store(self, envelope: Envelope) -> dict[str, Any]:
        received = datetime.now(UTC)
        self._count += 1
        message_id = f"{received:%Y%m%dT%H%M%S.%f}Z-{self._count:06d}"
        content = envelope.original_content or b""
        header = (
            f"X-MailFrom: {envelope.mail_from}\r\nX-RcptTo: {', '.join(envelope.rcpt_tos)}\r\n"
            f"X-Received-At: {received.isoformat(timespec='microseconds')}\r\n"
        ).encode()
        raw = header + content
        path = self.folder / f"{message_id}.eml"
        await asyncio.to_thread(_write_atomically, path, raw)
        entry = _summary(message_id, path, raw)
        self.index.append(entry)
        return entry

    def listing(self, *, to: str | None, limit: int) -> dict[str, Any]:
        found = [m for m in reversed(self.index) if to is None or to.lower() in (a.lower() for a in m["to"])]
        return {"count": len(found), "messages": found[:limit]}

    def path_of(self, message_id: str) -> Path | None:
        if not _MESSAGE_ID.match(message_id):
            return None
        path = self.folder / f"{message_id}.eml"
        return path if path.is_file() else None

    def clear(self) -> None:
        for entry in self.index:
            Path(entry["file"]).unlink(missing_ok=True)
        self.index.clear()


def _write_atomically(path: Path, data: bytes) -> None:
    # Written aside and renamed, so a listing never shows half a message.
    partial = path.with_suffix(".part")
    partial.write_bytes(data)
    partial.replace(path)


def _log(message: str, **fields: Any) -> None:
    line = {"ts": datetime.now(UTC).isoformat(), "service": "mail-sink", "message": message, **fields}
    print(json.dumps(line), flush=True)


class SinkHandler:
    """aiosmtpd handler: RCPT TO is where refusals happen; DATA is kept (or held)."""

    def __init__(self, mailbox: Mailbox, rules: FaultRules) -> None:
        self.mailbox = mailbox
        self.rules = rules

    async def handle_RCPT(
        self, _server: SMTP, _session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        decision, code = self.rules.decide(address)
        if decision == "refuse":
            status = "4.3.0" if code < 500 else "5.1.1"
            return f"{code} {status} The mail sink refuses {address} (a fault rule)"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        if decision == "hold":
            envelope.__dict__.setdefault("held", []).append(address)
        return "250 OK"

    async def handle_DATA(self, _server: SMTP, _session: Session, envelope: Envelope) -> str:
        for address in envelope.__dict__.get("held", []):
            await self.rules.hold(address)
        entry = await self.mailbox.store(envelope)
        for address in envelope.rcpt_tos:
            self.rules.record_accepted(address)
        _log("message received", to=entry["to"], subject=entry["subject"], file=entry["file"])
        return f"250 OK: kept as {entry['id']}"


def http_app(mailbox: Mailbox, rules: FaultRules) -> web.Application:
    app = web.Application()

    async def list_messages(request: web.Request) -> web.Response:
        try:
            limit = int(request.query.get("limit", "200"))
        except ValueError:
            raise bad_request("limit must be a number") from None
        return web.json_response(mailbox.listing(to=request.query.get("to"), limit=max(limit, 0)))

    async def get_message(request: web.Request) -> web.Response:
        path = mailbox.path_of(request.match_info["message_id"])
        if path is None:
            raise web.HTTPNotFound(text='{"error": "no such message"}', content_type="application/json")
        return web.Response(body=await asyncio.to_thread(path.read_bytes), content_type="text/plain", charset="utf-8")

    async def delete_messages(_request: web.Request) -> web.Response:
        await asyncio.to_thread(mailbox.clear)
        return web.json_response({"count": 0, "messages": []})

    app.router.add_get("/messages", list_messages)
    app.router.add_get("/messages/{message_id}", get_message)
    app.router.add_delete("/messages", delete_messages)
    add_common_routes(app, rules)
    return app


async def serve(options: argparse.Namespace) -> None:
    mailbox = Mailbox(Path(options.dir))
    await asyncio.to_thread(mailbox.load)
    rules = FaultRules(default_fault(options.refuse_first, options.refuse_always, options.refuse_code))
    handler = SinkHandler(mailbox, rules)
    loop = asyncio.get_running_loop()
    smtp_server = await loop.create_server(
        lambda: SMTP(handler, hostname="mail-sink.localhost", ident="helpdesk mail sink", enable_SMTPUTF8=True),
        options.host,
        options.smtp_port,
    )
    runner = await serve_http(http_app(mailbox, rules), options.host, options.http_port)
    _log(
        "listening",
        smtp=f"{options.host}:{options.smtp_port}",
        http=f"http://{options.host}:{options.http_port}/messages",
        folder=str(mailbox.folder),
        messages=len(mailbox.index),
    )
    try:
        await run_until_stopped()
    finally:
        smtp_server.close()
        await runner.cleanup()


def parse_options(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m helpdesk_fleet.sinks.mail", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--smtp-port", type=int, default=env_int("MAIL_SINK_SMTP_PORT", 1025))
    parser.add_argument("--http-port", type=int, default=env_int("PORT", 8025))
    parser.add_argument("--dir", default=os.environ.get("MAIL_SINK_DIR", ".data/mail"))
    parser.add_argument("--refuse-first", type=int, default=env_int("MAIL_SINK_REFUSE_FIRST", 0),
                        help="refuse the first N deliveries (to any recipient), then accept")  # fmt: skip
    parser.add_argument("--refuse-always", action="store_true", default=env_flag("MAIL_SINK_REFUSE_ALWAYS"),
                        help="refuse every delivery")  # fmt: skip
    parser.add_argument("--refuse-code", type=int, default=env_int("MAIL_SINK_REFUSE_CODE", 451),
                        help="the SMTP code of a refusal (4xx: try again later; 5xx: permanent)")  # fmt: skip
    return parser.parse_args(argv)


def main() -> None:
    asyncio.run(serve(parse_options(sys.argv[1:])))


if __name__ == "__main__":
    main()
