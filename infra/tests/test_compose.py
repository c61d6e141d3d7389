"""infra/docker-compose.yml: valid against the Compose Specification schema (vendored), and
consistent with the services: names, ports, dependencies, variables and secrets."""

from __future__ import annotations

import copy
import importlib
import json
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
from pydantic import AliasChoices, ValidationError
from pydantic_settings import BaseSettings

from helpdesk_common.settings import PLACEHOLDER_SECRETS
from helpdesk_fleet.process import ALL_SERVICES

from .conftest import (
    COMPOSE_FILE,
    COMPOSE_SCHEMA,
    CONTAINER_SERVICES,
    WEB_CLIENT,
    ContainerService,
    interpolate_all,
    parse_dockerfile,
    referenced_variables,
)

DATABASE = "postgres"
APP_SERVICES = {s.name for s in ALL_SERVICES}
SECRET_VARIABLES = ("JWT_SECRET", "SERVICE_TOKEN", "POSTGRES_PASSWORD", "ADMIN_PASSWORD")


def _validator() -> jsonschema.Draft7Validator:
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def _settings_class(service: ContainerService) -> type[BaseSettings]:
    try:
        module = importlib.import_module(f"{service.module}.settings")
    except ModuleNotFoundError as exc:
        if exc.name == f"{service.module}.settings":
            pytest.skip(f"{service.module}.settings does not exist yet")
        raise
    settings: type[BaseSettings] = module.Settings
    return settings


def _env_names(settings: type[BaseSettings]) -> set[str]:
    """The environment variables a settings class reads (case-insensitive: upper-cased)."""
    prefix = str(settings.model_config.get("env_prefix", ""))
    names = set()
    for name, info in settings.model_fields.items():
        alias = info.validation_alias
        if isinstance(alias, str):
            names.add(alias.upper())
        elif isinstance(alias, AliasChoices):
            names |= {choice.upper() for choice in alias.choices if isinstance(choice, str)}
        else:
            names.add((info.alias or f"{prefix}{name}").upper())
    return names


def _app_services(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The Python services (the database and the web client's static files are not)."""
    return {name: body for name, body in document["services"].items() if name not in (DATABASE, WEB_CLIENT)}


def _depends_on(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    value = body.get("depends_on", {})
    return {name: {} for name in value} if isinstance(value, list) else value


def _set_environment(monkeypatch: pytest.MonkeyPatch, settings: type[BaseSettings], env: dict[str, str]) -> None:
    for name in _env_names(settings):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, str(value))


# --- the schema -----------------------------------------------------------------------------------


def test_compose_file_matches_the_compose_specification(compose: dict[str, Any]) -> None:
    errors = sorted(_validator().iter_errors(compose), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


def test_schema_validation_is_not_vacuous(compose: dict[str, Any]) -> None:
    broken = copy.deepcopy(compose)
    broken["services"]["gateway"]["restart_policy"] = "always"  # not a compose key
    broken["services"][DATABASE]["ports"] = "5432"  # must be a list
    assert len(list(_validator().iter_errors(broken))) >= 2


# --- services, builds and ports -----------------------------------------------------------------------


def test_every_service_with_a_dockerfile_is_in_compose(compose: dict[str, Any], service: ContainerService) -> None:
    body = compose["services"].get(service.name)
    assert body is not None, f"{service.name} has a Dockerfile but no block in {COMPOSE_FILE.name}"
    build = body["build"]
    assert build["context"] == "..", "images are built from the repository root"
    context = (COMPOSE_FILE.parent / build["context"]).resolve()
    assert (context / build["dockerfile"]).resolve() == service.dockerfile.resolve()


def test_every_built_service_is_a_known_service_with_a_dockerfile(compose: dict[str, Any]) -> None:
    with_dockerfile = {s.name for s in CONTAINER_SERVICES}
    for name, body in _app_services(compose).items():
        assert name in APP_SERVICES, f"{name} is not in helpdesk_fleet.process.ALL_SERVICES"
        assert name in with_dockerfile, f"{name} is in compose but has no Dockerfile"
        assert "build" in body, f"{name} has no build section"


def test_ports_match_the_contract(compose_dev: dict[str, Any], service: ContainerService) -> None:
    body = compose_dev["services"][service.name]
    env = body["environment"]
    assert int(env["PORT"]) == service.port
    published = [p["target"] if isinstance(p, dict) else str(p).rsplit(":", 1)[-1] for p in body.get("ports", [])]
    assert [int(p) for p in [*body.get("expose", []), *published]] == [service.port]
    assert env["ADVERTISE_HOST"] == service.name, "others reach it by its compose service name"
    assert env["HOST"] == "0.0.0.0", "listen on the container's network, not only its loopback"


def test_only_the_gateway_and_the_web_client_are_published(compose_dev: dict[str, Any]) -> None:
    published = {name for name, body in compose_dev["services"].items() if body.get("ports")}
    assert published == {"gateway", WEB_CLIENT}
    (mapping,) = compose_dev["services"]["gateway"]["ports"]
    target = mapping["target"] if isinstance(mapping, dict) else str(mapping).rsplit(":", 1)[-1]
    assert int(target) == next(s.port for s in ALL_SERVICES if s.name == "gateway")


# --- dependencies --------------------------------------------------------------------------------


def test_depends_on_targets_exist_and_are_healthchecked(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, body in services.items():
        for target, options in _depends_on(body).items():
            assert target in services, f"{name} depends on unknown service {target}"
            assert options.get("condition") == "service_healthy", f"{name} -> {target}: wait until healthy"
            target_body = services[target]
            if "healthcheck" in target_body:
                assert not target_body["healthcheck"].get("disable", False)
            else:
                dockerfile = parse_dockerfile(
                    COMPOSE_FILE.parent / target_body["build"]["context"] / target_body["build"]["dockerfile"]
                )
                assert dockerfile.final.all("HEALTHCHECK"), f"{target} has no healthcheck to wait for"


def test_start_order_has_no_cycle_and_puts_the_gateway_last(compose: dict[str, Any]) -> None:
    services = compose["services"]
    graph = {name: set(_depends_on(body)) for name, body in services.items()}
    order: list[str] = []
    while graph:
        ready = sorted(name for name, deps in graph.items() if deps <= set(order))
        assert ready, f"dependency cycle among {sorted(graph)}"
        order += ready
        for name in ready:
            del graph[name]
    apps = set(_app_services(compose)) - {"gateway"}
    assert apps <= set(_depends_on(services["gateway"])), "the gateway waits for every service"


def test_services_with_a_database_wait_for_it_and_for_the_registry(
    compose: dict[str, Any], service: ContainerService
) -> None:
    depends = set(_depends_on(compose["services"][service.name]))
    if service.spec.uses_database:
        assert DATABASE in depends
    if service.name != "s3-registry":
        assert "s3-registry" in depends


# --- environment -----------------------------------------------------------------------------


def test_every_variable_is_one_the_settings_know(compose: dict[str, Any], service: ContainerService) -> None:
    known = _env_names(_settings_class(service))
    unknown = set(compose["services"][service.name]["environment"]) - known
    assert not unknown, f"{service.name} does not read {sorted(unknown)}"


def test_every_application_uses_the_shared_environment(compose: dict[str, Any]) -> None:
    shared = compose["x-service-env"]
    for name, body in _app_services(compose).items():
        env = body["environment"]
        for key, value in shared.items():
            assert env.get(key) == value, f"{name}: {key} differs from x-service-env"


def test_addresses_point_at_compose_services(compose_dev: dict[str, Any]) -> None:
    shared = compose_dev["x-service-env"]
    ports = {s.name: s.port for s in ALL_SERVICES}

    registry = urlsplit(shared["REGISTRY_URL"])
    assert (registry.hostname, registry.port) == ("s3-registry", ports["s3-registry"])

    database = urlsplit(shared["DB_URL"])
    assert database.scheme in ("postgresql", "postgres")
    assert (database.hostname, database.port, database.path) == (DATABASE, 5432, "/ticketdb")
    postgres_env = compose_dev["services"][DATABASE]["environment"]
    assert postgres_env["POSTGRES_DB"] == "ticketdb"
    assert (database.username, database.password) == (postgres_env["POSTGRES_USER"], postgres_env["POSTGRES_PASSWORD"])

    fallbacks = json.loads(shared["SERVICE_URLS"])
    expected = {name: f"http://{name}:{ports[name]}" for name in _app_services(compose_dev) if name != "gateway"}
    assert fallbacks == expected


def test_secrets_come_from_the_environment(compose: dict[str, Any]) -> None:
    assert set(SECRET_VARIABLES) <= referenced_variables(compose)
    secret = "s3cr3t-from-the-operator-0123456789"
    resolved = interpolate_all(compose, dict.fromkeys(SECRET_VARIABLES, secret))
    for name, body in resolved["services"].items():
        env = body.get("environment", {})
        for key in ("JWT_SECRET", "SERVICE_TOKEN", "POSTGRES_PASSWORD", "ADMIN_PASSWORD"):
            if key in env:
                assert env[key] == secret, f"{name}: {key} is not taken from the environment"
        if "DB_URL" in env:
            assert urlsplit(env["DB_URL"]).password == secret


def test_development_secret_defaults_are_the_refused_placeholders(compose_dev: dict[str, Any]) -> None:
    shared = compose_dev["x-service-env"]
    assert shared["ENVIRONMENT"] == "development"
    for key in ("JWT_SECRET", "SERVICE_TOKEN"):
        assert shared[key] in PLACEHOLDER_SECRETS, f"{key}'s default must be refused in production"


def test_the_development_defaults_start(
    compose_dev: dict[str, Any], service: ContainerService, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings_class = _settings_class(service)
    _set_environment(monkeypatch, settings_class, compose_dev["services"][service.name]["environment"])
    settings: Any = settings_class()
    assert settings.environment == "development"
    assert settings.port == service.port
    assert settings.advertised_host == service.name


def test_production_refuses_the_defaults_and_accepts_real_secrets(
    compose: dict[str, Any], service: ContainerService, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings_class = _settings_class(service)
    production = interpolate_all(compose, {"ENVIRONMENT": "production"})
    _set_environment(monkeypatch, settings_class, production["services"][service.name]["environment"])
    with pytest.raises(ValidationError, match="must be set to a real secret"):
        settings_class()

    secrets = {"JWT_SECRET": "a-real-jwt-secret-0123456789abcdef", "SERVICE_TOKEN": "a-real-token-0123456789abcdef"}
    production = interpolate_all(compose, {"ENVIRONMENT": "production", **secrets})
    _set_environment(monkeypatch, settings_class, production["services"][service.name]["environment"])
    settings: Any = settings_class()
    assert settings.environment == "production"


# --- the database and the rest ---------------------------------------------------------------------


def test_postgres_is_pinned_checked_and_persistent(compose: dict[str, Any]) -> None:
    body = compose["services"][DATABASE]
    image, _, tag = body["image"].partition(":")
    assert image == "postgres" and tag and tag != "latest"
    assert "pg_isready" in " ".join(body["healthcheck"]["test"])
    volumes = [v.split(":")[0] for v in body["volumes"]]
    assert volumes and all(v in compose.get("volumes", {}) for v in volumes), "a named volume holds the data"


def test_every_service_restarts(compose: dict[str, Any]) -> None:
    for name, body in compose["services"].items():
        assert body.get("restart") in ("always", "unless-stopped", "on-failure"), name


def test_compose_reads_nothing_outside_the_repository(compose: dict[str, Any]) -> None:
    repo = COMPOSE_FILE.parents[1].resolve()
    for name, body in compose["services"].items():
        if "build" in body:
            assert (COMPOSE_FILE.parent / body["build"]["context"]).resolve() == repo, name
        for volume in body.get("volumes", []):
            source = volume.split(":")[0]
            assert not source.startswith(("/", ".")), f"{name}: bind mount {source}; use a named volume"
