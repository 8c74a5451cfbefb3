"""The Kubernetes monitoring component (deploy/k8s/components/monitoring): its PrometheusRule and dashboard
ConfigMaps are what render.py makes of deploy/prometheus and deploy/grafana, its ServiceMonitor scrapes every
faka Service with the labels the rules expect, and each ConfigMap stays under kubectl apply's limit."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import yaml

from .test_rendered_manifests import render

ROOT = Path(__file__).resolve().parents[2]
COMPONENT = ROOT / "deploy/k8s/components/monitoring"
LAST_APPLIED_LIMIT = 262_144  # bytes kubectl apply can keep in its last-applied-configuration annotation


def docs(name: str) -> list[dict]:  # type: ignore[type-arg]
    return [doc for doc in yaml.safe_load_all((COMPONENT / name).read_text()) if doc]


def test_the_rendered_rule_and_dashboards_match_their_sources() -> None:
    spec = importlib.util.spec_from_file_location("render", COMPONENT / "render.py")
    assert spec is not None and spec.loader is not None
    render = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(render)
    assert render.main(check=True) == 0, "stale: python deploy/k8s/components/monitoring/render.py"
    [rule] = docs("prometheusrule.yaml")
    sources = sorted((ROOT / "deploy/prometheus/rules").glob("*.yml"))
    assert rule["spec"]["groups"] == [g for p in sources for g in yaml.safe_load(p.read_text())["groups"]]
    boards = {p.name for p in (ROOT / "deploy/grafana/dashboards").glob("*.json")}
    assert {key for cm in docs("dashboards.yaml") for key in cm["data"]} == boards


def test_the_component_lists_its_files() -> None:
    kustomization = yaml.safe_load((COMPONENT / "kustomization.yaml").read_text())
    assert kustomization["kind"] == "Component"
    assert sorted(kustomization["resources"]) == [
        "dashboards.yaml",
        "prometheusrule.yaml",
        "servicemonitor.yaml",
    ]


def test_the_service_monitor_scrapes_every_faka_service_labelled_as_the_rules_expect() -> None:
    [monitor] = docs("servicemonitor.yaml")
    selector = monitor["spec"]["selector"]["matchLabels"]
    services = [
        doc
        for path in (ROOT / "deploy/k8s/base").glob("*.yaml")
        for doc in yaml.safe_load_all(path.read_text())
        if doc and doc["kind"] == "Service"
    ]
    assert len(services) == 8
    [endpoint] = monitor["spec"]["endpoints"]
    for service in services:
        labels = service["metadata"]["labels"]
        assert all(labels.get(k) == v for k, v in selector.items()), service["metadata"]["name"]
        assert endpoint["port"] in {port["name"] for port in service["spec"]["ports"]}
    relabel = {r.get("targetLabel", r.get("regex")): r for r in endpoint["relabelings"]}
    assert relabel["app"]["sourceLabels"] == ["__meta_kubernetes_service_label_app_kubernetes_io_name"]
    assert relabel["job"]["replacement"] == "faka" and relabel["service"]["action"] == "labeldrop"


def test_each_dashboard_config_map_fits_kubectl_apply() -> None:
    for config_map in docs("dashboards.yaml"):
        assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert len(yaml.safe_dump(config_map).encode()) < LAST_APPLIED_LIMIT, config_map["metadata"]["name"]


def test_production_with_monitoring_builds_with_kustomize(tmp_path: Path) -> None:
    k8s = os.path.relpath(ROOT / "deploy/k8s", tmp_path)
    (tmp_path / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "namespace": "faka",
                "resources": [f"{k8s}/overlays/production"],
                "components": [f"{k8s}/components/allow-monitoring", f"{k8s}/components/monitoring"],
            }
        )
    )
    rendered = render(tmp_path)
    kinds = [doc["kind"] for doc in rendered]
    assert kinds.count("ServiceMonitor") == 1 and kinds.count("PrometheusRule") == 1
    boards = len(list((ROOT / "deploy/grafana/dashboards").glob("*.json")))
    dashboards = [
        doc
        for doc in rendered
        if doc["kind"] == "ConfigMap" and "grafana_dashboard" in doc["metadata"].get("labels", {})
    ]
    assert len(dashboards) == boards and all(d["metadata"]["namespace"] == "faka" for d in dashboards)
