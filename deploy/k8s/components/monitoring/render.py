"""Writes this component's PrometheusRule and Grafana dashboard ConfigMaps from their sources,
deploy/prometheus/rules/*.yml and deploy/grafana/dashboards/*.json (kustomize reads no file outside a
component's folder). `python deploy/k8s/components/monitoring/render.py --check` fails when they differ."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
DEPLOY = HERE.parents[2]
HEADER = "# Written by render.py from {source}: edit the source and run it again.\n"


class _Literal(yaml.SafeDumper):
    """Multi-line strings (runbooks, dashboards) as literal blocks: the files read like their sources."""


def _text(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|" if "\n" in text else None)


_Literal.add_representer(str, _text)


def _dump(docs: list[dict[str, Any]]) -> str:
    return yaml.dump_all(docs, Dumper=_Literal, sort_keys=False, width=120, allow_unicode=True)


def prometheus_rule() -> str:
    groups = [
        group
        for path in sorted((DEPLOY / "prometheus/rules").glob("*.yml"))
        for group in yaml.safe_load(path.read_text())["groups"]
    ]
    rule = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "faka", "labels": {"app.kubernetes.io/part-of": "faka"}},
        "spec": {"groups": groups},
    }
    return HEADER.format(source="deploy/prometheus/rules/*.yml") + _dump([rule])


def dashboards() -> str:
    maps = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": f"grafana-dashboard-{path.stem}",
                # the label Grafana's dashboard sidecar (kube-prometheus-stack, the grafana chart) looks for
                "labels": {"grafana_dashboard": "1", "app.kubernetes.io/part-of": "faka"},
            },
            "data": {path.name: path.read_text()},
        }
        for path in sorted((DEPLOY / "grafana/dashboards").glob("*.json"))
    ]
    return HEADER.format(source="deploy/grafana/dashboards/*.json") + _dump(maps)


RENDERED = {"prometheusrule.yaml": prometheus_rule, "dashboards.yaml": dashboards}


def main(check: bool) -> int:
    stale = []
    for name, render in RENDERED.items():
        text = render()
        if (HERE / name).exists() and (HERE / name).read_text() == text:
            continue
        stale.append(name)
        if not check:
            (HERE / name).write_text(text)
    if check and stale:
        print(f"stale: {', '.join(stale)}; run: python {Path(__file__).relative_to(DEPLOY.parent)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main("--check" in sys.argv[1:]))
