"""infra/docker-compose.yml: valid against the Compose Specification schema (vendored), and
consistent with the services: names, ports, dependencies, variables and secrets."""

from __future__ import annotations

import copy
import importlib
import json
import re
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
from pydantic import ValidationError
from pydantic_settings import BaseSettings

from helpdesk_common.settings import PLACEHOLDER_SECRETS, is_secret_setting
from helpdesk_fleet.process import ALL_SERVICES

from .conftest import (
    COMPOSE_FILE,
    COMPOSE_SCHEMA,
    CONTAINER_SERVICES,
    ENV_EXAMPLE,
    REPO_ROOT,
    SETTINGS_DIR,
    WEB_CLIENT,
    ContainerService,
    interpolate_all,
    parse_dockerfile,
    read_env_file,
    referenced_variables,
    settings_fields,
)

DATABASE = "postgres"
# Development tooling in compose: the mail catcher S6 sends to, and its web view (dev profile).
MAIL_SINK, MAIL_SINK_WEB = "mail-sink", "mail-sink-web"
NOT_APPLICATIONS = (DATABASE, WEB_CLIENT, MAIL_SINK, MAIL_SINK_WEB)
APP_SERVICES = {s.name for s in ALL_SERVICES}
SECRET_VARIABLES = ("JWT_SECRET", "SERVICE_TOKEN", "POSTGRES_PASSWORD", "ADMIN_PASSWORD")
# In memory and single-instance by design (the registry), and the one published entry point.
NOT_REPLICATED = ("s3-registry", "gateway")
# A setting no deployment sets: the name a service registers under is fixed by its code.
IDENTITY_SETTINGS = {"SERVICE_NAME"}


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
    return set().union(*settings_fields(settings).values())


def _app_services(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The Python services `docker compose up` starts (not the database, the web client's
    static files, the mail catcher, nor the scale profile's second instances)."""
    return {
        name: body
        for name, body in document["services"].items()
        if name not in NOT_APPLICATIONS and not body.get("profiles")
    }


def _default_services(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """What `docker compose up` starts without a profile."""
    return {name: body for name, body in document["services"].items() if not body.get("profiles")}


def _env_files(body: dict[str, Any]) -> list[str]:
    files = body.get("env_file", [])
    files = [files] if isinstance(files, str | dict) else files
    return [f["path"] if isinstance(f, dict) else f for f in files]


def _compose_settings(body: dict[str, Any]) -> tuple[dict[str, str], set[str]]:
    """What a compose service's process gets: its env_files, then `environment` over them;
    and the variables those files leave unset on purpose."""
    values: dict[str, str] = {}
    unset: set[str] = set()
    for name in _env_files(body):
        file_values, file_unset = read_env_file(COMPOSE_FILE.parent / name)
        values |= file_values
        unset |= file_unset
    values |= {k: str(v) for k, v in body.get("environment", {}).items()}
    return values, unset - set(values)


def _depends_on(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    value = body.get("depends_on", {})
    return {name: {} for name in value} if isinstance(value, list) else value


def _set_environment(monkeypatch: pytest.MonkeyPatch, settings: type[BaseSettings], env: dict[str, str]) -> None:
    for name in _env_names(settings):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, str(value))


def _embedded_postgres_major() -> str:
    """The major version of the PostgreSQL the tests run against (pgserver's binaries)."""
    import pgserver  # dev-only, like the test database itself

    postgres = Path(pgserver.__file__).parent / "pginstall" / "bin" / "postgres"
    version = subprocess.run([str(postgres), "--version"], capture_output=True, text=True, check=True).stdout
    match = re.search(r"\(PostgreSQL\) (\d+)\.", version)
    assert match, version
    return match.group(1)


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
    published = {name for name, body in _default_services(compose_dev).items() if body.get("ports")}
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
    values, unset = _compose_settings(compose["services"][service.name])
    unknown = (set(values) | unset) - known
    assert not unknown, f"{service.name} does not read {sorted(unknown)} (set in compose or its env_files)"


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

    fallbacks = json.loads(read_env_file(SETTINGS_DIR / "shared.env")[0]["SERVICE_URLS"])
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
    _set_environment(monkeypatch, settings_class, _compose_settings(compose_dev["services"][service.name])[0])
    settings: Any = settings_class()
    assert settings.environment == "development"
    assert settings.port == service.port
    assert settings.advertised_host == service.name


def test_production_refuses_the_defaults_and_accepts_real_secrets(
    compose: dict[str, Any], service: ContainerService, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings_class = _settings_class(service)
    production = interpolate_all(compose, {"ENVIRONMENT": "production"})
    _set_environment(monkeypatch, settings_class, _compose_settings(production["services"][service.name])[0])
    with pytest.raises(ValidationError, match="must be set to a real secret"):
        settings_class()

    # The real JWT secret and token, but one development default left (the database password):
    # refused too.
    secrets = {"JWT_SECRET": "a-real-jwt-secret-0123456789abcdef", "SERVICE_TOKEN": "a-real-token-0123456789abcdef"}
    production = interpolate_all(compose, {"ENVIRONMENT": "production", **secrets})
    if service.spec.uses_database:
        _set_environment(monkeypatch, settings_class, _compose_settings(production["services"][service.name])[0])
        with pytest.raises(ValidationError, match="DB_URL is a development default"):
            settings_class()

    secrets |= {"POSTGRES_PASSWORD": "a-real-db-password-0123", "ADMIN_PASSWORD": "a-real-admin-password-0123"}
    # ... and a real mail server (the catcher's plain SMTP is refused with credentials).
    secrets |= {"SMTP_HOST": "smtp.example.com", "SMTP_PORT": "587", "SMTP_SECURITY": "starttls"}
    production = interpolate_all(compose, {"ENVIRONMENT": "production", **secrets})
    _set_environment(monkeypatch, settings_class, _compose_settings(production["services"][service.name])[0])
    settings: Any = settings_class()
    assert settings.environment == "production"


# --- the database and the rest ---------------------------------------------------------------------


def test_postgres_is_pinned_checked_and_persistent(compose: dict[str, Any]) -> None:
    body = compose["services"][DATABASE]
    image, _, tag = body["image"].partition(":")
    # The major version the tests run against (pgserver's embedded server).
    assert image == "postgres" and tag.split(".")[0] == _embedded_postgres_major()
    assert "pg_isready" in " ".join(body["healthcheck"]["test"])
    volumes = [v.split(":")[0] for v in body["volumes"]]
    assert volumes and all(v in compose.get("volumes", {}) for v in volumes), "a named volume holds the data"


def test_compose_reads_nothing_outside_the_repository(compose: dict[str, Any]) -> None:
    repo = COMPOSE_FILE.parents[1].resolve()
    for name, body in compose["services"].items():
        if "build" in body:
            assert (COMPOSE_FILE.parent / body["build"]["context"]).resolve() == repo, name
        for volume in body.get("volumes", []):
            source = volume.split(":")[0]
            assert not source.startswith(("/", ".")), f"{name}: bind mount {source}; use a named volume"


# --- every setting, from the settings classes -------------------------------------------------


def test_every_setting_a_service_reads_is_set_in_compose(compose: dict[str, Any], service: ContainerService) -> None:
    """Derived from the settings class: a setting added there fails here until compose sets it
    (or its env file leaves it unset on purpose with a `# KEY=` line)."""
    settings_class = _settings_class(service)
    body = compose["services"][service.name]
    values, unset = _compose_settings(body)
    own_file = f"infra/k8s/base/settings/{service.name}.env"
    missing = []
    for field, names in settings_fields(settings_class).items():
        if names & IDENTITY_SETTINGS or names & (set(values) | unset):
            continue
        variable = min(sorted(names), key=len)  # PORT rather than GATEWAY_PORT
        where = (
            f"infra/docker-compose.yml services.{service.name}.environment as ${{{variable}}} (and infra/.env.example)"
            if is_secret_setting(variable, settings_class.model_fields[field].annotation)
            else f"{own_file} as {variable}=<value> (or `# {variable}=` to leave it unset)"
        )
        missing.append(f"{variable} ({settings_class.__module__}.Settings.{field}): set it in {where}")
    assert not missing, f"{service.name} reads settings compose does not set:\n" + "\n".join(missing)


def test_the_settings_files_hold_valid_values_and_no_secret() -> None:
    for path in sorted(SETTINGS_DIR.glob("*.env")):
        values, unset = read_env_file(path)
        for key in [*values, *unset]:
            assert not is_secret_setting(key), (
                f"{path.relative_to(REPO_ROOT)}: {key} is a credential; it belongs in the Secret "
                "(infra/k8s) and the environment (compose), never in a settings file"
            )


def test_every_settings_file_belongs_to_a_service() -> None:
    names = {s.name for s in CONTAINER_SERVICES} | {"shared"}
    assert {p.stem for p in SETTINGS_DIR.glob("*.env")} == names


def test_every_service_has_a_healthcheck_and_a_restart_policy(compose: dict[str, Any]) -> None:
    for name, body in compose["services"].items():
        check = body.get("healthcheck")
        assert check and check.get("test") and not check.get("disable"), f"{name} has no healthcheck"
        assert body.get("restart") in ("always", "unless-stopped", "on-failure"), f"{name} has no restart policy"


def test_services_wait_for_readiness_not_only_liveness(compose: dict[str, Any]) -> None:
    for name, body in _app_services(compose).items():
        assert "/ready" in " ".join(body["healthcheck"]["test"]), f"{name}: dependents wait for /ready"


def test_every_build_context_and_dockerfile_exists(compose: dict[str, Any]) -> None:
    for name, body in compose["services"].items():
        if "build" not in body:
            continue
        context = (COMPOSE_FILE.parent / body["build"]["context"]).resolve()
        assert context.is_dir(), f"{name}: build context {context} does not exist"
        assert (context / body["build"]["dockerfile"]).is_file(), f"{name}: {body['build']['dockerfile']} missing"
        for env_file in _env_files(body):
            assert (COMPOSE_FILE.parent / env_file).is_file(), f"{name}: env_file {env_file} missing"


# --- secrets ----------------------------------------------------------------------------------


def test_no_secret_has_a_literal_value(compose: dict[str, Any]) -> None:
    """Every credential a service or the database gets comes from the operator's environment."""
    for name, body in compose["services"].items():
        for key, value in body.get("environment", {}).items():
            if is_secret_setting(key):
                assert isinstance(value, str) and "${" in value, (
                    f"services.{name}.environment.{key} is a literal; take it from the environment (${{{key}}})"
                )


def test_env_example_names_exactly_what_compose_reads(compose: dict[str, Any]) -> None:
    example, _ = read_env_file(ENV_EXAMPLE)
    read = referenced_variables(compose)
    assert not read - set(example), f"add to infra/.env.example: {sorted(read - set(example))}"
    assert not set(example) - read, f"infra/.env.example names what compose never reads: {sorted(set(example) - read)}"


def test_env_example_defaults_are_compose_defaults(compose: dict[str, Any], compose_dev: dict[str, Any]) -> None:
    """Copying .env.example to .env changes nothing: its values are the development defaults."""
    example, _ = read_env_file(ENV_EXAMPLE)
    assert interpolate_all(compose, example) == compose_dev


# --- the mail catcher and the profiles ----------------------------------------------------


def test_notifications_send_to_the_mail_catcher_by_default(compose_dev: dict[str, Any]) -> None:
    s6 = compose_dev["services"]["s6-notifications"]
    sink = compose_dev["services"][MAIL_SINK]
    assert (s6["environment"]["SMTP_HOST"], s6["environment"]["SMTP_PORT"]) == (
        MAIL_SINK,
        sink["environment"]["MAIL_SINK_SMTP_PORT"],
    )
    assert s6["environment"]["SMTP_SECURITY"] == "none"
    assert _depends_on(s6)[MAIL_SINK] == {"condition": "service_healthy"}
    assert not sink.get("ports") and not sink.get("profiles"), "the catcher runs, unpublished"
    volume = sink["volumes"][0].split(":")
    assert volume[0] in compose_dev["volumes"] and sink["environment"]["MAIL_SINK_DIR"].startswith(volume[1])


def test_the_mail_view_is_published_on_loopback_in_the_dev_profile_only(compose_dev: dict[str, Any]) -> None:
    web = compose_dev["services"][MAIL_SINK_WEB]
    assert web["profiles"] == ["dev"]
    (mapping,) = web["ports"]
    host_ip, host_port, target = str(mapping).split(":")
    assert host_port == "8025"
    assert host_ip == "127.0.0.1" and target == web["environment"]["PORT"]
    assert web["environment"]["MAIL_SINK_URL"] == f"http://{MAIL_SINK}:8025"
    assert web["command"][-1] == "helpdesk_fleet.sinks.webview"


def test_nothing_but_the_gateway_and_the_web_client_is_published_by_default(compose_dev: dict[str, Any]) -> None:
    published = {name for name, body in _default_services(compose_dev).items() if body.get("ports")}
    assert published == {"gateway", WEB_CLIENT}
    for name, body in compose_dev["services"].items():
        if body.get("profiles") and body.get("ports"):
            assert all(str(p).startswith("127.0.0.1:") for p in body["ports"]), f"{name}: loopback only"


def test_the_scale_profile_runs_a_second_registering_instance_of_each_stateless_service(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    for name, body in _app_services(compose).items():
        replica = services.get(f"{name}-2")
        if name in NOT_REPLICATED:
            assert replica is None, f"{name} must run once"
            continue
        assert replica is not None, f"the scale profile has no second {name}"
        assert replica["profiles"] == ["scale"]
        assert (replica["build"], replica["image"]) == (body["build"], body["image"])
        assert replica["environment"]["ADVERTISE_HOST"] == f"{name}-2", "each registers its own address"
        assert {k: v for k, v in replica["environment"].items() if k != "ADVERTISE_HOST"} == {
            k: v for k, v in body["environment"].items() if k != "ADVERTISE_HOST"
        }
        assert _depends_on(replica) == _depends_on(body), "a replica waits for what the first waits for"
        assert not replica.get("ports")
        assert replica.get("volumes", []) == body.get("volumes", []), "replicas share the named volumes"
