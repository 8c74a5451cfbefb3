"""The Kubernetes manifests as kustomize renders them (the real binary, `make tools` installs it), validated
offline against the Kubernetes API schemas in strict mode (kubernetes-validate: an unknown or misspelt field
fails), KEDA's ScaledObjects against KEDA's own CRD schema; every overlay, and the base with every
component at once."""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from .test_manifests import K8S, OVERLAYS, ROOT

#: The oldest Kubernetes minor the manifests are held to (CronJob time zones are GA from 1.27).
KUBERNETES_VERSION = "1.30.0"
STATE = Path(os.environ.get("STATE", ROOT / ".state"))
KEDA_CRD = STATE / "crds" / "keda.sh_scaledobjects.yaml"
#: Kinds of operators the platform expects (Strimzi, the Prometheus Operator) whose schemas are not
#: available offline: only these may go without a schema check (test_manifests.py checks their shape).
UNCHECKED_KINDS = {
    ("kafka.strimzi.io/v1beta2", "KafkaTopic"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
}


def kustomize() -> str:
    found = os.environ.get("FAKA_KUSTOMIZE") or (
        str(STATE / "bin" / "kustomize")
        if (STATE / "bin" / "kustomize").is_file()
        else shutil.which("kustomize")
    )
    if not found:
        pytest.fail(
            "kustomize is not installed: `make tools` (part of `make test`) installs it into .state/bin"
        )
    return found


def render(directory: Path) -> list[dict[str, Any]]:
    built = subprocess.run(
        [kustomize(), "build", "--load-restrictor", "LoadRestrictionsNone", str(directory)],
        check=False,
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr
    return [doc for doc in yaml.safe_load_all(built.stdout) if doc]


def everything_overlay(target: Path) -> Path:
    """A kustomization of the base with every component (what any overlay may add), in `target`."""
    relative = Path(os.path.relpath(K8S, target))
    components = sorted(path.name for path in (K8S / "components").iterdir() if path.is_dir())
    (target / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "namespace": "faka",
                "resources": [str(relative / "base")],
                "components": [str(relative / "components" / name) for name in components],
            }
        )
    )
    return target


def strict(schema: Any) -> Any:
    """A CRD's OpenAPI schema that refuses unknown fields (as the API server's pruning would drop them)."""
    if isinstance(schema, dict):
        out = {key: strict(value) for key, value in schema.items()}
        if "properties" in out and not schema.get("x-kubernetes-preserve-unknown-fields"):
            out.setdefault("additionalProperties", False)
        return out
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    return schema


@cache
def keda_schema() -> dict[str, Any]:
    if not KEDA_CRD.is_file():
        pytest.fail(f"{KEDA_CRD} is missing: `make tools` (part of `make test`) fetches KEDA's CRD")
    crd = yaml.safe_load(KEDA_CRD.read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1"]
    schema: dict[str, Any] = strict(version["schema"]["openAPIV3Schema"])
    return schema


def problems(docs: list[dict[str, Any]]) -> list[str]:
    found = []
    for doc in docs:
        kind = (doc["apiVersion"], doc["kind"])
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        if kind == ("keda.sh/v1alpha1", "ScaledObject"):
            error = jsonschema.exceptions.best_match(
                jsonschema.Draft7Validator(keda_schema()).iter_errors(doc)
            )
            if error is not None:
                found.append(f"{name}: {error.message} at {list(error.absolute_path)}")
            continue
        if kind in UNCHECKED_KINDS:
            continue
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            found.append(f"{name}: no schema for {kind} (a new operator kind? add it to UNCHECKED_KINDS)")
        except kubernetes_validate.ValidationError as error:
            found.append(f"{name}: {error.message} at {list(error.path)}")
    return found


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_overlay_renders_to_valid_kubernetes_objects(overlay: str) -> None:
    docs = render(K8S / "overlays" / overlay)
    assert {doc["kind"] for doc in docs} >= {"Deployment", "Service", "ConfigMap", "KafkaTopic"}
    assert problems(docs) == []


def test_the_base_with_every_component_renders_to_valid_kubernetes_objects(tmp_path: Path) -> None:
    docs = render(everything_overlay(tmp_path))
    kinds = {doc["kind"] for doc in docs}
    assert {"CronJob", "ScaledObject", "PrometheusRule", "NetworkPolicy"} <= kinds
    assert problems(docs) == []


def test_the_validation_finds_a_misspelt_field_and_a_wrong_type() -> None:
    docs = render(K8S / "overlays" / "dev")
    (deployment,) = [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "order"]
    misspelt = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    scaled = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": "order"},
        "spec": {"scaleTargetRef": {"name": "order"}, "minReplicaCount": "three", "triggers": []},
    }
    found = problems([misspelt, scaled])
    assert len(found) == 2, found
    assert "replica" in found[0] and "Deployment/order" in found[0]
    assert found[1].startswith("ScaledObject/order")
