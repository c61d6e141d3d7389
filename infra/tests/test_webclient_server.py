"""`make up`'s server for the built web client (helpdesk_fleet.webclient), in process: the
files, index.html for the client's routes, /config.js from API_BASE_URL, caching by kind of
file, the security headers on every answer, and /ready only once there is a build."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from helpdesk_fleet.webclient import IMMUTABLE, REVALIDATE, build_app, config_script, security_headers

API = "https://api.helpdesk.example.com"
INDEX = '<!doctype html><div id="app"></div><script type="module" src="/assets/index-0123abcd.js"></script>'


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text(INDEX)
    (tmp_path / "assets" / "index-0123abcd.js").write_text("console.log('app');")
    (tmp_path / "favicon.svg").write_text("<svg/>")
    return tmp_path


async def _client(dist: Path) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_app(dist, API))
    async with httpx.AsyncClient(transport=transport, base_url="http://client") as client:
        yield client


@pytest.fixture
async def client(dist: Path) -> AsyncIterator[httpx.AsyncClient]:
    async for opened in _client(dist):
        yield opened


async def test_client_routes_get_index_html_and_are_never_cached(client: httpx.AsyncClient) -> None:
    for path in ("/", "/login", "/tickets/12?status=new", "/admin/users"):
        response = await client.get(path)
        assert response.status_code == 200, path
        assert response.text == INDEX
        assert response.headers["cache-control"] == REVALIDATE


async def test_hashed_assets_are_cached_for_good_and_a_missing_one_is_a_404(client: httpx.AsyncClient) -> None:
    asset = await client.get("/assets/index-0123abcd.js")
    assert asset.status_code == 200
    assert asset.headers["cache-control"] == IMMUTABLE
    assert asset.headers["content-type"].startswith("text/javascript")
    missing = await client.get("/assets/index-gone.js")
    assert missing.status_code == 404, "an old chunk must not come back as HTML"
    other = await client.get("/favicon.svg")
    assert other.headers["cache-control"] == REVALIDATE


async def test_config_js_points_at_the_gateway(client: httpx.AsyncClient) -> None:
    response = await client.get("/config.js")
    assert response.text == config_script(API)
    assert response.text == 'window.__HELPDESK_CONFIG__ = {"apiBaseUrl": "https://api.helpdesk.example.com"};\n'
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["cache-control"] == REVALIDATE


async def test_every_answer_carries_the_security_headers(client: httpx.AsyncClient) -> None:
    expected = security_headers(API)
    assert f"connect-src 'self' {API}" in expected["Content-Security-Policy"]
    assert "script-src 'self'" in expected["Content-Security-Policy"]
    for path in ("/", "/tickets/3", "/config.js", "/assets/index-0123abcd.js"):
        response = await client.get(path)
        for name, value in expected.items():
            assert response.headers[name] == value, (path, name)


async def test_ready_only_once_there_is_a_build(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    async for client in _client(dist):
        assert (await client.get("/ready")).status_code == 200
        assert (await client.get("/health")).json() == {"status": "ok", "service": "webclient"}
    async for client in _client(tmp_path_factory.mktemp("empty")):
        not_built = await client.get("/ready")
        assert not_built.status_code == 503
        assert "make webclient" in not_built.json()["error"]
