"""Query, refund and create against a local HTTP server (127.0.0.1) that plays each provider: it checks
our request signatures the way the provider does and signs its answers with keys the test generated."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from fastapi import FastAPI, Request, Response
from order.adapters.payments import alipay, epay, epusdt, keys, wechatpay
from order.adapters.payments.base import (
    PaidTrade,
    PaymentOrder,
    ProviderError,
    ProviderStatus,
    RefundUnsupported,
)
from order.adapters.payments.registry import PaymentProviders
from order.domain.payment_channels import PLATFORM
from order.service_layer import payments

from .conftest import Db
from .test_blocked_payers_db import payer_lists

pytestmark = pytest.mark.integration

PAID_NO, UNKNOWN_NO = "F20260101000000PAID01", "F20260101000000NOPE01"


@dataclass
class Books:
    """What the pretend provider knows: paid orders (order_no -> trade_no, amount) and refunds taken."""

    paid: dict[str, tuple[str, int]] = field(default_factory=dict)
    #: Who paid (order_no -> the payer's account at the provider), named in the query's answer.
    payers: dict[str, str] = field(default_factory=dict)
    refunds: list[tuple[str, int]] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    forge_answers: bool = False
    #: WeChat Pay rotated its platform certificate: (key, serial, PEM) it now signs with and serves.
    wechat_rotated: tuple[Any, str, bytes] | None = None
    certificate_fetches: int = 0


def provider_app(kit: Any, books: Books) -> FastAPI:
    app = FastAPI()

    def yuan(amount: int) -> str:
        return f"{amount // 100}.{amount % 100:02d}"

    @app.get("/api.php")
    async def epay_query(request: Request) -> Any:
        q = request.query_params
        if q.get("key") != kit.epay_key or q.get("pid") != kit.epay_pid:
            return {"code": -1, "msg": "KEY校验失败"}
        found = books.paid.get(q.get("out_trade_no", ""))
        if not found:
            return {"code": -1, "msg": "订单号不存在"}
        payer = {"buyer": books.payers[q["out_trade_no"]]} if q["out_trade_no"] in books.payers else {}
        return {"code": 1, "pid": kit.epay_pid, "trade_no": found[0], "out_trade_no": q["out_trade_no"],
                "money": yuan(found[1]), "status": 1, **payer}  # fmt: skip

    @app.post("/api.php")
    async def epay_refund(request: Request) -> Any:
        form = dict(parse_qsl((await request.body()).decode()))
        if form.get("key") != kit.epay_key:
            return {"code": -1, "msg": "KEY校验失败"}
        books.refunds.append((form["trade_no"], round(float(form["money"]) * 100)))
        return {"code": 1, "msg": "退款成功"}

    @app.post("/gateway.do")
    async def alipay_gateway(request: Request) -> Response:
        params = dict(parse_qsl((await request.body()).decode()))
        signed = alipay.request_content(params)
        if not keys.verify_sha256(kit.alipay_app_key.public_key(), signed, params["sign"]):
            node: dict[str, Any] = {
                "code": "40002",
                "msg": "Invalid Arguments",
                "sub_code": "isv.invalid-signature",
            }
        else:
            biz = json.loads(params["biz_content"])
            found = books.paid.get(biz["out_trade_no"])
            if params["method"] == "alipay.trade.query":
                payer = books.payers.get(biz["out_trade_no"])
                node = (
                    {"code": "10000", "msg": "Success", "out_trade_no": biz["out_trade_no"],
                     "trade_no": found[0], "trade_status": "TRADE_SUCCESS", "total_amount": yuan(found[1]),
                     **({"buyer_user_id": payer} if payer else {})}
                    if found
                    else {"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.TRADE_NOT_EXIST"}
                )  # fmt: skip
            else:
                books.refunds.append((biz["out_request_no"], round(float(biz["refund_amount"]) * 100)))
                node = {
                    "code": "10000",
                    "msg": "Success",
                    "fund_change": "Y",
                    "refund_fee": biz["refund_amount"],
                }
        raw = json.dumps(node, ensure_ascii=False, separators=(",", ":"))
        signer = kit.attacker_key if books.forge_answers else kit.alipay_platform_key
        signature = keys.sign_sha256(signer, raw.encode())
        name = params["method"].replace(".", "_") + "_response"
        return Response(f'{{"{name}":{raw},"sign":"{signature}"}}', media_type="application/json")

    def wechat_answer(status: int, body: dict[str, Any] | bytes) -> Response:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        signer: rsa.RSAPrivateKey = kit.attacker_key if books.forge_answers else kit.wechat_platform_key
        serial = None
        if books.wechat_rotated is not None and not books.forge_answers:
            signer, serial, _ = books.wechat_rotated
        headers = kit.wechat_sign(content, key=signer, serial=serial)
        return Response(content, status_code=status, headers=headers, media_type="application/json")

    def wechat_authorized(request: Request, body: bytes) -> bool:
        auth = request.headers.get("authorization", "")
        scheme, _, rest = auth.partition(" ")
        fields = dict(item.split("=", 1) for item in rest.split(","))
        fields = {k: v.strip('"') for k, v in fields.items()}
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        text = f"{request.method}\n{path}\n{fields['timestamp']}\n{fields['nonce_str']}\n{body.decode()}\n"
        return (
            scheme == wechatpay.AUTH_SCHEME
            and fields["mchid"] == kit.wechat_mchid
            and fields["serial_no"] == kit.wechat_serial
            and keys.verify_sha256(kit.wechat_merchant_key.public_key(), text.encode(), fields["signature"])
        )

    @app.get("/v3/certificates")
    async def wechat_certificates(request: Request) -> Response:
        if not wechat_authorized(request, b""):
            return wechat_answer(401, {"code": "SIGN_ERROR", "message": "签名错误"})
        books.certificate_fetches += 1
        served = [books.wechat_rotated[1:]] if books.wechat_rotated else []
        return wechat_answer(200, kit.wechat_certificates(served))

    @app.get("/v3/pay/transactions/out-trade-no/{order_no}")
    async def wechat_query(order_no: str, request: Request) -> Response:
        if not wechat_authorized(request, b""):
            return wechat_answer(401, {"code": "SIGN_ERROR", "message": "签名错误"})
        found = books.paid.get(order_no)
        if not found:
            return wechat_answer(404, {"code": "ORDER_NOT_EXIST", "message": "订单不存在"})
        payer = {"payer": {"openid": books.payers[order_no]}} if order_no in books.payers else {}
        return wechat_answer(200, kit.wechat_transaction(order_no, found[1], found[0], extra=payer))

    @app.post("/v3/refund/domestic/refunds")
    async def wechat_refund(request: Request) -> Response:
        body = await request.body()
        if not wechat_authorized(request, body):
            return wechat_answer(401, {"code": "SIGN_ERROR", "message": "签名错误"})
        asked = json.loads(body)
        books.refunds.append((asked["out_refund_no"], asked["amount"]["refund"]))
        return wechat_answer(200, {"refund_id": "50000000000001", "status": "SUCCESS"})

    @app.post("/v3/pay/transactions/native")
    async def wechat_native(request: Request) -> Response:
        body = await request.body()
        if not wechat_authorized(request, body):
            return wechat_answer(401, {"code": "SIGN_ERROR", "message": "签名错误"})
        books.created.append(json.loads(body)["out_trade_no"])
        return wechat_answer(200, {"code_url": "weixin://wxpay/bizpayurl?pr=kit"})

    def stripe_authorized(request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {kit.stripe_secret_key}"

    @app.get("/v1/payment_intents/search")
    async def stripe_search(request: Request) -> Response:
        if not stripe_authorized(request):
            return Response(json.dumps({"error": {"message": "Invalid API Key"}}), status_code=401)
        order_no = request.query_params["query"].split("'")[3]
        found = books.paid.get(order_no)
        data = (
            [{"id": found[0], "status": "succeeded", "amount_received": found[1], "currency": "cny",
              "metadata": {"order_no": order_no}, "customer": books.payers.get(order_no)}]
            if found
            else []
        )  # fmt: skip
        return Response(json.dumps({"object": "search_result", "data": data}), media_type="application/json")

    @app.post("/v1/refunds")
    async def stripe_refund(request: Request) -> Response:
        if not stripe_authorized(request):
            return Response(json.dumps({"error": {"message": "Invalid API Key"}}), status_code=401)
        form = dict(parse_qsl((await request.body()).decode()))
        books.refunds.append((request.headers["idempotency-key"], int(form["amount"])))
        return Response(json.dumps({"id": "re_kit", "status": "succeeded"}), media_type="application/json")

    @app.post("/v1/checkout/sessions")
    async def stripe_checkout(request: Request) -> Response:
        if not stripe_authorized(request):
            return Response(json.dumps({"error": {"message": "Invalid API Key"}}), status_code=401)
        form = dict(parse_qsl((await request.body()).decode()))
        books.created.append(form["client_reference_id"])
        body = {"id": "cs_test_kit", "url": "https://checkout.stripe.com/c/pay/cs_test_kit"}
        return Response(json.dumps(body), media_type="application/json")

    @app.post("/api/v1/order/create-transaction")
    async def epusdt_create(request: Request) -> Any:
        asked = json.loads(await request.body(), parse_float=Decimal)
        if asked.get("signature") != epusdt.sign(asked, kit.usdt_token):
            return {"status_code": 401, "message": "签名认证错误"}
        books.created.append(asked["order_id"])
        return {"status_code": 200, "message": "success",
                "data": {"trade_id": "kit-trade-1", "order_id": asked["order_id"], "amount": asked["amount"],
                         "actual_amount": "3.5", "token": "TKitWallet",
                         "payment_url": "http://127.0.0.1/pay/1"}}  # fmt: skip

    @app.get("/pay/check-status/{trade_id}")
    async def epusdt_status(trade_id: str) -> Any:
        return {"data": {"trade_id": trade_id, "status": 2 if trade_id == "kit-trade-1" else 1}}

    return app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def provider(kit: Any) -> AsyncIterator[tuple[dict[str, Any], Books]]:
    books = Books()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(provider_app(kit, books), host="127.0.0.1", port=port, log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while not server.started:
        assert loop.time() < deadline, "the pretend provider did not start"
        await asyncio.sleep(0.02)
    async with httpx.AsyncClient(timeout=5) as http:
        yield kit.adapters(f"http://127.0.0.1:{port}", http), books
    server.should_exit = True
    await task


def order(order_no: str, amount: int = 2599, ref: str | None = None) -> PaymentOrder:
    expires = datetime.now(UTC) + timedelta(minutes=10)
    return PaymentOrder(uuid.uuid4(), order_no, amount, "CNY", "Game key", expires, ref)


QUERYABLE = ["epay", "alipay", "wechatpay", "stripe"]


@pytest.mark.parametrize("name", QUERYABLE)
async def test_query_reports_a_paid_order_and_an_unknown_one(provider: Any, name: str) -> None:
    adapters, books = provider
    books.paid[PAID_NO] = ("TRADE-9", 2599)
    assert await adapters[name].query(order(PAID_NO)) == ProviderStatus("paid", "TRADE-9", 2599, "CNY")
    assert (await adapters[name].query(order(UNKNOWN_NO))).state == "not_found"


@pytest.mark.parametrize("name", QUERYABLE)
async def test_a_paid_answer_names_the_payer_as_the_providers_notification_does(
    provider: Any, name: str
) -> None:
    adapters, books = provider
    books.paid[PAID_NO] = ("TRADE-9", 2599)
    assert (await adapters[name].query(order(PAID_NO))).payer_account is None  # the answer names none
    books.payers[PAID_NO] = "payer-2088000000000001"
    paid = await adapters[name].query(order(PAID_NO))
    assert paid == ProviderStatus("paid", "TRADE-9", 2599, "CNY", f"{name}:payer-2088000000000001")


async def test_a_reconciled_payment_from_a_blocked_payer_is_held_as_a_notified_one_would_be(
    provider: Any, db: Db
) -> None:
    """A lost callback completed by the reconciler: the query's payer meets the risk blocklists too."""
    adapters, books = provider
    providers = PaymentProviders({"alipay": adapters["alipay"]})
    providers.payers = await payer_lists({str(DEFAULT_SHOP_ID): "alipay:stolen-account"})
    now = datetime.now(UTC)
    blocked = await db.awaiting_order(2599, expires_at=now + timedelta(seconds=60))
    honest = await db.awaiting_order(2599, expires_at=now + timedelta(seconds=60))
    for placed, payer in ((blocked, "stolen-account"), (honest, "honest-account")):
        books.paid[placed.order_no], books.payers[placed.order_no] = (f"T-{placed.order_no}", 2599), payer
        async with db.uow() as uow:
            await uow.payments.record_attempt(placed, "alipay", None, now, PLATFORM)
            await uow.commit()
    try:
        summary = await payments.reconcile_once(
            db.uow, providers, timedelta(minutes=2), timedelta(minutes=30), timedelta(seconds=30), now=now
        )
    finally:
        await providers.payers.aclose()
    assert (summary.asked, summary.completed, summary.failures) == (2, 2, [])
    states = "SELECT status, status_reason FROM orders WHERE id = $1"
    assert [tuple(r) for r in await db.fetch(states, blocked.id)] == [("paid", "payer_account_blocked")]
    announced = "SELECT type, value FROM outbox WHERE key = $1 ORDER BY id"
    assert [r["type"] for r in await db.fetch(announced, str(blocked.id))] == ["OrderNeedsAttention"]
    [paid] = [json.loads(r["value"])["payload"] for r in await db.fetch(announced, str(honest.id))]
    assert paid["payer_account"] == "alipay:honest-account"


async def test_usdt_query_asks_the_checkout_counter_by_trade_id(provider: Any) -> None:
    adapters, _ = provider
    assert (await adapters["usdt"].query(order(PAID_NO, ref="kit-trade-1"))).state == "paid"
    assert (await adapters["usdt"].query(order(PAID_NO, ref="kit-trade-2"))).state == "pending"
    assert (await adapters["usdt"].query(order(PAID_NO))).state == "not_found"


@pytest.mark.parametrize("name", QUERYABLE)
async def test_refund_goes_through_the_provider(provider: Any, name: str) -> None:
    adapters, books = provider
    result = await adapters[name].refund(PaidTrade(PAID_NO, "TRADE-9", 2599, "CNY"), 1000, "R-1")
    assert (result.refund_no, result.amount, result.status) == ("R-1", 1000, "succeeded")
    assert [amount for _, amount in books.refunds] == [1000]


async def test_usdt_has_no_refund(provider: Any) -> None:
    adapters, _ = provider
    with pytest.raises(RefundUnsupported):
        await adapters["usdt"].refund(PaidTrade(PAID_NO, "T", 2599, "CNY"), 100, "R-1")


@pytest.mark.parametrize("name", ["alipay", "wechatpay"])
async def test_an_answer_not_signed_by_the_provider_is_not_trusted(provider: Any, name: str) -> None:
    adapters, books = provider
    books.paid[PAID_NO] = ("TRADE-9", 2599)
    books.forge_answers = True
    with pytest.raises(ProviderError, match="signed"):
        await adapters[name].query(order(PAID_NO))


async def test_create_gives_each_provider_what_it_expects(provider: Any, kit: Any) -> None:
    adapters, books = provider
    wechat = await adapters["wechatpay"].create(order("F1"))
    stripe = await adapters["stripe"].create(order("F2"))
    usdt = await adapters["usdt"].create(order("F3"))
    assert wechat.qr_payload == "weixin://wxpay/bizpayurl?pr=kit"
    assert stripe.pay_url and stripe.provider_ref == "cs_test_kit"
    assert usdt.provider_ref == "kit-trade-1" and usdt.qr_payload == "TKitWallet"
    assert books.created == ["F1", "F2", "F3"]
    epay_url = (await adapters["epay"].create(order("F4"))).pay_url
    params = dict(parse_qsl(httpx.URL(epay_url).query.decode()))
    assert params["money"] == "25.99" and params["sign"] == epay.sign(params, kit.epay_key)
    alipay_url = (await adapters["alipay"].create(order("F5"))).pay_url
    params = dict(parse_qsl(httpx.URL(alipay_url).query.decode()))
    signed = alipay.request_content(params)
    assert keys.verify_sha256(kit.alipay_app_key.public_key(), signed, params["sign"])
    assert json.loads(params["biz_content"])["total_amount"] == "25.99"
    assert base64.b64decode(params["sign"])


async def test_wechat_fetches_a_rotated_platform_certificate_over_http_once(provider: Any, kit: Any) -> None:
    """WeChat Pay starts signing with a new platform certificate: the first answer (and notification) under
    its serial makes the adapter fetch /v3/certificates from the provider, once; both are then trusted."""
    adapters, books = provider
    books.paid[PAID_NO] = ("TRADE-9", 2599)
    key, serial, pem = kit.platform_certificate()
    books.wechat_rotated = (key, serial, pem)
    wechat = adapters["wechatpay"]
    assert (await wechat.query(order(PAID_NO))).state == "paid"
    assert books.certificate_fetches == 1
    raw = kit.notice("wechatpay", PAID_NO, 2599, "TRADE-9", platform_key=key, platform_serial=serial)
    assert (await wechat.verify(raw, datetime.now(UTC))).trade_no == "TRADE-9"
    assert (await wechat.query(order(UNKNOWN_NO))).state == "not_found"
    assert books.certificate_fetches == 1
    assert wechat.platform_serials == [kit.wechat_platform_serial, serial]
