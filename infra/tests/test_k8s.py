"""infra/k8s, checked without a cluster: the base and the production overlay rendered (a small
kustomize, infra/tests/kustomize.py), validated with kubernetes-validate --strict against the
Kubernetes version below (schemas bundled in the package: nothing is fetched), and held to
the project's rules: a Deployment and Service per service, probes, resources, the restricted
security profile, every setting a service reads from its ConfigMaps or the Secret, no
credential in the repository, a PodDisruptionBudget and an autoscaler for the stateless ones."""

from __future__ import annotations

import copy
import importlib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from pydantic_settings import BaseSettings

from helpdesk_common.settings import is_placeholder_secret, is_secret_setting

from .conftest import (
    CONTAINER_SERVICES,
    REPO_ROOT,
    SETTINGS_DIR,
    WEB_CLIENT,
    ContainerService,
    read_env_file,
    settings_fields,
)
from .kustomize import render

# The oldest Kubernetes these manifests are validated for (supported by every major managed
# offering through 2026); every API they use is GA there.
KUBERNETES_VERSION = "1.33.0"
K8S = REPO_ROOT / "infra" / "k8s"
BASE, PRODUCTION = K8S / "base", K8S / "overlays" / "production"
SECRET_NAME = "helpdesk-secrets"
# In memory and single-instance by design; S5 keeps files on a ReadWriteOnce volume.
SINGLE_INSTANCE = {"s3-registry", "s5-media"}
IDENTITY_SETTINGS = {"SERVICE_NAME"}


def _by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


@pytest.fixture(scope="module", params=["base", "production"])
def rendered(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return render(BASE if request.param == "base" else PRODUCTION)


@pytest.fixture(scope="module")
def base() -> list[dict[str, Any]]:
    return render(BASE)


@pytest.fixture(scope="module")
def production() -> list[dict[str, Any]]:
    return render(PRODUCTION)


def _container(objects: list[dict[str, Any]], name: str) -> dict[str, Any]:
    deployment = _by_kind(objects, "Deployment")[name]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def _settings_class(service: ContainerService) -> type[BaseSettings]:
    settings: type[BaseSettings] = importlib.import_module(f"{service.module}.settings").Settings
    return settings


# --- valid Kubernetes --------------------------------------------------------------------------


def test_every_object_is_valid_for_the_pinned_kubernetes_version(rendered: list[dict[str, Any]]) -> None:
    errors = []
    for obj in rendered:
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{obj['kind']}/{obj['metadata']['name']}: {exc.message} at {list(exc.path)}")
    assert not errors, "\n".join(errors)


def test_validation_is_strict_and_not_vacuous(base: list[dict[str, Any]]) -> None:
    deployment = copy.deepcopy(_by_kind(base, "Deployment")["s2-tickets"])
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessprobe"] = {}  # a typo: unknown field
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)
    deployment = copy.deepcopy(_by_kind(base, "Deployment")["s2-tickets"])
    deployment["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


# --- every service ----------------------------------------------------------------------------


def test_every_service_and_the_web_client_has_a_deployment_and_a_service(rendered: list[dict[str, Any]]) -> None:
    names = {s.name for s in CONTAINER_SERVICES} | {WEB_CLIENT}
    assert set(_by_kind(rendered, "Deployment")) == names
    services = _by_kind(rendered, "Service")
    assert names <= set(services)
    for name in names:
        container = _container(rendered, name)
        (port,) = container["ports"]
        (service_port,) = services[name]["spec"]["ports"]
        assert service_port["port"] == port["containerPort"] and service_port["targetPort"] == port["name"]
        assert services[name]["spec"]["selector"] == {"app.kubernetes.io/name": name}


def test_ports_and_probes_follow_the_contract(rendered: list[dict[str, Any]], service: ContainerService) -> None:
    container = _container(rendered, service.name)
    assert container["ports"] == [{"name": "http", "containerPort": service.port}]
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    startup = container["startupProbe"]
    # Migrations (waiting up to 120 s for another service's) run before the server answers.
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 120


def test_resources_are_requested_and_limited(rendered: list[dict[str, Any]]) -> None:
    units = {"Mi": 1, "Gi": 1024}
    for name in _by_kind(rendered, "Deployment"):
        resources = _container(rendered, name)["resources"]
        requests, limits = resources["requests"], resources["limits"]
        assert {"cpu", "memory"} <= set(requests) and {"cpu", "memory"} <= set(limits), name
        request_mib = int(requests["memory"][:-2]) * units[requests["memory"][-2:]]
        limit_mib = int(limits["memory"][:-2]) * units[limits["memory"][-2:]]
        assert request_mib <= limit_mib, name


def test_every_pod_runs_restricted(rendered: list[dict[str, Any]]) -> None:
    for name, deployment in _by_kind(rendered, "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert pod["automountServiceAccountToken"] is False, name
        (container,) = pod["containers"]
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True, name
        assert security["allowPrivilegeEscalation"] is False, name
        assert security["capabilities"] == {"drop": ["ALL"]}, name
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert "emptyDir" in volumes[mounts["/tmp"]], f"{name}: scratch space on an emptyDir"  # noqa: S108


def test_media_is_on_the_claim_and_s5_runs_one_pod_at_a_time(rendered: list[dict[str, Any]]) -> None:
    claim = _by_kind(rendered, "PersistentVolumeClaim")["media"]
    deployment = _by_kind(rendered, "Deployment")["s5-media"]
    pod = deployment["spec"]["template"]["spec"]
    (volume,) = [v for v in pod["volumes"] if "persistentVolumeClaim" in v]
    assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    (mount,) = [m for m in pod["containers"][0]["volumeMounts"] if m["name"] == volume["name"]]
    media_dir = _by_kind(rendered, "ConfigMap")["s5-media-settings"]["data"]["MEDIA_DIR"]
    assert Path(media_dir).is_relative_to(mount["mountPath"])
    if claim["spec"]["accessModes"] == ["ReadWriteOnce"]:
        assert deployment["spec"]["replicas"] == 1 and deployment["spec"]["strategy"]["type"] == "Recreate"


def test_the_registry_runs_exactly_once(rendered: list[dict[str, Any]]) -> None:
    registry = _by_kind(rendered, "Deployment")["s3-registry"]
    assert registry["spec"]["replicas"] == 1 and registry["spec"]["strategy"]["type"] == "Recreate"
    assert "s3-registry" not in _by_kind(rendered, "HorizontalPodAutoscaler")


def test_stateless_services_have_a_disruption_budget_and_an_autoscaler(rendered: list[dict[str, Any]]) -> None:
    deployments = _by_kind(rendered, "Deployment")
    budgets, autoscalers = _by_kind(rendered, "PodDisruptionBudget"), _by_kind(rendered, "HorizontalPodAutoscaler")
    for name, deployment in deployments.items():
        if name in SINGLE_INSTANCE:
            assert name not in budgets and name not in autoscalers, name
            continue
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        budget = budgets[name]["spec"]
        assert budget["selector"]["matchLabels"].items() <= labels.items(), name
        assert budget["minAvailable"] < deployment["spec"]["replicas"], f"{name}: a node drain must be possible"
        autoscaler = autoscalers[name]["spec"]
        assert autoscaler["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        assert 2 <= autoscaler["minReplicas"] <= deployment["spec"]["replicas"] <= autoscaler["maxReplicas"]
        assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0, name


# --- settings and secrets -----------------------------------------------------------------------


def _pod_environment(objects: list[dict[str, Any]], name: str) -> tuple[dict[str, str], set[str], set[str]]:
    """What a service's container reads: ConfigMap values (envFrom), the Secret's keys it
    references, and the other variables set on it."""
    container = _container(objects, name)
    config_maps = _by_kind(objects, "ConfigMap")
    values: dict[str, str] = {}
    for source in container.get("envFrom", []):
        assert "configMapRef" in source, f"{name}: envFrom only ConfigMaps (Secret keys one by one)"
        values |= config_maps[source["configMapRef"]["name"]]["data"]
    from_secret, other = set(), set()
    for variable in container.get("env", []):
        reference = variable.get("valueFrom", {}).get("secretKeyRef")
        if reference is not None:
            assert reference["name"] == SECRET_NAME and reference["key"] == variable["name"], variable
            from_secret.add(variable["name"])
        else:
            assert "value" not in variable or not is_secret_setting(variable["name"]), f"{name}: literal secret"
            other.add(variable["name"])
    return values, from_secret, other


def _unset_on_purpose(service: ContainerService) -> set[str]:
    return read_env_file(SETTINGS_DIR / "shared.env")[1] | read_env_file(SETTINGS_DIR / f"{service.name}.env")[1]


def test_every_setting_a_service_reads_is_set_in_its_config_maps_or_the_secret(
    rendered: list[dict[str, Any]], service: ContainerService
) -> None:
    """Derived from the settings class, like compose's check: a new setting fails here until the
    manifests give it (a credential: from the Secret; anything else: in its settings file)."""
    settings_class = _settings_class(service)
    values, from_secret, other = _pod_environment(rendered, service.name)
    unset = _unset_on_purpose(service)
    missing = []
    given = set(values) | from_secret | other | unset
    for field, names in settings_fields(settings_class).items():
        info = settings_class.model_fields[field]
        variable = min(sorted(names), key=len)  # PORT rather than GATEWAY_PORT
        if names & (IDENTITY_SETTINGS | given):
            continue
        if variable == "DB_URL" and not service.spec.uses_database:
            continue  # no database credentials where no database is used (the registry, the gateway)
        if is_secret_setting(variable, info.annotation):
            where = (
                f"infra/k8s/base/{service.name}.yaml: env {variable} from secretKeyRef {SECRET_NAME}/{variable} "
                f"(and the key in infra/k8s/base/secrets.yaml, or `optional: true`)"
            )
        else:
            where = f"infra/k8s/base/settings/{service.name}.env as {variable}=<value> (or `# {variable}=`)"
        missing.append(f"{variable} ({settings_class.__module__}.Settings.{field}): set it in {where}")
    assert not missing, f"{service.name} reads settings its pod does not get:\n" + "\n".join(missing)


def test_credentials_come_only_from_the_secret(rendered: list[dict[str, Any]]) -> None:
    for name, config_map in _by_kind(rendered, "ConfigMap").items():
        leaked = [key for key in config_map.get("data", {}) if is_secret_setting(key)]
        assert not leaked, f"ConfigMap {name} holds credentials {leaked}: they belong in {SECRET_NAME}"


def test_every_secret_key_a_pod_needs_is_in_the_base_secret_or_optional(base: list[dict[str, Any]]) -> None:
    secret = _by_kind(base, "Secret")[SECRET_NAME]
    for name, deployment in _by_kind(base, "Deployment").items():
        for variable in deployment["spec"]["template"]["spec"]["containers"][0].get("env", []):
            reference = variable.get("valueFrom", {}).get("secretKeyRef")
            if reference is not None and not reference.get("optional"):
                assert reference["key"] in secret["stringData"], f"{name} needs {reference['key']}"


def test_the_base_secret_holds_only_refused_placeholders(base: list[dict[str, Any]]) -> None:
    for key, value in _by_kind(base, "Secret")[SECRET_NAME]["stringData"].items():
        assert is_placeholder_secret(value) or "change-me" in value, f"{key}: only development placeholders here"


def test_production_ships_no_secret_and_refuses_the_base_defaults(production: list[dict[str, Any]]) -> None:
    assert not _by_kind(production, "Secret"), "production's credentials are made in the cluster, not here"
    shared = _by_kind(production, "ConfigMap")["helpdesk-shared"]["data"]
    assert shared["ENVIRONMENT"] == "production"
    for name in _by_kind(production, "Deployment"):
        image = _container(production, name)["image"]
        assert not image.endswith(":dev") and not image.startswith("helpdesk/"), f"{name}: a released image"
    assert {o["metadata"].get("namespace") for o in production if o["kind"] != "Namespace"} == {"helpdesk"}


def test_production_settings_start_every_service(
    production: list[dict[str, Any]], service: ContainerService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The production ConfigMaps plus real secrets (what the operator's Secret holds) make
    settings each service accepts in production."""
    settings_class = _settings_class(service)
    values, from_secret, _ = _pod_environment(production, service.name)
    secrets = {
        "JWT_SECRET": "a-real-jwt-secret-0123456789abcdef",
        "SERVICE_TOKEN": "a-real-service-token-0123456789",
        "DB_URL": "postgresql://helpdesk:a-real-password@db.example.com:5432/ticketdb",
        "ADMIN_PASSWORD": "a-real-admin-password-0123",
    }
    for name in list(settings_class.model_fields):
        monkeypatch.delenv(name.upper(), raising=False)
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    for key in from_secret & set(secrets):
        monkeypatch.setenv(key, secrets[key])
    monkeypatch.setenv("ADVERTISE_HOST", "10.0.0.7")
    settings: Any = settings_class()
    assert settings.environment == "production" and settings.port == service.port
