"""Schemathesis against every service's OpenAPI document, through the gateway, as an anonymous
caller, a plain user and staff: data generated from each operation's schema (valid and not),
with a fixed seed and a budget that fits CI.

Checked for every answer: no 5xx; every 4xx/5xx an `{"error": "..."}` body; no internal
detail (the injection tests' pattern); the body of a documented answer matches its schema and
its content type (`response_schema_conformance`, `content_type_conformance`).

Turned off, and why:
- `status_code_conformance`: the documents list the success status and FastAPI's 422, not yet
  every refusal a route gives (400 validation, 401, 403, 404, 409, 412, 413, 415, 429, 503);
  the authorization matrix (test_authz_matrix.py) checks those statuses route by route.
- admin is not among the callers: generated ids would reach the shared fleet's accounts
  (`PATCH /auth/users/{id}/role`), which the other tests of the session rely on.
- `GET /notifications/stream` (an answer that never ends) and the service-only routes (the
  gateway drops the service credential, so they only ever answer 401) are not fuzzed, nor
  S1's login, registration, refresh, logout and password reset: S1 throttles them per client,
  and generated attempts would lock the shared fleet's one client out.

`FUZZ_EXAMPLES` (default 6 per operation and caller) and `FUZZ_SEED` set the budget and seed.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, seed, settings
from schemathesis.checks import content_type_conformance, response_schema_conformance

from gateway.proxy import ROUTES
from helpdesk_fleet.fleet import Account, Fleet

from .test_injection import LEAKS

pytestmark = pytest.mark.xdist_group("fleet")

SEED = int(os.environ.get("FUZZ_SEED", "20261204"))
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "6"))
CALLERS = ("anonymous", "user", "staff")
SKIPPED = {("GET", "/stream"), ("GET", "/token-state"), ("POST", "/notify/batch")}
# S1 throttles these per client address, and every test of the shared fleet is one client:
# generated attempts would lock the session's logins and registrations out. S1's own suite
# (s1_auth/tests) tries their bad bodies in-process, where the throttles are its own.
THROTTLED = {("POST", "/register"), ("POST", "/login"), ("POST", "/refresh"), ("POST", "/logout"),
             ("POST", "/password-reset"), ("POST", "/password-reset/confirm")}  # fmt: skip


@pytest.fixture(scope="module")
def callers(fleet: Fleet) -> dict[str, dict[str, str]]:
    # Accounts of the fuzz's own: whatever generated requests do to themselves stays here.
    user, staff = fleet.new_account("user"), fleet.new_account("staff")

    def bearer(account: Account) -> dict[str, str]:
        return {"Authorization": f"Bearer {account.token}"}

    return {"anonymous": {}, "user": bearer(user), "staff": bearer(staff)}


def _problems(response: Any) -> list[str]:
    found = []
    if response.status_code >= 500:
        found.append(f"{response.status_code}")
    if response.status_code >= 400:
        try:
            error = response.json().get("error")
        except (ValueError, AttributeError):
            error = None
        if not isinstance(error, str) or not error:
            found.append(f"{response.status_code} without an {{error}} body: {response.content[:100]!r}")
    # Errors only: a 2xx may echo what it was sent (a name such as "*/*/__init__.py").
    text = response.content[:20_000].decode("utf-8", "replace")  # downloads are bytes
    if response.status_code >= 400 and LEAKS.search(text):
        found.append(f"internal detail in the answer: {text[:160]!r}")
    return found


def fuzz(operation: Any, *, base_url: str, label: str, headers: dict[str, str]) -> tuple[int, list[str]]:
    """Run the operation's generated cases; (requests sent, what was wrong)."""
    failures: list[str] = []
    sent = 0

    @seed(SEED)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(case=operation.as_strategy())
    def run(case: Any) -> None:
        nonlocal sent
        response = case.call(base_url=base_url, headers=headers, timeout=10)
        sent += 1
        where = f"{case.method} {label}{case.formatted_path}"
        failures.extend(f"{where}: {problem}" for problem in _problems(response))
        if response.status_code < 400:
            try:
                case.validate_response(response, checks=[response_schema_conformance, content_type_conformance])
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - report each, not only the first
                failures.append(f"{where}: {type(exc).__name__}: {str(exc)[:300]}")

    run()
    return sent, failures


@pytest.mark.parametrize("prefix", [p.decode() for p in ROUTES])
def test_generated_requests_never_break_a_service(
    fleet: Fleet, callers: dict[str, dict[str, str]], prefix: str
) -> None:
    service = ROUTES[prefix.encode()]
    schema = schemathesis.openapi.from_url(f"{fleet.processes[service].url}/openapi.json")
    failures: list[str] = []
    sent = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in SKIPPED | (THROTTLED if prefix == "auth" else set()):
            continue
        for caller, headers in callers.items():
            count, found = fuzz(
                operation, base_url=f"{fleet.gateway_url}/{prefix}", label=f"/{prefix}", headers=headers
            )
            sent += count
            failures += [f"{line} as {caller}" for line in found]
    print(f"\nfuzz /{prefix}: {sent} generated requests, {len(failures)} failures (seed {SEED})")
    assert not failures, "\n".join(dict.fromkeys(failures))
