"""A small kustomize: renders infra/k8s's base and overlays offline, for the checks.

It implements exactly the part of the Kustomization format infra/k8s uses (resources as files
or folders, namespace, labels without selectors, configMapGenerator from env files and
literals with create/merge behaviour, generatorOptions.disableNameSuffixHash, images, and
patches that delete a whole resource) and refuses anything else, so a manifest that starts
using more fails here loudly rather than being checked half-way. `kubectl apply -k` (kustomize
proper) renders the same objects.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from .conftest import read_env_file

SUPPORTED = {
    "apiVersion",
    "kind",
    "resources",
    "namespace",
    "labels",
    "configMapGenerator",
    "generatorOptions",
    "images",
    "patches",
}
CLUSTER_SCOPED = {"Namespace"}


def _key(resource: dict[str, Any]) -> tuple[str, str]:
    return resource["kind"], resource["metadata"]["name"]


def _config_map(generator: dict[str, Any], folder: Path) -> dict[str, str]:
    unknown = set(generator) - {"name", "envs", "literals", "behavior"}
    assert not unknown, f"{folder}: configMapGenerator {generator['name']}: unsupported {sorted(unknown)}"
    data: dict[str, str] = {}
    for env in generator.get("envs", []):
        values, _unset = read_env_file(folder / env)
        data |= values
    for literal in generator.get("literals", []):
        key, sep, value = literal.partition("=")
        assert sep, f"{folder}: literal {literal!r} is not KEY=value"
        data[key] = value
    return data


def _set_image(container: dict[str, Any], images: list[dict[str, str]]) -> None:
    name, _, tag = container["image"].partition(":")
    for image in images:
        if image["name"] == name:
            container["image"] = f"{image.get('newName', name)}:{image.get('newTag', tag)}"


def render(folder: Path) -> list[dict[str, Any]]:
    """The objects `kubectl kustomize <folder>` prints, in order."""
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    unknown = set(kustomization) - SUPPORTED
    assert not unknown, f"{folder}/kustomization.yaml uses {sorted(unknown)}, which infra/tests/kustomize.py lacks"
    resources: list[dict[str, Any]] = []
    for entry in kustomization.get("resources", []):
        path = (folder / entry).resolve()
        if path.is_dir():
            resources += render(path)
        else:
            resources += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]

    options = kustomization.get("generatorOptions", {})
    if kustomization.get("configMapGenerator"):
        assert options.get("disableNameSuffixHash") is True, "name suffix hashes are not reproduced here"
    by_key = {_key(r): r for r in resources}
    for generator in kustomization.get("configMapGenerator", []):
        data = _config_map(generator, folder)
        behavior = generator.get("behavior", "create")
        existing = by_key.get(("ConfigMap", generator["name"]))
        if behavior == "create":
            assert existing is None, f"ConfigMap {generator['name']} already exists (use behavior: merge)"
            made = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": generator["name"]}, "data": data}
            resources.append(made)
            by_key[_key(made)] = made
        else:
            assert existing is not None, f"behavior {behavior}: no ConfigMap {generator['name']} to change"
            existing["data"] = data if behavior == "replace" else {**existing.get("data", {}), **data}

    for patch in kustomization.get("patches", []):
        assert set(patch) == {"patch"}, f"{folder}: only inline patches are supported"
        body = yaml.safe_load(patch["patch"])
        assert body.pop("$patch", None) == "delete", f"{folder}: only `$patch: delete` patches are supported"
        key = _key(body)
        assert key in by_key, f"{folder}: the patch deletes {key}, which is not there"
        resources.remove(by_key.pop(key))

    resources = copy.deepcopy(resources)
    for label in kustomization.get("labels", []):
        assert not label.get("includeSelectors") and not label.get("includeTemplates"), "labels: metadata only"
        for resource in resources:
            resource["metadata"].setdefault("labels", {}).update(label["pairs"])
    for resource in resources:
        if "namespace" in kustomization and resource["kind"] not in CLUSTER_SCOPED:
            resource["metadata"]["namespace"] = kustomization["namespace"]
        if resource["kind"] == "Deployment":
            for container in resource["spec"]["template"]["spec"]["containers"]:
                _set_image(container, kustomization.get("images", []))
    return resources
