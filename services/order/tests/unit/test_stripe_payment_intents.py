"""Stripe events beside checkout.session.completed, signed as Stripe signs them (stripe-python 16.1.0
`WebhookSignature._compute_signature`: HMAC-SHA256 of "t.payload" with the endpoint secret)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from order.adapters.payments.base import RawNotification
from order.adapters.payments.stripe import StripeProvider
from order.domain.payments import BadNotification, VerifiedPayment

ORDER_NO = "F20260101000000ABCDEF"
AMOUNT = 2599


def stripe_event(kit: Any, event_type: str, obj: dict[str, Any]) -> RawNotification:
    """An event as Stripe posts it, `Stripe-Signature: t=...,v1=HMAC_SHA256(secret, "t.payload")`."""
    body = json.dumps(
        {"id": f"evt_{uuid.uuid4().hex}", "object": "event", "type": event_type, "data": {"object": obj}}
    ).encode()
    stamp = int(time.time())
    digest = hmac.new(kit.stripe_webhook_secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256)
    return RawNotification(
        body, "application/json", {"stripe-signature": f"t={stamp},v1={digest.hexdigest()}"}
    )


def payment_intent(**fields: Any) -> dict[str, Any]:
    """The PaymentIntent a Checkout Session we created makes: our order number in its metadata."""
    return {
        "id": "pi_3OrderIntent0001",
        "object": "payment_intent",
        "amount": AMOUNT,
        "amount_received": AMOUNT,
        "currency": "cny",
        "status": "succeeded",
        "metadata": {"order_no": ORDER_NO},
        **fields,
    }


async def test_a_stripe_payment_intent_succeeded_event_is_the_same_payment_as_its_checkout_session(
    kit: Any,
) -> None:
    adapter = kit.adapters()["stripe"]
    session = {
        "id": "cs_test_0001",
        "object": "checkout.session",
        "client_reference_id": ORDER_NO,
        "metadata": {"order_no": ORDER_NO},
        "amount_total": AMOUNT,
        "currency": "cny",
        "payment_status": "paid",
        "payment_intent": "pi_3OrderIntent0001",
    }
    now = datetime.now(UTC)
    by_intent = await adapter.verify(stripe_event(kit, "payment_intent.succeeded", payment_intent()), now)
    by_session = await adapter.verify(stripe_event(kit, "checkout.session.completed", session), now)
    assert (
        by_intent == by_session == VerifiedPayment("stripe", ORDER_NO, "pi_3OrderIntent0001", AMOUNT, "CNY")
    )


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"metadata": {}}, "order number"),
        ({"status": "processing"}, "status"),
        ({"amount_received": "2599"}, "amount_received"),
    ],
)
async def test_a_stripe_payment_intent_that_is_not_our_paid_order_is_refused(
    kit: Any, fields: dict[str, Any], says: str
) -> None:
    notice = stripe_event(kit, "payment_intent.succeeded", payment_intent(**fields))
    with pytest.raises(BadNotification, match=says):
        await kit.adapters()["stripe"].verify(notice, datetime.now(UTC))


async def test_a_payment_intent_event_signed_as_stripe_python_computes_it_is_verified(kit: Any) -> None:
    """A recorded vector: the Stripe-Signature computed by stripe-python for a payment_intent.succeeded."""
    vector = json.loads((Path(__file__).parent / "provider_vectors.json").read_text())["stripe"]
    adapter = StripeProvider(
        "https://api.stripe.com",
        "sk_test_kit",
        vector["webhook_secret"],
        "http://s",
        "http://c",
        httpx.AsyncClient(),
    )
    notice = RawNotification(
        vector["body"].encode(), "application/json", {"stripe-signature": vector["stripe_signature"]}
    )
    payment = await adapter.verify(notice, datetime.fromisoformat(vector["received_at"]))
    assert payment == VerifiedPayment("stripe", ORDER_NO, "pi_3OrderIntent0001", AMOUNT, "CNY")
