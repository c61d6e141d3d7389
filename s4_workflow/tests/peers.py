"""Real HTTP peers for S4's own tests (aiohttp on free ports), implementing the interfaces S4
calls: S1's `GET /users/{id}` and S6's `POST /notify` with its idempotency keys.

The system tests (tests/test_workflow.py) run against the real S1; S6 is being built beside S4,
so the relay is tested here against this implementation of the agreed interface.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from helpdesk_common import vocabulary
from helpdesk_fleet.process import free_port
from helpdesk_fleet.pytest_plugin import TEST_SERVICE_TOKEN

NOTIFICATION_TYPES = set(vocabulary.NOTIFICATION_TYPES)
CHANNELS = {"email", "sms", "in_app"}


class Peer:
    """An aiohttp app on a free port, started and stopped by the tests (stopped = refused)."""

    def __init__(self) -> None:
        self.port = free_port()
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    async def start(self) -> None:
        app = web.Application()
        self.routes(app)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


class AuthPeer(Peer):
    """S1's `GET /users/{id}` for a service caller: `{id, email, role}`, 404 for unknown ids."""

    def __init__(self) -> None:
        super().__init__()
        self.users: dict[int, tuple[str, str]] = {}
        self.answer_503 = False
        self.calls = 0

    def add(self, user_id: int, role: str) -> None:
        self.users[user_id] = (f"u{user_id}@example.com", role)

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/users/{user_id}", self.get_user)

    async def get_user(self, request: web.Request) -> web.Response:
        self.calls += 1
        if request.headers.get("X-Service-Token") != TEST_SERVICE_TOKEN:
            return _error(401, "A valid service credential is required.")
        if self.answer_503:
            return _error(503, "The database is not available.")
        user_id = int(request.match_info["user_id"])
        if user_id not in self.users:
            return _error(404, f"User {user_id} not found.")
        email, role = self.users[user_id]
        return web.json_response({"id": user_id, "email": email, "role": role})


@dataclass
class Received:
    key: str
    status: int
    body: dict[str, Any]


class NotifyPeer(Peer):
    """S6's `POST /notify`: stores each (sender, Idempotency-Key) once, 201 the first time and
    200 with the stored notification on a repeat; 400 for a body it refuses.

    `answer_first` is a list of statuses to answer (without storing) before behaving;
    `lose_answers` stores the next n notifications but answers 503, as if the answer was lost."""

    def __init__(self) -> None:
        super().__init__()
        self.answer_first: list[int] = []
        self.lose_answers = 0
        self.stored: dict[str, dict[str, Any]] = {}
        self.received: list[Received] = []
        self._ids = itertools.count(1)

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/notify", self.notify)

    def keys(self) -> list[str]:
        return [r.key for r in self.received]

    async def notify(self, request: web.Request) -> web.Response:
        key = request.headers.get("Idempotency-Key", "")
        try:
            body = await request.json()
        except ValueError:
            body = None
        answer = self._answer(request, key, body)
        self.received.append(Received(key=key, status=answer.status, body=body if isinstance(body, dict) else {}))
        return answer

    def _answer(self, request: web.Request, key: str, body: Any) -> web.Response:
        if request.headers.get("X-Service-Token") != TEST_SERVICE_TOKEN:
            return _error(401, "A valid service credential is required.")
        if self.answer_first:
            return _error(self.answer_first.pop(0), "Not now.")
        if not (1 <= len(key) <= 200 and key.isascii() and key.isprintable()):
            return _error(400, "Idempotency-Key must be 1-200 printable ASCII characters.")
        if key in self.stored:
            return web.json_response(self.stored[key], status=200)
        problem = _refusal(body)
        if problem:
            return _error(400, problem)
        stored = {"id": next(self._ids), **body, "status": "pending"}
        self.stored[key] = stored
        if self.lose_answers:
            self.lose_answers -= 1
            return _error(503, "Stored, but the answer is lost.")
        return web.json_response(stored, status=201)


def _refusal(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "The body must be a JSON object."
    if not isinstance(body.get("user_id"), int) or body["user_id"] <= 0:
        return "Invalid user_id."
    if "ticket_id" in body and not isinstance(body["ticket_id"], int):
        return "Invalid ticket_id."
    if body.get("type") not in NOTIFICATION_TYPES:
        return "Invalid type."
    if body.get("channel") not in CHANNELS:
        return "Invalid channel."
    message = body.get("message")
    if not isinstance(message, str) or not message.strip() or len(message) > 2000:
        return "Invalid message."
    if "user_email" in body and not isinstance(body["user_email"], str):
        return "Invalid user_email."
    return None
