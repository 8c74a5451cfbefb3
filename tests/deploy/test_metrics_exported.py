"""Every metric an alert rule or a Grafana dashboard names is exported by a service: each service's app is
imported as its process imports it (`<svc>.entrypoints.app`, in a process of its own) and its /metrics is
read in-process; and each business metric comes from the service that owns it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("gateway", "order", "inventory", "delivery", "risk", "commission", "notification", "merchant")
METRIC = re.compile(r"\bfaka_[a-z0-9_]+")
SCRAPE = """
import asyncio, json, sys, httpx
from importlib import import_module
from prometheus_client import REGISTRY
app = import_module(sys.argv[1] + ".entrypoints.app").app
async def scrape():
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc") as client:
        response = await client.get("/metrics")
        response.raise_for_status()
        return response.text
labels = {getattr(c, "_name", ""): list(getattr(c, "_labelnames", ())) for c in REGISTRY._collector_to_names}
json.dump({"text": asyncio.run(scrape()), "labels": labels}, sys.stdout)
"""
#: Labels that would make a series per order, buyer or key: never a label of any faka metric.
UNBOUNDED = {"order_id", "order_no", "email", "buyer_email", "buyer", "ip", "buyer_ip", "key_id", "trade_no"}
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}

#: The business metrics and the service that must export them (its adapters/metrics.py).
OWNERS = {
    "faka_order_transitions_total": "order",
    "faka_shop_orders_total": "order",
    "faka_gmv_minor_units_total": "order",
    "faka_order_fulfilments_total": "order",
    "faka_order_paid_to_delivered_seconds_bucket": "order",
    "faka_payment_discrepancies_total": "order",
    "faka_reconciliation_orders_total": "order",
    "faka_supplier_attempts_total": "delivery",
    "faka_supplier_call_seconds_bucket": "delivery",
    "faka_delivery_attention_total": "delivery",
    "faka_delivery_delayed_total": "delivery",
    "faka_supplier_breaker_open": "delivery",
    "faka_supplier_ledger_entries": "delivery",
    "faka_supplier_ledger_amount": "delivery",
    "faka_risk_decisions_total": "risk",
    "faka_risk_rules_fired_total": "risk",
    "faka_low_stock_alerts_total": "inventory",
    "faka_low_stock_products": "inventory",
    "faka_key_replacements_total": "inventory",
    "faka_tickets_opened_total": "delivery",
    "faka_notifications_total": "notification",
    "faka_notification_channel_breaker_open": "notification",
}


def scrape(service: str) -> dict[str, Any]:
    env = {**os.environ, "ENVIRONMENT": "development", "OTEL_SDK_DISABLED": "true"}
    done = subprocess.run(
        [sys.executable, "-c", SCRAPE, service],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, f"{service}: {done.stderr[-3000:]}"
    scraped: dict[str, Any] = json.loads(done.stdout)
    return scraped


@cache
def scraped() -> dict[str, dict[str, Any]]:
    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(SERVICES, pool.map(scrape, SERVICES), strict=True))


def exported() -> dict[str, set[str]]:
    """Per service, every sample name its /metrics can carry (a labelled metric shows before first use)."""
    return {
        service: {
            family.name + suffix
            for family in text_string_to_metric_families(found["text"])
            for suffix in SUFFIXES.get(family.type, ("",))
        }
        for service, found in scraped().items()
    }


def used_in_rules() -> set[str]:
    rules = [
        rule["expr"]
        for path in (ROOT / "deploy/prometheus/rules").glob("*.yml")
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    ]
    return {name for expr in rules for name in METRIC.findall(expr)}


def used_in_dashboards() -> dict[str, set[str]]:
    used: dict[str, set[str]] = {}
    for path in sorted((ROOT / "deploy/grafana/dashboards").glob("*.json")):
        board = json.loads(path.read_text())
        expressions = [t["expr"] for panel in board["panels"] for t in panel.get("targets", [])]
        expressions += [v.get("definition", "") for v in board.get("templating", {}).get("list", [])]
        used[path.name] = {name for expr in expressions for name in METRIC.findall(expr)}
    return used


def test_every_metric_an_alert_rule_names_is_exported_by_a_service() -> None:
    everywhere = set().union(*exported().values())
    assert used_in_rules()
    assert used_in_rules() - everywhere == set()


def test_every_metric_a_dashboard_names_is_exported_by_a_service() -> None:
    everywhere = set().union(*exported().values())
    missing = {board: names - everywhere for board, names in used_in_dashboards().items()}
    assert all(missing[board] == set() for board in missing), missing


def test_each_business_metric_is_exported_by_the_service_that_owns_it() -> None:
    assert {name: service for name, service in OWNERS.items() if name not in exported()[service]} == {}


def test_every_service_exports_http_responses_handler_time_its_outbox_and_pool() -> None:
    shared = {
        "faka_http_responses_total",
        "faka_outbox_oldest_age_seconds",
        "faka_consumer_handler_seconds_bucket",
        "faka_db_pool_in_use",
    }
    assert {service: shared - names for service, names in exported().items() if shared - names} == {}


def test_no_metric_of_any_service_has_a_label_per_order_buyer_or_key() -> None:
    labelled = {
        (service, name): set(labels) & UNBOUNDED
        for service, found in scraped().items()
        for name, labels in found["labels"].items()
    }
    assert len(labelled) > 20
    assert {where: names for where, names in labelled.items() if names} == {}
