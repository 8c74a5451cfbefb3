"""Every service renders an AsyncAPI document (what `faststream docs gen` writes) naming what it
consumes and emits."""

import importlib
import subprocess
import sys

import pytest

SERVICES = ("gateway", "order", "inventory", "delivery", "risk", "commission", "notification", "merchant")
EMITS = {
    "order": {"OrderPlaced", "OrderApproved", "OrderPaid", "OrderCancelled", "OrderDelivered"},
    "inventory": {"StockReserved", "StockUnavailable", "KeysAllocated", "AllocationFailed"},
    "risk": {"RiskDecided"},
    "delivery": {"DeliverySucceeded", "DeliveryFailed"},
    "notification": {"NotificationSent"},
    "merchant": {"ShopChanged"},
}


@pytest.mark.parametrize("service", SERVICES)
def test_service_asyncapi_document_lists_what_it_emits(service: str) -> None:
    app = importlib.import_module(f"{service}.entrypoints.app")
    document = app.asyncapi.schema.to_specification().to_jsonable()
    channels = set(document["channels"])
    emitted = {
        name.split(":", 1)[1] for name in channels if name.count(":") == 1 and "." in name.split(":")[0]
    }
    assert EMITS.get(service, set()) <= emitted


def test_faststream_docs_gen_cli_writes_the_document(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "order.json"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "faststream",
            "docs",
            "gen",
            "order.entrypoints.app:asyncapi",
            "--out",
            str(out),
        ],
        check=True,
        capture_output=True,
    )
    assert "OrderPaid" in out.read_text()


def _channels(service: str) -> set[str]:
    app = importlib.import_module(f"{service}.entrypoints.app")
    return set(app.asyncapi.schema.to_specification().to_jsonable()["channels"])


def test_order_delivered_rides_on_a_topic_no_service_consumes() -> None:
    """No service acts on `OrderDelivered`: on `order.events` it woke risk, inventory, delivery and
    notification once a sale for a record each of them skipped. Subscriptions are `<service>:<topic>`."""
    channels = {service: _channels(service) for service in SERVICES}
    assert "order.outcomes:OrderDelivered" in channels["order"]
    assert not any(name.startswith("order.events:OrderDelivered") for name in channels["order"])
    subscribed = {
        name.split(":", 1)[1]
        for service, names in channels.items()
        for name in names
        if name.startswith(f"{service}:")
    }
    assert "order.events" in subscribed  # what the assertion below reads is there
    assert "order.outcomes" not in subscribed
