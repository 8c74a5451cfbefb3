"""An end-to-end sale, paid through the sandbox checkout pages and looked up by password, leaves neither the
order's token, nor its query password, nor the delivered key in any service's log or in any span the
services export (to an OTLP receiver, as to a collector); nor does the admin's console session or a script's
API token. And the spans of a sale form traces across the HTTP and Kafka hops: the checkout's reaches risk
and inventory, the payment notification's reaches the e-mail."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
from faka_common.testing import eventually

from .e2e_platform import SERVICES, Platform, body_text, faka_admin, running_platform
from .otlp_receiver import OtlpReceiver
from .test_sale import create_product, notification, notify, place_order, wait_for_status

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def receiver() -> AsyncIterator[OtlpReceiver]:
    started = OtlpReceiver()
    await started.start()
    yield started
    await started.stop()


@pytest.fixture(scope="module")
async def platform(infrastructure: dict[str, str], receiver: OtlpReceiver) -> AsyncIterator[Platform]:
    # spans exported every 200 ms instead of every 5 s
    exporting = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "200"}
    async with running_platform(infrastructure, **exporting) as running:
        yield running


async def test_a_sale_leaves_no_token_password_or_key_in_the_logs_or_the_spans(
    platform: Platform, receiver: OtlpReceiver
) -> None:
    key = f"LOGCHECK-{uuid.uuid4().hex.upper()}"
    product_id = await create_product(platform, [key], title="Log check")
    email = f"logs-{uuid.uuid4().hex[:6]}@example.com"
    password = f"pw-{uuid.uuid4().hex}"
    async with platform.storefront() as shop:
        placed = await shop.post(
            "/api/v1/orders",
            json={"product_id": product_id, "quantity": 1, "email": email, "query_password": password},
        )
        assert placed.status_code == 201, placed.text
        order = placed.json()
        awaiting = await wait_for_status(platform, order, "awaiting_payment")
        pay_url = urlsplit(awaiting["pay_url"])
        [pay_token] = parse_qs(pay_url.query)["token"]
        by_password = await shop.get(f"/orders/{order['order_no']}", params={"password": password})
        assert by_password.status_code == 200, by_password.text
        checkout = await shop.get(pay_url.path, params={"token": pay_token})
        assert checkout.status_code == 200, checkout.text
        action = unescape(checkout.text.split('<form method="post" action="', 1)[1].split('"', 1)[0])
        paid = await shop.post(action)
        assert paid.status_code == 200, paid.text
        delivered = await wait_for_status(platform, order, "delivered")
        assert [item["content"] for item in delivered["items"]] == [key]
        found = await shop.post("/api/v1/orders/lookup", json={"email": email, "password": password})
        assert [o["order_no"] for o in found.json()["items"]] == [order["order_no"]]

    async def emailed() -> bool:
        return any(key in body_text(m) for m in platform.mailbox.to(email))

    await eventually(emailed, timeout=30)
    assert platform.operator is not None  # an API token made and used: neither it nor the session is logged
    args = ("--shop", "default", "--by", platform.operator.email, "--name", "log check", "--all-scopes")
    api_token = (await faka_admin(platform, "create-api-token", *args))[-1]
    async with platform.storefront() as script:
        used = await script.get("/api/admin/products", headers={"Authorization": f"Bearer {api_token}"})
        assert used.status_code == 200, used.text
    assert platform.operator is not None
    secrets = {"token": order["token"], "pay link token": pay_token, "password": password, "key": key}
    secrets |= {"console session": platform.operator.cookies["faka_session"]}
    secrets |= {"API token": api_token}
    secrets |= {f"{service}'s SERVICE_TOKEN": token for service, token in platform.tokens.items()}
    logs = {service: (platform.logs / f"{service}.log").read_text(errors="replace") for service in SERVICES}
    assert order["order_no"] in "".join(logs.values())  # the logs were written, and mention the order
    leaks = [
        f"{what} in {service}.log"
        for what, value in secrets.items()
        for service, text in logs.items()
        if value in text
    ]
    assert leaks == []

    async def exported() -> bool:  # the e-mail's spans have reached the receiver
        return {"notification", "delivery"} <= {span.service for span in receiver.spans}

    await eventually(exported, timeout=30)
    span_leaks = sorted(
        {
            f"{what} in a span of {span.service} ({span.name}): {span.holding(value)}"
            for what, value in secrets.items()
            for span in receiver.spans
            if value in span.text()
        }
    )
    assert span_leaks == []


async def test_the_spans_of_a_sale_follow_it_across_http_and_kafka(
    platform: Platform, receiver: OtlpReceiver
) -> None:
    product_id = await create_product(platform, [f"TRACE-{uuid.uuid4().hex}"], title="Trace")
    order = await place_order(platform, product_id, f"trace-{uuid.uuid4().hex[:6]}@example.com")
    await wait_for_status(platform, order, "awaiting_payment")
    paid = notification(platform, order)
    assert (await notify(platform, paid)).status_code == 200
    await wait_for_status(platform, order, "delivered")

    def trace_of(method: str, route: str) -> set[str]:
        """The services in the trace of the gateway's request to `route` for this order."""
        for span in receiver.spans:
            target = str(span.attributes.get("http.target") or span.attributes.get("url.path") or "")
            method_of = span.attributes.get("http.method") or span.attributes.get("http.request.method")
            if (
                span.service == "gateway"
                and method_of == method
                and target.startswith(route)
                and not span.parent_id
            ):
                return {s.service for s in receiver.trace(span.trace_id)}
        return set()

    async def checkout_traced() -> bool:
        return {"gateway", "order", "risk", "inventory"} <= trace_of("POST", "/api/v1/orders")

    async def payment_traced() -> bool:
        wanted = {"gateway", "order", "inventory", "delivery", "notification", "commission"}
        return wanted <= trace_of("POST", "/api/v1/payments/sandbox/notify")

    await eventually(checkout_traced, timeout=30)
    await eventually(payment_traced, timeout=30)
