"""The web client's image and compose service, checked without a Docker engine: built with
Node from the lock, served by nginx as an unprivileged user on 5173, pointed at the gateway,
and configured like `make up`'s server (helpdesk_fleet.webclient): the same /config.js, the
same security headers. Where nginx is installed (.ci/run installs Debian's), the config is run
for real against a built client."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from string import Template
from typing import Any

import httpx
import pytest

from helpdesk_fleet.fleet import poll_until
from helpdesk_fleet.process import free_port
from helpdesk_fleet.webclient import DEFAULT_DIST, WEBCLIENT, config_script, security_headers

from .conftest import (
    COMPOSE_FILE,
    REPO_ROOT,
    WEB_CLIENT,
    WEB_CLIENT_DOCKERFILE,
    Dockerfile,
    copy_sources_and_dest,
    dockerignore_patterns,
    is_dockerignored,
    parse_dockerfile,
)

NGINX_TEMPLATES = REPO_ROOT / WEB_CLIENT / "nginx"
SITE_ROOT = "/usr/share/nginx/html"


@pytest.fixture(scope="module")
def dockerfile() -> Dockerfile:
    return parse_dockerfile(WEB_CLIENT_DOCKERFILE)


def _pinned(image: str) -> bool:
    name, _, tag = image.rpartition(":")
    return bool(name) and bool(tag) and tag != "latest" and re.match(r"\d+\.\d+\.\d+", tag) is not None


def test_it_builds_with_node_from_the_lock(dockerfile: Dockerfile) -> None:
    assert len(dockerfile.stages) == 2, "a builder and the runtime"
    builder = dockerfile.stages[0]
    assert builder.image.startswith("node:") and _pinned(builder.image), builder.image
    runs = [" ".join(i.words) for i in builder.all("RUN")]
    assert runs[0] == "npm ci --no-audit --no-fund", "install exactly the lock (npm ci), before the sources"
    (lock_copy, *_) = builder.all("COPY")
    assert copy_sources_and_dest(lock_copy)[0] == ["webclient/package.json", "webclient/package-lock.json"]
    assert any(run.startswith("npm run build") for run in runs)


def test_it_serves_the_static_files_with_nginx_as_an_unprivileged_user(dockerfile: Dockerfile) -> None:
    runtime = dockerfile.final
    assert runtime.image.startswith("nginxinc/nginx-unprivileged:") and _pinned(runtime.image), runtime.image
    copies = [(c.flags.get("from"), *copy_sources_and_dest(c)) for c in runtime.all("COPY")]
    assert (dockerfile.stages[0].name, ["/app/dist"], SITE_ROOT) in copies
    assert (None, ["webclient/nginx/"], "/etc/nginx/templates/") in copies
    user, _, group = runtime.all("USER")[-1].args.partition(":")
    assert user not in ("root", "0") and group not in ("root", "0")
    assert [port for i in runtime.all("EXPOSE") for port in i.words] == [str(WEBCLIENT.port)]
    (check,) = runtime.all("HEALTHCHECK")
    assert "/healthz" in check.args
    # The entrypoint substitutes only the client's variable, never nginx's own $uri and the like.
    assert runtime.env()["NGINX_ENVSUBST_FILTER"] == "^API_BASE_URL$"


def test_copy_sources_exist_and_reach_the_build_context(dockerfile: Dockerfile) -> None:
    rules = dockerignore_patterns()
    for instruction in dockerfile.instructions:
        assert instruction.keyword != "ADD", f"line {instruction.line}: use COPY, not ADD"
        if instruction.keyword != "COPY" or "from" in instruction.flags:
            continue
        for source in copy_sources_and_dest(instruction)[0]:
            assert (REPO_ROOT / source).exists(), source
            assert not is_dockerignored(source.rstrip("/"), rules), f"COPY {source}: excluded by .dockerignore"
    for local in ("webclient/node_modules", "webclient/dist", "webclient/test-output"):
        assert is_dockerignored(local, rules), f"{local} would be sent to the Docker daemon"


def test_compose_publishes_it_pointed_at_the_gateway(compose_dev: dict[str, Any]) -> None:
    services = compose_dev["services"]
    body = services[WEB_CLIENT]
    assert body["build"] == {"context": "..", "dockerfile": "webclient/Dockerfile"}
    assert (COMPOSE_FILE.parent / body["build"]["context"] / body["build"]["dockerfile"]).resolve() == (
        WEB_CLIENT_DOCKERFILE.resolve()
    )
    (published,) = body["ports"]
    host_port, _, target = str(published).rpartition(":")
    assert int(target) == WEBCLIENT.port
    # The browser calls the gateway where compose publishes it, and the gateway allows the
    # client's published origin.
    (gateway_published,) = services["gateway"]["ports"]
    gateway_host_port = str(gateway_published).rpartition(":")[0]
    assert body["environment"]["API_BASE_URL"] == f"http://localhost:{gateway_host_port}"
    origins = [o.strip() for o in services["gateway"]["environment"]["CORS_ORIGINS"].split(",")]
    assert f"http://localhost:{host_port}" in origins


def _render(template: Path, api_base_url: str) -> str:
    """What the image's entrypoint does: ${API_BASE_URL} substituted, nothing else."""
    text = template.read_text()
    assert set(re.findall(r"\$\{(\w+)\}", text)) <= {"API_BASE_URL"}, template
    return Template(text).safe_substitute(API_BASE_URL=api_base_url)


def test_nginx_sends_what_the_make_up_server_sends() -> None:
    api = "https://api.example.com"
    site = _render(NGINX_TEMPLATES / "default.conf.template", api)
    headers = _render(NGINX_TEMPLATES / "security-headers.inc.template", api)

    (config_body,) = re.findall(r"location = /config\.js \{.*?return 200 '(.*?)';", site, re.S)
    assert config_body.replace("\\n", "\n") == config_script(api)
    sent = dict(re.findall(r'add_header ([\w-]+) "(.*?)" always;', headers))
    assert sent == security_headers(api)
    # nginx drops a server's add_header in a location with its own: each one includes them all.
    for block in re.findall(r"location [^{]+\{(.*?)\n    \}", site, re.S):
        if "add_header" in block:
            assert "include /etc/nginx/conf.d/security-headers.inc;" in block


# --- the config, run by a real nginx -----------------------------------------------------------


@pytest.fixture(scope="module")
def nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Debian's nginx running the image's config over a built client, on a free port."""
    binary = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)
    if binary is None:
        pytest.skip("nginx is not installed (apt-get install nginx; .ci/run does)")
    if not (DEFAULT_DIST / "index.html").is_file():
        pytest.skip("no built web client (make webclient)")
    root = tmp_path_factory.mktemp("nginx")
    port = free_port()
    api = "http://localhost:8080"
    confd = root / "conf.d"
    confd.mkdir()
    for template in NGINX_TEMPLATES.glob("*.template"):
        text = _render(template, api).replace("/etc/nginx/conf.d/", f"{confd}/")
        text = text.replace("listen 5173;", f"listen 127.0.0.1:{port};").replace(SITE_ROOT, str(DEFAULT_DIST))
        (confd / template.name.removesuffix(".template")).write_text(text)
    (root / "nginx.conf").write_text(
        f"""daemon off;
pid {root}/nginx.pid;
error_log stderr warn;
events {{}}
http {{
    include /etc/nginx/mime.types;
    access_log off;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    include {confd}/*.conf;
}}
"""
    )
    proc = subprocess.Popen(
        [binary, "-p", str(root), "-c", str(root / "nginx.conf")], stderr=subprocess.PIPE, text=True
    )
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"nginx exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        poll_until(answers, timeout=10, what="nginx to answer")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def test_nginx_serves_the_client_its_routes_and_its_config(nginx: str) -> None:
    index = httpx.get(f"{nginx}/tickets/12?status=new")
    assert index.status_code == 200 and '<div id="app">' in index.text
    assert index.headers["cache-control"] == "no-cache"
    assert (
        index.headers["content-security-policy"] == security_headers("http://localhost:8080")["Content-Security-Policy"]
    )

    config = httpx.get(f"{nginx}/config.js")
    assert config.text == config_script("http://localhost:8080")
    assert config.headers["content-type"].startswith("text/javascript")

    asset = re.search(r'src="(/assets/[^"]+\.js)"', index.text)
    assert asset, index.text
    script = httpx.get(f"{nginx}{asset.group(1)}")
    assert script.status_code == 200
    assert script.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert script.headers["x-content-type-options"] == "nosniff"

    assert httpx.get(f"{nginx}/assets/gone-0123abcd.js").status_code == 404
