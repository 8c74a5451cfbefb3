import json
from uuid import UUID, uuid4

import httpx
import pytest
from delivery.adapters.suppliers.base import sign, signature_valid
from delivery.adapters.suppliers.http_json import HttpJsonConfig, HttpJsonSupplier, platform_config
from delivery.domain.suppliers import (
    AmbiguousError,
    PermanentError,
    RechargeOrder,
    Route,
    Score,
    TransientError,
    rank,
)
from faka_common.contracts.shops import DEFAULT_SHOP_ID


def _route(name: str, priority: int, cost: int = 100) -> Route:
    return Route(uuid4(), DEFAULT_SHOP_ID, UUID(int=1), uuid4(), name, "sku", priority, cost, "CNY")


def test_priority_wins_over_score() -> None:
    primary, backup = _route("a", 0), _route("b", 1)
    scores = {
        primary.supplier_id: Score(primary.supplier_id, 10, 1, 900.0),
        backup.supplier_id: Score(backup.supplier_id, 10, 10, 10.0),
    }
    assert [r.supplier_name for r in rank([backup, primary], scores)] == ["a", "b"]


def test_equal_priority_routes_are_ordered_by_success_rate_then_latency_then_cost() -> None:
    good, bad, fast, cheap = (
        _route("good", 0),
        _route("bad", 0),
        _route("fast", 0, 500),
        _route("cheap", 0, 1),
    )
    scores = {
        good.supplier_id: Score(good.supplier_id, 20, 20, 800.0),
        bad.supplier_id: Score(bad.supplier_id, 20, 2, 10.0),
        fast.supplier_id: Score(fast.supplier_id, 20, 20, 50.0),
        cheap.supplier_id: Score(cheap.supplier_id, 20, 20, 800.0),
    }
    assert [r.supplier_name for r in rank([bad, good, cheap, fast], scores)] == [
        "fast",
        "cheap",
        "good",
        "bad",
    ]


def test_a_supplier_without_history_scores_neutral() -> None:
    assert Score(uuid4(), 0, 0, None).success_rate == 0.5
    assert Score(uuid4(), 8, 8, 1.0).success_rate == 0.9


def test_signature_covers_timestamp_and_body() -> None:
    signature = sign("s3cret", "1700000000", b'{"a":1}')
    assert signature_valid("s3cret", "1700000000", b'{"a":1}', signature)
    assert not signature_valid("s3cret", "1700000001", b'{"a":1}', signature)
    assert not signature_valid("s3cret", "1700000000", b'{"a":2}', signature)
    assert not signature_valid("other", "1700000000", b'{"a":1}', signature)


ORDER = RechargeOrder(UUID(int=7), "sku-1", "13800138000", 5000)


def _supplier(handler: httpx.MockTransport, config: HttpJsonConfig | None = None) -> HttpJsonSupplier:
    return HttpJsonSupplier("http://supplier.test", "s3cret", config or HttpJsonConfig(), transport=handler)


@pytest.mark.parametrize(
    ("status", "body", "error", "error_class"),
    [
        (429, {}, TransientError, "rate_limited"),
        (503, {}, AmbiguousError, "http_5xx"),
        (400, {"error": "invalid_account", "message": "no such account"}, PermanentError, "invalid_account"),
        (409, {"error": "out_of_stock"}, PermanentError, "out_of_stock"),
        (401, {"error": "bad_signature"}, PermanentError, "http_401"),
        (200, {"status": "what"}, AmbiguousError, "unknown_status"),
    ],
)
async def test_submit_answers_are_classed(
    status: int, body: dict[str, str], error: type, error_class: str
) -> None:
    supplier = _supplier(httpx.MockTransport(lambda _: httpx.Response(status, json=body)))
    with pytest.raises(error) as raised:
        await supplier.submit(ORDER)
    assert raised.value.error_class == error_class
    assert not isinstance(raised.value, AmbiguousError) or error is AmbiguousError


async def test_a_timeout_after_sending_is_ambiguous_but_a_refused_connection_is_not() -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(AmbiguousError):
        await _supplier(httpx.MockTransport(timeout)).submit(ORDER)
    with pytest.raises(TransientError) as raised:
        await _supplier(httpx.MockTransport(refused)).submit(ORDER)
    assert not isinstance(raised.value, AmbiguousError)
    with pytest.raises(TransientError) as on_read:
        await _supplier(httpx.MockTransport(timeout)).query(ORDER.order_id)
    assert not isinstance(on_read.value, AmbiguousError)


async def test_submit_is_signed_and_carries_our_order_id_as_idempotency_key() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"status": "success", "supplier_order_no": "U1", "content": "ok"})

    upstream = await _supplier(httpx.MockTransport(handler), HttpJsonConfig(merchant_id="m1")).submit(ORDER)
    assert (upstream.state, upstream.supplier_order_no, upstream.content) == ("succeeded", "U1", "ok")
    [request] = seen
    body = json.loads(request.content)
    assert body["order_id"] == str(ORDER.order_id) and body["merchant_id"] == "m1" and body["amount"] == 5000
    assert signature_valid(
        "s3cret", request.headers["X-Timestamp"], request.content, request.headers["X-Signature"]
    )


async def test_the_platform_preset_queries_by_path_and_maps_its_statuses() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.method == "GET" and request.url.path == f"/api/agent/v1/recharges/{ORDER.order_id}"
        assert signature_valid(
            "s3cret",
            request.headers["X-Timestamp"],
            request.url.path.encode(),
            request.headers["X-Signature"],
        )
        return httpx.Response(
            200, json={"out_trade_no": str(ORDER.order_id), "order_no": "F1", "status": "delivered"}
        )

    upstream = await _supplier(httpx.MockTransport(handler), platform_config({})).query(ORDER.order_id)
    assert (upstream.state, upstream.supplier_order_no) == ("succeeded", "F1")


async def test_a_query_for_an_unknown_order_says_not_found() -> None:
    supplier = _supplier(httpx.MockTransport(lambda _: httpx.Response(404, json={"error": "not_found"})))
    assert (await supplier.query(ORDER.order_id)).state == "not_found"
