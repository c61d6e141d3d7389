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
    """S6's `POST /notify` and `POST /notify/batch`: stores each (sender, Idempotency-Key) once,
    201 the first time and 200 with the stored notification on a repeat; 400 for a body it
    refuses (a batch with any refused item: 400 as a whole, nothing stored, as S6 does).

    `answer_first` is a list of statuses to answer (without storing) before behaving, one per
    request; `lose_answers` stores the next n requests' notifications but answers 503, as if
    the answer was lost. `received` has one entry per notification answered (in a batch, with
    its item's status); `batches` the status of each batch request."""

    def __init__(self) -> None:
        super().__init__()
        self.answer_first: list[int] = []
        self.lose_answers = 0
        self.stored: dict[str, dict[str, Any]] = {}
        self.received: list[Received] = []
        self.batches: list[int] = []
        self._ids = itertools.count(1)

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/notify", self.notify)
        app.router.add_post("/notify/batch", self.notify_batch)

    def keys(self) -> list[str]:
        return [r.key for r in self.received]

    async def notify(self, request: web.Request) -> web.Response:
        key = request.headers.get("Idempotency-Key", "")
        try:
            body = await request.json()
        except ValueError:
            body = None
        answer = self._refused_now(request)
        if answer is None:
            if not _key_ok(key):
                answer = _error(400, "Idempotency-Key must be 1-200 printable ASCII characters.")
            elif key in self.stored:
                answer = web.json_response(self.stored[key], status=200)
            elif problem := _refusal(body):
                answer = _error(400, problem)
            else:
                answer = self._store({key: body})
                if answer is None:
                    answer = web.json_response(self.stored[key], status=201)
        self.received.append(Received(key=key, status=answer.status, body=body if isinstance(body, dict) else {}))
        return answer

    async def notify_batch(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        items = body.get("notifications") if isinstance(body, dict) else None
        answer = self._refused_now(request)
        if answer is None:
            problems = ["The body must hold 1-100 notifications."] if not isinstance(items, list) or not items else []
            for item in items or []:
                if not isinstance(item, dict) or not _key_ok(item.get("idempotency_key", "")):
                    problems.append("Invalid idempotency_key.")
                elif problem := _refusal(item.get("notification")):
                    problems.append(problem)
            if problems:
                answer = _error(400, " ".join(problems))
        if answer is not None:
            self.batches.append(answer.status)
            if answer.status != 400:  # refused as a whole, its items were never answered
                for item in items or []:
                    self.received.append(
                        Received(key=item["idempotency_key"], status=answer.status, body=item["notification"])
                    )
            return answer
        assert isinstance(items, list)
        new = {
            item["idempotency_key"]: item["notification"]
            for item in items
            if item["idempotency_key"] not in self.stored
        }
        statuses = {key: 201 if key in new else 200 for key in (item["idempotency_key"] for item in items)}
        lost = self._store(new) if new else None
        for item in items:
            key = item["idempotency_key"]
            self.received.append(
                Received(key=key, status=lost.status if lost else statuses[key], body=item["notification"])
            )
        self.batches.append(lost.status if lost else 200)
        if lost is not None:
            return lost
        return web.json_response({"results": [{"status": statuses[k], "id": self.stored[k]["id"]} for k in statuses]})

    def _refused_now(self, request: web.Request) -> web.Response | None:
        if request.headers.get("X-Service-Token") != TEST_SERVICE_TOKEN:
            return _error(401, "A valid service credential is required.")
        if self.answer_first:
            return _error(self.answer_first.pop(0), "Not now.")
        return None

    def _store(self, bodies: dict[str, Any]) -> web.Response | None:
        """Store `bodies` by key; the 503 to answer instead when this answer is to be lost."""
        for key, body in bodies.items():
            self.stored[key] = {"id": next(self._ids), **body, "status": "pending"}
        if self.lose_answers:
            self.lose_answers -= 1
            return _error(503, "Stored, but the answer is lost.")
        return None


def _key_ok(key: Any) -> bool:
    return isinstance(key, str) and 1 <= len(key) <= 200 and key.isascii() and key.isprintable()


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
