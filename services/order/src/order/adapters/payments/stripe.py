"""Stripe: Checkout Sessions for paying, `Stripe-Signature` webhooks (HMAC-SHA256 of "t.payload" with the
endpoint secret, 300 s tolerance), PaymentIntent search for query and the Refunds API.

Accepted events: checkout.session.completed and checkout.session.async_payment_succeeded (the session,
paid), and payment_intent.succeeded: every Checkout Session we create copies the order number into its
PaymentIntent's metadata, and both events name the payment by the PaymentIntent id, so an endpoint that
subscribes to both gets one payment recorded (the second is a duplicate), and one subscribed only to
payment_intent.succeeded (Stripe's generic guides) works too. The trade number is always the PaymentIntent
id, which refunds and query use as well."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import Any

import httpx
from faka_common.contracts.risk_rules import payment_account

from order.adapters.payments import forms
from order.adapters.payments.base import (
    Ack,
    PaidTrade,
    PaymentOrder,
    PaymentRequest,
    ProviderError,
    ProviderStatus,
    RawNotification,
    RefundRefused,
    RefundResult,
    RefundStatus,
    VerifiedPayment,
    call,
    json_object,
)
from order.domain.payments import MAX_CLOCK_SKEW_SECONDS, BadNotification, check_fresh, check_trade_no

STRIPE = "stripe"
COMPLETED = "checkout.session.completed"
ASYNC_SUCCEEDED = "checkout.session.async_payment_succeeded"
INTENT_SUCCEEDED = "payment_intent.succeeded"
SESSION_EVENTS = (COMPLETED, ASYNC_SUCCEEDED)


def signature_header(payload: bytes, secret: str, timestamp: int) -> str:
    """The Stripe-Signature value Stripe would send (for tests and tools)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class StripeProvider:
    name = STRIPE

    def __init__(
        self,
        api_url: str,
        secret_key: str,
        webhook_secret: str,
        success_url: str,
        cancel_url: str,
        http: httpx.AsyncClient,
        tolerance_seconds: int = MAX_CLOCK_SKEW_SECONDS,
    ) -> None:
        self._api = api_url.rstrip("/")
        self._key = secret_key
        self._webhook_secret = webhook_secret
        self._success_url = success_url
        self._cancel_url = cancel_url
        self._http = http
        self._tolerance = tolerance_seconds

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._key}"}

    async def create(self, order: PaymentOrder) -> PaymentRequest:
        data: dict[str, str | int] = {
            "mode": "payment",
            "client_reference_id": order.order_no,
            "metadata[order_no]": order.order_no,
            "payment_intent_data[metadata][order_no]": order.order_no,
            "line_items[0][quantity]": 1,
            "line_items[0][price_data][currency]": order.currency.lower(),
            "line_items[0][price_data][unit_amount]": order.amount,
            "line_items[0][price_data][product_data][name]": order.title[:250],
            "success_url": self._success_url,
            "cancel_url": self._cancel_url,
        }
        if order.expires_at is not None:
            data["expires_at"] = int(order.expires_at.timestamp())
        headers = {**self._auth(), "Idempotency-Key": f"checkout-{order.order_no}"}
        response = await call(
            self._http, self.name, "POST", f"{self._api}/v1/checkout/sessions", data=data, headers=headers
        )
        body = json_object(response, self.name)
        if response.status_code != 200 or not body.get("url"):
            raise ProviderError(f"stripe refused the checkout session: {_error(body)}")
        return PaymentRequest(self.name, pay_url=str(body["url"]), provider_ref=str(body.get("id") or ""))

    async def verify(self, notification: RawNotification, now: datetime) -> VerifiedPayment:
        header = notification.header("stripe-signature")
        if not header:
            raise BadNotification("missing Stripe-Signature header")
        timestamp: int | None = None
        candidates: list[str] = []
        for item in header.split(","):
            name, _, value = item.strip().partition("=")
            if name == "t" and value.isdigit():
                timestamp = int(value)
            elif name == "v1":
                candidates.append(value)
        if timestamp is None or not candidates:
            raise BadNotification("Stripe-Signature needs t= and v1=")
        expected = signature_header(notification.body, self._webhook_secret, timestamp).split("v1=", 1)[1]
        if not any(hmac.compare_digest(expected.encode(), c.encode()) for c in candidates):
            raise BadNotification("bad signature")
        check_fresh(timestamp, now, self._tolerance)
        event = forms.json_object(notification.body)
        kind = event.get("type")
        if kind not in (*SESSION_EVENTS, INTENT_SUCCEEDED):
            raise BadNotification(f"event type {str(kind)[:60]!r} is not a completed checkout or payment")
        data = event.get("data")
        paid = data.get("object") if isinstance(data, dict) else None
        if not isinstance(paid, dict):
            raise BadNotification("malformed notification: no data.object")
        return self._session_payment(paid) if kind in SESSION_EVENTS else self._intent_payment(paid)

    def _session_payment(self, session: dict[str, Any]) -> VerifiedPayment:
        order_no = session.get("client_reference_id") or _metadata(session).get("order_no")
        if not order_no:
            raise BadNotification("checkout session carries no order number")
        if session.get("payment_status") != "paid":
            raise BadNotification(f"payment_status is {str(session.get('payment_status'))[:40]!r}, not paid")
        trade_no = str(session.get("payment_intent") or session.get("id") or "")
        return self._verified(order_no, trade_no, session, "amount_total")

    def _intent_payment(self, intent: dict[str, Any]) -> VerifiedPayment:
        order_no = _metadata(intent).get("order_no")
        if not order_no:
            raise BadNotification("payment intent carries no order number (not made by our checkout)")
        if intent.get("status") != "succeeded":
            raise BadNotification(
                f"payment intent status is {str(intent.get('status'))[:40]!r}, not succeeded"
            )
        return self._verified(order_no, str(intent.get("id") or ""), intent, "amount_received")

    def _verified(
        self, order_no: object, trade_no: str, paid: dict[str, Any], amount_field: str
    ) -> VerifiedPayment:
        amount = paid.get(amount_field)
        if not isinstance(amount, int) or isinstance(amount, bool):
            raise BadNotification(f"{amount_field} must be an integer")
        return VerifiedPayment(
            self.name,
            str(order_no),
            check_trade_no(trade_no),
            amount,
            str(paid.get("currency", "")).upper(),
            # a Stripe customer (cus_...) when the payment has one; a guest checkout names none
            payer_account=payment_account(self.name, paid.get("customer")),
        )

    async def query(self, order: PaymentOrder) -> ProviderStatus:
        params = {"query": f"metadata['order_no']:'{order.order_no}'", "limit": "10"}
        response = await call(
            self._http,
            self.name,
            "GET",
            f"{self._api}/v1/payment_intents/search",
            params=params,
            headers=self._auth(),
        )
        body = json_object(response, self.name)
        if response.status_code != 200:
            raise ProviderError(f"stripe search failed: {_error(body)}")
        data = body.get("data")
        intents = [i for i in data if isinstance(i, dict)] if isinstance(data, list) else []
        intents = [i for i in intents if _metadata(i).get("order_no") == order.order_no]
        for intent in intents:
            if intent.get("status") == "succeeded":
                received = intent.get("amount_received")
                if not isinstance(received, int):
                    raise ProviderError("stripe answered a PaymentIntent without amount_received")
                currency = str(intent.get("currency", "")).upper()
                payer = payment_account(self.name, intent.get("customer"))
                return ProviderStatus("paid", str(intent["id"]), received, currency, payer)
        if not intents:
            return ProviderStatus("not_found")
        if all(i.get("status") == "canceled" for i in intents):
            return ProviderStatus("closed")
        return ProviderStatus("pending")

    async def refund(self, trade: PaidTrade, amount: int, refund_no: str) -> RefundResult:
        headers = {**self._auth(), "Idempotency-Key": refund_no}
        data = {"payment_intent": trade.trade_no, "amount": amount, "metadata[refund_no]": refund_no}
        response = await call(
            self._http, self.name, "POST", f"{self._api}/v1/refunds", data=data, headers=headers
        )
        body = json_object(response, self.name)
        if response.status_code != 200:
            raise RefundRefused(f"stripe refused the refund: {_error(body)}")
        status: RefundStatus = "succeeded" if body.get("status") == "succeeded" else "pending"
        return RefundResult(refund_no, amount, status, str(body.get("id") or "") or None)

    def ack(self, result: str) -> Ack:
        return Ack(b'{"received": true}', "application/json")


def _metadata(stripe_object: dict[str, Any]) -> dict[str, Any]:
    metadata = stripe_object.get("metadata")
    return metadata if isinstance(metadata, dict) else {}


def _error(body: dict[str, Any]) -> str:
    error = body.get("error")
    return str(error.get("message") if isinstance(error, dict) else error)[:200]
