"""What the container checks share: the services that have a Dockerfile, a small Dockerfile
parser, compose's variable interpolation and a `.dockerignore` matcher.

No Docker engine is needed: the files are parsed and checked here, and the builder stage of
each Dockerfile is replayed with uv in `test_isolated_install.py`.
"""

from __future__ import annotations

import copy
import json
import re
import shlex
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from helpdesk_fleet.process import ALL_SERVICES, ServiceSpec

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO_ROOT / "infra" / "docker-compose.yml"
COMPOSE_SCHEMA = REPO_ROOT / "infra" / "vendor" / "compose-spec.json"
ENV_EXAMPLE = REPO_ROOT / "infra" / ".env.example"
# Every setting of every service, shared by compose (env_file) and Kubernetes (ConfigMaps).
SETTINGS_DIR = REPO_ROOT / "infra" / "k8s" / "base" / "settings"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"


# --- the services -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContainerService:
    """A workspace service with a Dockerfile: `s1_auth/Dockerfile` is package `s1_auth`."""

    folder: Path
    spec: ServiceSpec

    @property
    def module(self) -> str:
        return self.spec.module

    @property
    def name(self) -> str:
        """The compose service name, the hostname and the name it registers under."""
        return self.spec.name

    @property
    def port(self) -> int:
        return self.spec.port

    @property
    def dockerfile(self) -> Path:
        return self.folder / "Dockerfile"

    @cached_property
    def distribution(self) -> str:
        """The `[project] name` of its pyproject.toml (what `uv sync --package` takes)."""
        data = tomllib.loads((self.folder / "pyproject.toml").read_text())
        name: str = data["project"]["name"]
        return name

    @property
    def package_dir(self) -> Path:
        return self.folder / self.module

    def __str__(self) -> str:
        return self.name


# The one image that is not a Python service: the web client's static files, built with Node
# and served by nginx. test_webclient_image.py checks it; the service checks leave it out.
WEB_CLIENT = "webclient"
WEB_CLIENT_DOCKERFILE = REPO_ROOT / WEB_CLIENT / "Dockerfile"


def _container_services() -> list[ContainerService]:
    by_module = {spec.module: spec for spec in ALL_SERVICES}
    found = []
    for dockerfile in sorted(REPO_ROOT.glob("*/Dockerfile")):
        folder = dockerfile.parent
        if folder.name == WEB_CLIENT:
            continue
        if folder.name not in by_module:
            raise AssertionError(
                f"{dockerfile.relative_to(REPO_ROOT)}: folder {folder.name!r} is not a service in "
                "helpdesk_fleet.process.ALL_SERVICES"
            )
        found.append(ContainerService(folder=folder, spec=by_module[folder.name]))
    return found


CONTAINER_SERVICES = _container_services()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """`service` parametrizes a test over every service that has a Dockerfile."""
    if "service" in metafunc.fixturenames:
        metafunc.parametrize("service", CONTAINER_SERVICES, ids=[s.name for s in CONTAINER_SERVICES])


# --- Dockerfiles ------------------------------------------------------------------------------

_FLAG = re.compile(r"--([a-z][a-z-]*)(?:=(\S*))?\s+")


@dataclass
class Instruction:
    keyword: str  # upper case: FROM, RUN, COPY, ...
    flags: dict[str, str]  # leading --name=value options (FROM, COPY, RUN, HEALTHCHECK)
    args: str  # the rest, continuation lines joined
    line: int

    @property
    def exec_form(self) -> list[str] | None:
        """The JSON array form (`CMD ["python", "-m", "x"]`), or None for the shell form."""
        if not self.args.startswith("["):
            return None
        value = json.loads(self.args)
        assert isinstance(value, list) and all(isinstance(v, str) for v in value), self
        return value

    @property
    def words(self) -> list[str]:
        return shlex.split(self.args)


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def env(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for instruction in self.all("ENV"):
            for word in instruction.words:
                key, sep, value = word.partition("=")
                assert sep, f"line {instruction.line}: use the ENV key=value form"
                values[key] = value
        return values


@dataclass
class Dockerfile:
    path: Path
    stages: list[Stage]
    instructions: list[Instruction]

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    def stage(self, name: str) -> Stage | None:
        return next((s for s in self.stages if s.name == name), None)


def parse_dockerfile(path: Path) -> Dockerfile:
    """Enough of the Dockerfile grammar for these files: comments, `\\` continuations, leading
    --flags, exec (JSON) and shell forms, stages. No ARG substitution (none is used)."""
    logical: list[tuple[int, str]] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not pending):
            continue  # comments (and parser directives); comments inside continuations too
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        logical.append((start, " ".join(p for p in pending if p)))
        pending = []
    assert not pending, f"{path}: the last instruction ends in a line continuation"

    instructions: list[Instruction] = []
    stages: list[Stage] = []
    for number, text in logical:
        keyword, _, rest = text.partition(" ")
        flags: dict[str, str] = {}
        rest = rest.strip() + " "
        while match := _FLAG.match(rest):
            flags[match.group(1)] = match.group(2) or ""
            rest = rest[match.end() :]
        instruction = Instruction(keyword.upper(), flags, rest.strip(), number)
        instructions.append(instruction)
        if instruction.keyword == "FROM":
            words = instruction.words
            name = words[2] if len(words) == 3 and words[1].lower() == "as" else None
            assert len(words) in (1, 3), f"{path}:{number}: FROM image [AS name]"
            stages.append(Stage(image=words[0], name=name))
        else:
            assert stages, f"{path}:{number}: {instruction.keyword} before the first FROM"
        stages[-1].instructions.append(instruction)
    assert stages, f"{path}: no FROM"
    return Dockerfile(path=path, stages=stages, instructions=instructions)


def copy_sources_and_dest(instruction: Instruction) -> tuple[list[str], str]:
    form = instruction.exec_form
    words = form if form is not None else instruction.words
    assert len(words) >= 2, f"line {instruction.line}: COPY needs a source and a destination"
    return words[:-1], words[-1]


# --- .dockerignore ------------------------------------------------------------------------


def _ignore_pattern(pattern: str) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            if pattern.startswith("/", i):  # `**/x` also matches `x` at the top
                out[-1] = "(?:.*/)?"
                i += 1
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))


def dockerignore_patterns() -> list[tuple[bool, re.Pattern[str]]]:
    """(negated, pattern) per line, in order; the last matching line decides, as in Docker."""
    rules = []
    for raw in DOCKERIGNORE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        line = line.removeprefix("!").strip().strip("/")
        rules.append((negated, _ignore_pattern(line)))
    return rules


def is_dockerignored(relative: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Whether a path of the build context (relative to the repo root) is left out of it: it
    is if it, or a folder it is in, is matched by an exclusion that no later `!` line undoes."""
    parts = relative.strip("/").split("/")
    for depth in range(1, len(parts) + 1):
        prefix = "/".join(parts[:depth])
        excluded = False
        for negated, pattern in rules:
            if pattern.fullmatch(prefix):
                excluded = not negated
        if excluded:
            return True
    return False


# --- compose --------------------------------------------------------------------------------

_VARIABLE = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_]\w*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}|\$(?P<bare>[A-Za-z_]\w*)")


def interpolate(value: str, environment: Mapping[str, str]) -> str:
    """Compose's interpolation: $VAR, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error},
    ${VAR?error}, ${VAR:+alt}, ${VAR+alt}, and $$ for a literal $."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("name") or match.group("bare")
        op, arg = match.group("op"), match.group("arg") or ""
        present = name in environment
        value = environment.get(name, "")
        if op in (":-", "-"):
            use_default = not value if op == ":-" else not present
            return arg if use_default else value
        if op in (":?", "?"):
            if (not value) if op == ":?" else (not present):
                raise KeyError(f"{name}: {arg or 'required'}")
            return value
        if op in (":+", "+"):
            return arg if (value if op == ":+" else present) else ""
        return value

    return _VARIABLE.sub(replace, value)


def interpolate_all(node: Any, environment: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, environment)
    if isinstance(node, list):
        return [interpolate_all(v, environment) for v in node]
    if isinstance(node, dict):
        return {k: interpolate_all(v, environment) for k, v in node.items()}
    return node


def referenced_variables(node: Any) -> set[str]:
    """The host variables a compose document reads (`$$` escapes excluded)."""
    if isinstance(node, str):
        return {m.group("name") or m.group("bare") for m in _VARIABLE.finditer(node) if m.group(0) != "$$"}
    if isinstance(node, list):
        return set().union(*(referenced_variables(v) for v in node)) if node else set()
    if isinstance(node, dict):
        return set().union(*(referenced_variables(v) for v in node.values())) if node else set()
    return set()


def _merge_extended(base: dict[str, Any], own: dict[str, Any]) -> dict[str, Any]:
    """Compose's `extends` merge, for what this file uses: mappings merge key by key (the
    extending service wins), anything else is replaced; depends_on is never inherited."""
    merged = {k: copy.deepcopy(v) for k, v in base.items() if k != "depends_on"}
    for key, value in own.items():
        if key == "extends":
            continue
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def load_compose() -> dict[str, Any]:
    """The compose file with anchors and `<<` resolved (YAML) and `extends` within the file too."""
    document: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    services = document["services"]
    for name, body in list(services.items()):
        extends = body.get("extends")
        if extends is not None:
            assert "file" not in extends, f"{name}: extends another file; the checks read this one only"
            base = services[extends["service"]]
            assert "extends" not in base, f"{name}: extends a service that extends another"
            services[name] = _merge_extended(base, body)
    return document


def settings_fields(settings: type[BaseSettings]) -> dict[str, set[str]]:
    """Each field of a settings class and the variable names it is read from (any one will do:
    the gateway's port is PORT or GATEWAY_PORT), upper case."""
    prefix = str(settings.model_config.get("env_prefix", ""))
    fields = {}
    for name, info in settings.model_fields.items():
        alias = info.validation_alias
        if isinstance(alias, str):
            fields[name] = {alias.upper()}
        elif isinstance(alias, AliasChoices):
            fields[name] = {choice.upper() for choice in alias.choices if isinstance(choice, str)}
        else:
            fields[name] = {(info.alias or f"{prefix}{name}").upper()}
    return fields


def read_env_file(path: Path) -> tuple[dict[str, str], set[str]]:
    """An env file as compose and kustomize read it: KEY=value lines (taken literally) and,
    besides, the `# KEY=` lines that leave a setting unset on purpose."""
    values: dict[str, str] = {}
    unset: set[str] = set()
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if match := re.fullmatch(r"#\s*([A-Z][A-Z0-9_]*)=", line):
            unset.add(match.group(1))
            continue
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep and re.fullmatch(r"[A-Z][A-Z0-9_]*", key), f"{path.name}:{number}: not KEY=value"
        assert key not in values, f"{path.name}:{number}: {key} twice"
        # Compose expands $VAR and cuts ` #...` in env files; kustomize takes both literally.
        assert not value.startswith(("'", '"')), f"{path.name}:{number}: no quotes (compose and kustomize differ)"
        assert "$" not in value and " #" not in value, (
            f"{path.name}:{number}: no $ or ' #' (compose and kustomize differ)"
        )
        values[key] = value
    return values, unset


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    return load_compose()


@pytest.fixture(scope="session")
def compose_dev(compose: dict[str, Any]) -> dict[str, Any]:
    """The compose file as `docker compose up` sees it with no variable set: the defaults."""
    resolved: dict[str, Any] = interpolate_all(compose, {})
    return resolved


@pytest.fixture(scope="session")
def dockerfiles() -> dict[str, Dockerfile]:
    return {s.name: parse_dockerfile(s.dockerfile) for s in CONTAINER_SERVICES}


def pytest_configure(config: pytest.Config) -> None:
    # Known to pytest-xdist; registered here too so `-p no:xdist` runs without a warning.
    config.addinivalue_line("markers", "xdist_group(name): run these tests in one xdist worker, in order")
