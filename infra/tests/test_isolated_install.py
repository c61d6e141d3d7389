"""Each service installs alone, the way its image is built, and works from the installed wheels.

The builder stage of the service's Dockerfile is replayed without Docker: its COPY lines copy
the same files (minus what `.dockerignore` leaves out) into a temporary root, and its
`uv sync` lines run there with the same arguments, so the virtualenv is made exactly as in the
image: only uv.lock's pins for this one service, no dev tools, non-editable. Then that venv's
Python, isolated from the checkout (`-I`, another working directory), imports the package,
builds the app and finds the SQL migrations inside site-packages. Last, that venv's
`python -m <package>` (the image's CMD) is started against PostgreSQL (a scratch database of
its own) and must answer `/ready`: it connected, ran its migrations from the wheel and serves.
The development mail catcher's image (infra/mail-sink.Dockerfile) is replayed the same way and
must take a real SMTP delivery.

uv's cache makes this quick where it is warm; on a fresh machine uv downloads from PyPI.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import smtplib
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from helpdesk_common.migrations import load_migrations, run_migrations
from helpdesk_fleet.fleet import poll_until
from helpdesk_fleet.postgres import create_scratch_database
from helpdesk_fleet.process import ALL_SERVICES, free_port
from helpdesk_fleet.pytest_plugin import TEST_JWT_SECRET, TEST_SERVICE_TOKEN

from .conftest import (
    REPO_ROOT,
    ContainerService,
    Dockerfile,
    copy_sources_and_dest,
    dockerignore_patterns,
    is_dockerignored,
    parse_dockerfile,
)

MAIL_SINK_DOCKERFILE = REPO_ROOT / "infra" / "mail-sink.Dockerfile"

pytestmark = pytest.mark.xdist_group("isolated-install")

DEV_ONLY = ("pytest", "helpdesk_fleet", "ruff", "mypy", "pgserver")

# Run by the service's own venv Python: what is installed, where, and does the app build.
PROBE = r"""
import importlib, importlib.resources, importlib.util, json, sys, sysconfig
from pathlib import Path

module, factory, dev_only = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
site = Path(sysconfig.get_paths()["purelib"]).resolve()

def installed(name):
    spec = importlib.util.find_spec(name)
    return spec is not None and spec.origin is not None and Path(spec.origin).resolve().is_relative_to(site)

report = {
    "site_packages": str(site),
    "package_installed": installed(module),
    "common_installed": installed("helpdesk_common"),
    "has_main": importlib.util.find_spec(module + ".__main__") is not None,
    "dev_tools": [name for name in dev_only if importlib.util.find_spec(name) is not None],
    "wheel_migrations": None,
    "main_migrations": None,
}
package_files = importlib.resources.files(module)
if package_files.joinpath("migrations").is_dir():
    report["wheel_migrations"] = sorted(
        p.name for p in package_files.joinpath("migrations").iterdir() if p.name.endswith(".sql")
    )
if report["has_main"]:
    import asyncio, httpx

    target, attr = factory.split(":")
    app = getattr(importlib.import_module(target), attr)()

    async def ask():
        # In-process ASGI calls, no lifespan: /health does no I/O; the OpenAPI schema needs
        # every route and model to build from the installed code.
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            health = await client.get("/health")
            schema = await client.get("/openapi.json")
        return health.status_code, health.json(), schema.status_code, sorted(schema.json().get("paths", {}))

    report["health_status"], report["health"], report["openapi_status"], report["paths"] = asyncio.run(ask())
    main = importlib.import_module(module + ".main")
    directory = getattr(main, "MIGRATIONS_DIR", None)
    if directory is not None:
        directory = Path(directory).resolve()
        report["main_migrations_dir_in_site_packages"] = directory.is_relative_to(site)
        report["main_migrations"] = sorted(p.name for p in directory.glob("*.sql"))
print(json.dumps(report))
"""


def _uv() -> str:
    bootstrapped = REPO_ROOT / ".tools" / "bin" / "uv"  # the Makefile installs the pinned uv here
    found = str(bootstrapped) if bootstrapped.exists() else shutil.which("uv")
    if found is None:
        pytest.fail("uv is not installed: run `make setup` first")
    return found


def _clean_environment() -> dict[str, str]:
    """No trace of the developer's venv or settings: only what uv and Python need."""
    keep = ("PATH", "HOME", "TMPDIR", "LANG", "UV_CACHE_DIR", "UV_INDEX_URL", "UV_DEFAULT_INDEX", "UV_OFFLINE")
    env = {k: v for k, v in os.environ.items() if k in keep or k.startswith("SSL_")}
    # Same interpreter as the dev venv's base; never download one.
    env["UV_PYTHON"] = getattr(sys, "_base_executable", sys.executable)
    env["UV_PYTHON_DOWNLOADS"] = "never"
    env["UV_NO_PROGRESS"] = "1"
    return env


def _copy_into_context(source: Path, target: Path) -> None:
    """COPY one source as Docker does: a folder's contents, less what .dockerignore drops."""
    rules = dockerignore_patterns()
    if source.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
        return

    def ignored(folder: str, names: list[str]) -> set[str]:
        relative = Path(folder).resolve().relative_to(REPO_ROOT)
        return {n for n in names if is_dockerignored((relative / n).as_posix(), rules)}

    shutil.copytree(source, target, ignore=ignored, dirs_exist_ok=True)


def replay_builder(dockerfile: Dockerfile, root: Path) -> Path:
    """Run the first stage's COPY and `uv sync` lines under `root`; return its WORKDIR."""
    uv, env = _uv(), _clean_environment()
    workdir = root
    builder = dockerfile.stages[0]
    for instruction in builder.instructions:
        if instruction.keyword == "WORKDIR":
            workdir = root / instruction.args.lstrip("/")
            workdir.mkdir(parents=True, exist_ok=True)
        elif instruction.keyword == "COPY" and "from" not in instruction.flags:
            sources, dest = copy_sources_and_dest(instruction)
            into_folder = dest.endswith("/") or len(sources) > 1
            for source in sources:
                target = (workdir / dest) if not dest.startswith("/") else root / dest.lstrip("/")
                if into_folder and (REPO_ROOT / source).is_file():
                    target = target / Path(source).name
                _copy_into_context(REPO_ROOT / source, target)
        elif instruction.keyword == "RUN":
            words = instruction.words
            assert words[0] == "uv", f"line {instruction.line}: the builder runs only uv (replayed by this test)"
            result = subprocess.run(
                [uv, *words[1:]], cwd=workdir, env=env, capture_output=True, text=True, timeout=300, check=False
            )
            assert result.returncode == 0, f"{' '.join(words)} failed:\n{result.stdout}\n{result.stderr}"
    return workdir


def _factory(service: ContainerService) -> str:
    """The app factory `python -m <package>` serves, e.g. `s1_auth.main:build_app`."""
    main = service.package_dir / "__main__.py"
    match = re.search(r"[\"']([\w.]+:\w+)[\"']", main.read_text()) if main.exists() else None
    return match.group(1) if match else f"{service.module}.main:build_app"


def test_service_installs_alone_builds_its_app_and_starts(
    service: ContainerService, dockerfiles: dict[str, Dockerfile], tmp_path: Path, pg_admin_dsn: str
) -> None:
    dockerfile = dockerfiles[service.name]
    workdir = replay_builder(dockerfile, tmp_path / "image")

    # The runtime stage copies this venv and nothing else.
    venv = workdir / ".venv"
    ((runtime_copy_source,), _) = copy_sources_and_dest(dockerfile.final.all("COPY")[0])
    assert venv == tmp_path / "image" / runtime_copy_source.lstrip("/")
    python = venv / "bin" / "python"
    assert python.exists(), "uv sync made no venv where the runtime stage copies it from"

    elsewhere = tmp_path / "run"
    elsewhere.mkdir()
    result = subprocess.run(
        [str(python), "-I", "-c", PROBE, service.module, _factory(service), ",".join(DEV_ONLY)],
        cwd=elsewhere,
        env={"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(elsewhere)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])

    assert report["package_installed"], f"{service.module} is not installed as a wheel in {report['site_packages']}"
    assert report["common_installed"], "helpdesk_common is not installed as a wheel"
    assert report["dev_tools"] == [], "dev-only packages reached the image"

    source_migrations = sorted(p.name for p in (service.package_dir / "migrations").glob("*.sql"))
    if source_migrations:
        assert report["wheel_migrations"] == source_migrations, "the wheel lacks migrations"

    if not report["has_main"]:
        pytest.skip(f"{service.module}/__main__.py does not exist yet: installed, app not built")
    assert (report["health_status"], report["health"]["service"]) == (200, service.name)
    assert report["openapi_status"] == 200
    assert {"/health", "/ready"} <= set(report["paths"])
    if report["main_migrations"] is not None:
        assert report["main_migrations_dir_in_site_packages"], "MIGRATIONS_DIR points outside site-packages"
        assert report["main_migrations"] == source_migrations
    _start_against_postgresql(service, venv, tmp_path, pg_admin_dsn)


# --- started from its own venv, against PostgreSQL ------------------------------------------


async def _prepare_database(pg_admin_dsn: str, service: ContainerService) -> str:
    """A scratch database with the other owners' migrations this service's require (S2's for
    S4: in a real start-up, S2 would have run them; here the service starts alone)."""
    db_url = await create_scratch_database(pg_admin_dsn, prefix="isolated")
    directory = service.package_dir / "migrations"
    owners = {r.owner for m in (load_migrations(directory) if directory.is_dir() else []) for r in m.requires}
    conn = await asyncpg.connect(db_url)
    try:
        for owner in sorted(owners):
            await run_migrations(conn, owner=owner, directory=REPO_ROOT / owner / owner / "migrations")
    finally:
        await conn.close()
    return db_url


@contextmanager
def _running(command: list[str], env: dict[str, str], cwd: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


def _answers_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> bool:
    assert process.poll() is None, f"exited with {process.returncode}:\n{log.read_text(errors='replace')[-3000:]}"
    try:
        return httpx.get(f"{url}/ready", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _start_against_postgresql(service: ContainerService, venv: Path, tmp_path: Path, pg_admin_dsn: str) -> None:
    """The image's CMD (`python -m <package>`) from this venv, until it answers /ready."""
    port = free_port()
    env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "ENVIRONMENT": "test",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "JWT_SECRET": TEST_JWT_SECRET,
        "SERVICE_TOKEN": TEST_SERVICE_TOKEN,
        # Nobody answers there: registering is retried in the background and never blocks /ready.
        "REGISTRY_URL": f"http://127.0.0.1:{free_port()}",
        "SERVICE_URLS": json.dumps({s.name: f"http://127.0.0.1:{s.port}" for s in ALL_SERVICES}),
        "MEDIA_DIR": str(tmp_path / "media"),
        "DB_POOL_MAX": "2",
        "ARGON2_MEMORY_COST_KIB": "1024",
        "ARGON2_TIME_COST": "1",
        "LOG_LEVEL": "WARNING",
    }
    if service.spec.uses_database:
        env["DB_URL"] = asyncio.run(_prepare_database(pg_admin_dsn, service))
    log = tmp_path / "service.log"
    elsewhere = tmp_path / "started"
    elsewhere.mkdir()
    with _running([str(venv / "bin" / "python"), "-I", "-m", service.module], env, elsewhere, log) as process:
        poll_until(
            lambda: _answers_ready(f"http://127.0.0.1:{port}", process, log),
            timeout=60,
            what=f"{service.name} (its own venv) to answer /ready",
        )
    if service.spec.uses_database and (service.package_dir / "migrations").is_dir():
        applied = asyncio.run(_applied_versions(env["DB_URL"], service.module))
        assert applied == sorted(m.version for m in load_migrations(service.package_dir / "migrations"))


async def _applied_versions(db_url: str, owner: str) -> list[str]:
    conn = await asyncpg.connect(db_url)
    try:
        return sorted(r["version"] for r in await conn.fetch(f"SELECT version FROM {owner}_schema_migrations"))
    finally:
        await conn.close()


@pytest.mark.xdist_group("mail-sink-image")  # beside the services' installs, on the other worker
def test_the_mail_catcher_image_takes_mail_and_its_web_view_lists_it(tmp_path: Path) -> None:
    """infra/mail-sink.Dockerfile's builder replayed: the fleet tooling from the lock, alone,
    running the sink (SMTP + listing) and the read-only web view compose's dev profile publishes."""
    venv = replay_builder(parse_dockerfile(MAIL_SINK_DOCKERFILE), tmp_path / "image") / ".venv"
    python = str(venv / "bin" / "python")
    http_port, smtp_port, web_port = free_port(), free_port(), free_port()
    base = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path), "HOST": "127.0.0.1"}
    sink_env = base | {"PORT": str(http_port), "MAIL_SINK_SMTP_PORT": str(smtp_port), "MAIL_SINK_DIR": str(tmp_path)}
    web_env = base | {"PORT": str(web_port), "MAIL_SINK_URL": f"http://127.0.0.1:{http_port}"}
    sink_url, web_url = f"http://127.0.0.1:{http_port}", f"http://127.0.0.1:{web_port}"
    with (
        _running([python, "-I", "-m", "helpdesk_fleet.sinks.mail"], sink_env, tmp_path, tmp_path / "sink.log") as sink,
        _running([python, "-I", "-m", "helpdesk_fleet.sinks.webview"], web_env, tmp_path, tmp_path / "web.log") as web,
    ):
        poll_until(lambda: _answers_ready(sink_url, sink, tmp_path / "sink.log"), timeout=30, what="the sink")
        poll_until(lambda: _answers_ready(web_url, web, tmp_path / "web.log"), timeout=30, what="the web view")
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "helpdesk@localhost", "ada@example.com", "Ticket #1"
        message.set_content("Your ticket was received.")
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as smtp:
            smtp.send_message(message)
        listing = httpx.get(f"{web_url}/messages", timeout=5).json()
        assert [(m["subject"], m["to"]) for m in listing["messages"]] == [("Ticket #1", ["ada@example.com"])]
        raw = httpx.get(f"{web_url}/messages/{listing['messages'][0]['id']}", timeout=5)
        assert raw.status_code == 200 and "Your ticket was received." in raw.text
        # Read-only: what deletes or sets faults on the sink is not relayed.
        assert httpx.delete(f"{web_url}/messages", timeout=5).status_code == 405
        assert httpx.post(f"{web_url}/faults", json={}, timeout=5).status_code in (404, 405)
        assert httpx.get(f"{sink_url}/messages", timeout=5).json()["count"] == 1
