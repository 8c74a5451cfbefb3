"""The Grafana dashboards in deploy/grafana/dashboards hold together: the five the operations issue asks for
exist, every query parses as PromQL (promtool checks them as recording rules), panels have unique ids and
fit the grid, every query reads the provisioned Prometheus, the order pipeline has a row per hop with that
hop's lag and outbox, and the per-shop view filters every query by its shop variable."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "deploy/grafana/dashboards"
REQUIRED = (
    "faka-business",
    "faka-order-pipeline",
    "faka-kafka-outbox",
    "faka-suppliers-channels",
    "faka-shop",
)
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__range": "1h", "$shop": "0"}


def boards() -> dict[str, dict[str, Any]]:
    return {path.stem: json.loads(path.read_text()) for path in sorted(DASHBOARDS.glob("*.json"))}


def targets(board: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for panel in board["panels"] for t in panel.get("targets", [])]


def test_the_dashboards_the_operations_issue_asks_for_exist_with_their_own_uids() -> None:
    found = boards()
    assert set(REQUIRED) <= set(found)
    assert {name: board["uid"] for name, board in found.items() if board["uid"] != name} == {}


def test_every_dashboard_query_parses_as_promql(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "no promtool: deploy/local/infra.sh install puts it there (Debian's prometheus package)"
    rules = []
    for name, board in boards().items():
        for n, target in enumerate(targets(board)):
            expr = target["expr"]
            for variable, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(variable, value)
            rules.append({"record": f"dashboard:{name.replace('-', '_')}:{n}", "expr": expr})
    path = tmp_path / "dashboards.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    checked = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize("name", REQUIRED)
def test_panels_have_unique_ids_fit_the_grid_and_read_the_provisioned_prometheus(name: str) -> None:
    board = boards()[name]
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
    provisioned = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text()
    )
    uids = {source["uid"] for source in provisioned["datasources"]}
    assert targets(board) and {t["datasource"]["uid"] for t in targets(board)} <= uids


def test_the_order_pipeline_has_a_row_per_hop_with_its_lag_and_outbox() -> None:
    panels = boards()["faka-order-pipeline"]["panels"]
    rows = [i for i, panel in enumerate(panels) if panel["type"] == "row"]
    assert len(rows) >= 6
    for start, end in zip(rows, [*rows[1:], len(panels)], strict=True):
        exprs = " ".join(t["expr"] for panel in panels[start + 1 : end] for t in panel.get("targets", []))
        for metric in ("faka_order_transitions_total", "faka_consumer_lag", "faka_outbox_oldest_age_seconds"):
            assert metric in exprs, f"{panels[start]['title']}: no {metric}"


def test_the_shop_view_filters_every_query_by_its_shop_variable() -> None:
    board = boards()["faka-shop"]
    [variable] = board["templating"]["list"]
    assert variable["name"] == "shop" and "faka_shop_orders_total" in variable["definition"]
    assert all(re.search(r'shop="\$shop"', t["expr"]) for t in targets(board))
