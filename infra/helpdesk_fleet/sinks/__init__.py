"""Local stand-ins for the outside world S6 delivers to: a real SMTP server that keeps every
message (`mail.py`) and an SMS provider endpoint that records every request (`sms.py`).

Dev tooling only: `make up` starts them (`helpdesk_fleet.process.SINKS`) so that a new user sees
real mail arrive with no setup, and the system tests start them on free ports. Production has
no sink: S6's SMTP_* and SMS_PROVIDER_* settings point at real servers.

Both take fault rules, so tests exercise S6's retries against the real thing:
`POST /faults {"recipient": "a@b.example" | "*", "refuse_first": 2, "code": 451}` refuses the
first two deliveries to that recipient (then accepts), `"refuse_always": true` every one, and
`"hold_after": 5` accepts five and then holds every later delivery unanswered until
`DELETE /faults` (a sender killed meanwhile never had those accepted). `GET /faults` shows the
rules with their counters. The same rules can be set for every recipient at start
(`--refuse-first`, `--refuse-always`, `--refuse-code`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from dataclasses import asdict, dataclass
from typing import Any, Literal

from aiohttp import web

ANY_RECIPIENT = "*"


@dataclass
class Fault:
    refuse_first: int = 0
    refuse_always: bool = False
    code: int = 451
    hold_after: int | None = None
    # Counters: deliveries tried, accepted and held right now.
    seen: int = 0
    accepted: int = 0
    holding: int = 0


Decision = Literal["accept", "refuse", "hold"]


class FaultRules:
    def __init__(self, default: Fault | None = None) -> None:
        self.rules: dict[str, Fault] = {}
        if default is not None:
            self.rules[ANY_RECIPIENT] = default
        self._released = asyncio.Event()

    def rule_for(self, recipient: str) -> Fault | None:
        return self.rules.get(recipient.lower()) or self.rules.get(ANY_RECIPIENT)

    def decide(self, recipient: str) -> tuple[Decision, int]:
        """What to do with one delivery to `recipient`, and the code to refuse it with."""
        rule = self.rule_for(recipient)
        if rule is None:
            return "accept", 0
        rule.seen += 1
        if rule.refuse_always or rule.seen <= rule.refuse_first:
            return "refuse", rule.code
        if rule.hold_after is not None and rule.accepted >= rule.hold_after:
            return "hold", 0
        return "accept", 0

    def record_accepted(self, recipient: str) -> None:
        rule = self.rule_for(recipient)
        if rule is not None:
            rule.accepted += 1

    async def hold(self, recipient: str) -> None:
        """Wait, unanswered, until the rules are cleared (or the sender goes away: cancelled)."""
        rule = self.rule_for(recipient)
        released = self._released
        if rule is not None:
            rule.holding += 1
        try:
            await released.wait()
        finally:
            if rule is not None:
                rule.holding -= 1

    def clear(self) -> None:
        self.rules.clear()
        self._released.set()
        self._released = asyncio.Event()

    def describe(self) -> dict[str, Any]:
        return {"rules": {recipient: asdict(rule) for recipient, rule in self.rules.items()}}


def bad_request(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": message}), content_type="application/json")


def _fault_from(body: Any) -> tuple[str, Fault]:
    if not isinstance(body, dict) or not isinstance(body.get("recipient", ANY_RECIPIENT), str):
        raise bad_request("give a JSON object with a recipient")
    try:
        fault = Fault(
            refuse_first=int(body.get("refuse_first", 0)),
            refuse_always=bool(body.get("refuse_always", False)),
            code=int(body.get("code", 451)),
            hold_after=None if body.get("hold_after") is None else int(body["hold_after"]),
        )
    except (TypeError, ValueError) as exc:
        raise bad_request(str(exc)) from exc
    return str(body.get("recipient", ANY_RECIPIENT)).lower(), fault


def add_common_routes(app: web.Application, rules: FaultRules) -> None:
    """/health and /ready (for the supervisor), and the fault rules."""

    async def ok(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def get_faults(_request: web.Request) -> web.Response:
        return web.json_response(rules.describe())

    async def set_fault(request: web.Request) -> web.Response:
        recipient, fault = _fault_from(await request.json())
        rules.rules[recipient] = fault
        return web.json_response(rules.describe(), status=201)

    async def clear_faults(_request: web.Request) -> web.Response:
        rules.clear()
        return web.json_response(rules.describe())

    app.router.add_get("/health", ok)
    app.router.add_get("/ready", ok)
    app.router.add_get("/faults", get_faults)
    app.router.add_post("/faults", set_fault)
    app.router.add_delete("/faults", clear_faults)


def default_fault(refuse_first: int, refuse_always: bool, code: int) -> Fault | None:
    if refuse_first <= 0 and not refuse_always:
        return None
    return Fault(refuse_first=refuse_first, refuse_always=refuse_always, code=code)


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


async def serve_http(app: web.Application, host: str, port: int) -> web.AppRunner:
    # handler_cancellation: a held request whose client went away is cancelled, never recorded.
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


async def run_until_stopped() -> None:
    """Until SIGTERM or SIGINT (the supervisor's stop, Ctrl-C)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
