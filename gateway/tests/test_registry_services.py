"""GET /registry/services: the registry's list, for admins only."""

from __future__ import annotations

import base64
import json
import time

import httpx
import pytest

from .conftest import ROUTES, SERVICE_AUTH, Gateway, token

PATH = "/registry/services"


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def alg_none_token() -> str:
    now = int(time.time())
    claims = {"sub": "1", "role": "admin", "email": "a@example.com", "iat": now, "exp": now + 3600}
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."


def test_anonymous_is_401(client: httpx.Client) -> None:
    response = client.get(PATH)
    assert response.status_code == 401
    assert "error" in response.json()
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(f"Bearer {token('admin', secret='another-secret-0123456789abcdef')}", id="forged"),
        pytest.param(f"Bearer {token('admin', now=time.time() - 7200)}", id="expired"),
        pytest.param(f"Bearer {alg_none_token()}", id="alg-none"),
        pytest.param("Bearer not.a.token", id="garbage"),
        pytest.param(f"Basic {token('admin')}", id="other-scheme"),
    ],
)
def test_a_bad_token_is_401(client: httpx.Client, authorization: str) -> None:
    response = client.get(PATH, headers={"Authorization": authorization})
    assert response.status_code == 401
    assert "error" in response.json()


def test_a_service_credential_from_a_client_is_no_way_in(client: httpx.Client) -> None:
    response = client.get(PATH, headers=SERVICE_AUTH)
    assert response.status_code == 401


@pytest.mark.parametrize("role", ["user", "staff"])
def test_user_and_staff_are_403(client: httpx.Client, role: str) -> None:
    response = client.get(PATH, headers={"Authorization": f"Bearer {token(role)}"})
    assert response.status_code == 403
    assert "error" in response.json()


def test_admin_gets_the_list_as_the_registry_gives_it(client: httpx.Client, gateway: Gateway) -> None:
    response = client.get(PATH, headers={"Authorization": f"Bearer {token('admin')}"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    direct = httpx.get(f"{gateway.registry.url}/services", headers=SERVICE_AUTH)
    assert response.json() == direct.json()
    assert {s["name"] for s in response.json()["services"]} == set(ROUTES.values())
    assert response.json()["count"] == len(ROUTES)
