"""S3 registry against a real registry process over HTTP."""

from __future__ import annotations

import uuid

import httpx
import pytest

from helpdesk_fleet.fleet import poll_until
from helpdesk_fleet.process import ServiceProcess, free_port

from .conftest import AUTH


def unique_name() -> str:
    return f"svc-{uuid.uuid4().hex[:10]}"


def registration(name: str, port: int, host: str = "127.0.0.1", health: str = "/health") -> dict[str, object]:
    return {"name": name, "host": host, "port": port, "healthEndpoint": health}


def test_health_reports_count_and_uptime(registry: httpx.Client) -> None:
    body = httpx.get(f"{registry.base_url}/health").json()
    assert body["status"] == "ok"
    assert isinstance(body["registeredServices"], int)
    assert isinstance(body["uptime"], float | int) and body["uptime"] >= 0


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/register"),
        ("DELETE", "/deregister/s2-tickets"),
        ("GET", "/services"),
        ("GET", "/services/s2-tickets"),
        ("GET", "/discover/s2-tickets"),
        ("GET", "/health/s2-tickets"),
    ],
)
@pytest.mark.parametrize("headers", [{}, {"X-Service-Token": "wrong"}, {"Authorization": "Bearer x"}])
def test_every_route_needs_the_service_credential(
    quiet_registry: ServiceProcess, method: str, path: str, headers: dict[str, str]
) -> None:
    body = registration("hijack", 9) if method == "POST" else None
    response = httpx.request(method, f"{quiet_registry.url}{path}", json=body, headers=headers)
    assert response.status_code == 401
    assert "error" in response.json()


def test_refused_registration_is_not_stored(registry: httpx.Client, quiet_registry: ServiceProcess) -> None:
    name = unique_name()
    httpx.post(f"{quiet_registry.url}/register", json=registration(name, 9))
    assert registry.get(f"/services/{name}").status_code == 404


def test_register_answers_201_with_the_instance(registry: httpx.Client, quiet_registry: ServiceProcess) -> None:
    name = unique_name()
    response = registry.post("/register", json=registration(name, quiet_registry.port))
    assert response.status_code == 201
    body = response.json()
    assert name in body["message"]
    service = body["service"]
    assert service["name"] == name
    assert service["url"] == f"http://127.0.0.1:{quiet_registry.port}"
    assert service["healthEndpoint"] == "/health"
    assert service["status"] == "healthy"
    assert service["registeredAt"].endswith("+00:00")
    assert service["lastHealthCheck"] is None


def test_health_endpoint_defaults_to_health(registry: httpx.Client) -> None:
    name = unique_name()
    body = registry.post("/register", json={"name": name, "host": "127.0.0.1", "port": 9}).json()
    assert body["service"]["healthEndpoint"] == "/health"


def test_reregistering_refreshes_the_same_instance(registry: httpx.Client) -> None:
    name = unique_name()
    first = registry.post("/register", json=registration(name, 9)).json()["service"]
    registry.get(f"/health/{name}")  # marks it unhealthy (nothing listens on port 9)
    again = registry.post("/register", json=registration(name, 9, health="/ready"))
    assert again.status_code == 201
    assert "refreshed" in again.json()["message"]
    instances = registry.get(f"/services/{name}").json()["instances"]
    assert len(instances) == 1
    assert instances[0]["status"] == "healthy"
    assert instances[0]["healthEndpoint"] == "/ready"
    assert instances[0]["registeredAt"] == first["registeredAt"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"host": "127.0.0.1", "port": 80},
        {"name": "", "host": "127.0.0.1", "port": 80},
        {"name": "Has_Upper", "host": "127.0.0.1", "port": 80},
        {"name": "x" * 70, "host": "127.0.0.1", "port": 80},
        {"name": "ok", "port": 80},
        {"name": "ok", "host": "http://evil.example", "port": 80},
        {"name": "ok", "host": "a b", "port": 80},
        {"name": "ok", "host": "127.0.0.1"},
        {"name": "ok", "host": "127.0.0.1", "port": 0},
        {"name": "ok", "host": "127.0.0.1", "port": 70000},
        {"name": "ok", "host": "127.0.0.1", "port": "80"},
        {"name": "ok", "host": "127.0.0.1", "port": 80, "healthEndpoint": "http://evil.example/x"},
        {"name": "ok", "host": "127.0.0.1", "port": 80, "healthEndpoint": "health"},
        {"name": 5, "host": "127.0.0.1", "port": 80},
        [],
    ],
)
def test_bad_registrations_are_400(registry: httpx.Client, body: object) -> None:
    before = registry.get("/services").json()["count"]
    response = registry.post("/register", json=body)
    assert response.status_code == 400
    assert response.json()["error"]
    assert registry.get("/services").json()["count"] == before


def test_malformed_json_is_400(registry: httpx.Client) -> None:
    response = registry.post("/register", content=b'{"name": ', headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert "JSON" in response.json()["error"]


def test_several_instances_per_name_and_listing(registry: httpx.Client) -> None:
    name = unique_name()
    registry.post("/register", json=registration(name, 9001))
    registry.post("/register", json=registration(name, 9002))
    one = registry.get(f"/services/{name}").json()
    assert one["name"] == name and one["count"] == 2
    assert {i["port"] for i in one["instances"]} == {9001, 9002}
    listing = registry.get("/services").json()
    assert listing["count"] == len(listing["services"])
    assert {(s["name"], s["port"]) for s in listing["services"]} >= {(name, 9001), (name, 9002)}


def test_unknown_service_is_404(registry: httpx.Client) -> None:
    for path in ("/services/", "/discover/", "/health/", "/deregister/"):
        method = "DELETE" if path == "/deregister/" else "GET"
        response = registry.request(method, f"{path}nobody-here")
        assert response.status_code == 404, path
        assert "error" in response.json()


def test_discover_round_robins_over_healthy_instances(registry: httpx.Client, quiet_registry: ServiceProcess) -> None:
    name = unique_name()
    # Two keys for one live server: 127.0.0.1 and localhost.
    registry.post("/register", json=registration(name, quiet_registry.port, host="127.0.0.1"))
    registry.post("/register", json=registration(name, quiet_registry.port, host="localhost"))
    hosts = [registry.get(f"/discover/{name}").json()["host"] for _ in range(4)]
    assert sorted(hosts) == ["127.0.0.1", "127.0.0.1", "localhost", "localhost"]
    assert hosts[0] != hosts[1]


def test_check_now_and_discover_skips_unhealthy(registry: httpx.Client, quiet_registry: ServiceProcess) -> None:
    name = unique_name()
    dead_port = free_port()
    registry.post("/register", json=registration(name, quiet_registry.port))
    registry.post("/register", json=registration(name, dead_port))
    check = registry.get(f"/health/{name}").json()
    assert check["service"] == name
    assert check["status"] == "degraded"
    by_port = {d["instance"]: d for d in check["details"]}
    assert by_port[f"127.0.0.1:{dead_port}"]["status"] == "unhealthy"
    assert by_port[f"127.0.0.1:{quiet_registry.port}"]["status"] == "healthy"
    ports = {registry.get(f"/discover/{name}").json()["port"] for _ in range(4)}
    assert ports == {quiet_registry.port}


def test_discover_is_503_when_none_is_healthy(registry: httpx.Client) -> None:
    name = unique_name()
    registry.post("/register", json=registration(name, free_port()))
    assert registry.get(f"/health/{name}").json()["status"] == "unhealthy"
    response = registry.get(f"/discover/{name}")
    assert response.status_code == 503
    assert "error" in response.json()


def test_deregister_one_instance_then_all(registry: httpx.Client) -> None:
    name = unique_name()
    for port in (9001, 9002, 9003):
        registry.post("/register", json=registration(name, port))
    one = registry.delete(f"/deregister/{name}", params={"instance": "127.0.0.1:9001"})
    assert one.status_code == 200 and one.json()["removed"] == 1
    missing = registry.delete(f"/deregister/{name}", params={"instance": "127.0.0.1:9001"})
    assert missing.status_code == 404
    bad = registry.delete(f"/deregister/{name}", params={"instance": "no-port"})
    assert bad.status_code == 400
    rest = registry.delete(f"/deregister/{name}")
    assert rest.json()["removed"] == 2
    assert registry.get(f"/services/{name}").status_code == 404


def test_an_instance_failing_three_checks_is_dropped(busy_registry: ServiceProcess) -> None:
    with httpx.Client(base_url=busy_registry.url, headers=AUTH) as client:
        name = unique_name()
        client.post("/register", json=registration(name, busy_registry.port))
        client.post("/register", json=registration(name, free_port()))
        poll_until(
            lambda: any(i["status"] == "unhealthy" for i in client.get(f"/services/{name}").json()["instances"]),
            what="the dead instance to be marked unhealthy",
        )
        poll_until(lambda: client.get(f"/services/{name}").json()["count"] == 1, what="the dead instance removed")
        (survivor,) = client.get(f"/services/{name}").json()["instances"]
        assert survivor["port"] == busy_registry.port
        assert survivor["status"] == "healthy"
        assert survivor["lastHealthCheck"] is not None
