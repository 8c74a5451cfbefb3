"""The gateway's OpenAPI document tells the truth: schemathesis, driven by the document the running gateway
serves, sends generated requests to every public and admin operation of the whole platform and checks that
no answer is a server error, every status and content type is one the document declares, and no request
the schema allows is refused as malformed (400/422).

What a schema-valid request may still legitimately get: 401/403 (a generated order secret is wrong), 404
(a generated id names nothing) and 409 (the state forbids it, e.g. a second identical coupon code). A 429
is not among them: the platform runs with limits no fuzzing run reaches, so a 429 would be a limiter
counting what it should not."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
import schemathesis.engine
from schemathesis import BaseSchema
from schemathesis.engine import events
from schemathesis.engine.recorder import ScenarioRecorder

from .e2e_platform import Platform, running_platform

pytestmark = pytest.mark.integration

UNREACHABLE_LIMIT = "1000000"
GENEROUS_LIMITS = {
    name: UNREACHABLE_LIMIT
    for name in (
        "LOOKUP_PER_IP_PER_MINUTE",
        "LOOKUP_PER_ORDER_PER_HOUR",
        "LOOKUP_PER_EMAIL_PER_HOUR",
        "ORDERS_PER_IP_PER_HOUR",
        "ORDERS_PER_EMAIL_PER_HOUR",
        "LINK_EMAILS_PER_IP_PER_HOUR",
        "LINK_EMAILS_PER_ORDER_PER_HOUR",
        # merchant's, for the console's generated sign-ins
        "SIGN_IN_ATTEMPTS_PER_ACCOUNT",
        "SIGN_IN_ATTEMPTS_PER_CLIENT",
        # the gateway's, for generated sessions and tokens that open nobody
        "ADMIN_AUTH_FAILURES_PER_IP_PER_MINUTE",
    )
}
STATE_DEPENDENT = ["2xx", "401", "403", "404", "409"]
EXAMPLES_PER_OPERATION = 25
SEED = 20261201


@pytest.fixture(scope="module")
async def platform(infrastructure: dict[str, str]) -> AsyncIterator[Platform]:
    async with running_platform(infrastructure, **GENEROUS_LIMITS) as running:
        yield running


async def existing_things(platform: Platform) -> dict[str, str]:
    """A product with keys, a coupon and an order placed for it: real targets for generated requests, which
    otherwise mostly name ids that do not exist (404 before anything else is looked at)."""
    async with platform.admin() as admin:
        product = await admin.post(
            "/api/admin/products", json={"title": "Fuzzed", "price": 1000, "currency": "CNY"}
        )
        assert product.status_code == 201, product.text
        product_id = product.json()["product_id"]
        keys = "\n".join(f"FUZZ-{uuid.uuid4().hex}" for _ in range(50)).encode()
        imported = await admin.post(
            f"/api/admin/products/{product_id}/keys", content=keys, headers={"Content-Type": "text/plain"}
        )
        assert imported.status_code == 200, imported.text
        coupon = await admin.post(
            "/api/admin/coupons", json={"code": "FUZZ10", "kind": "percent", "value": 10}
        )
        assert coupon.status_code == 201, coupon.text
    async with platform.storefront() as shop:
        order = await shop.post(
            "/api/v1/orders", json={"product_id": product_id, "quantity": 1, "email": "fuzz@example.com"}
        )
        assert order.status_code == 201, order.text
    async with platform.admin() as admin:
        # the admin routes change what they are given (a PATCH may make it a recharge product, whose
        # orders then need an account to top up): they get a product of their own, the orders keep theirs
        edited = await admin.post(
            "/api/admin/products", json={"title": "Fuzzed by admins", "price": 1000, "currency": "CNY"}
        )
        assert edited.status_code == 201, edited.text
    return {
        "product_id": product_id,
        "admin_product_id": edited.json()["product_id"],
        "order_no": order.json()["order_no"],
        "code": "FUZZ10",
    }


def admin_session(platform: Platform) -> dict[str, str]:
    assert platform.operator is not None
    cookies = platform.operator.cookies
    return {
        "Cookie": "; ".join(f"{name}={cookies[name]}" for name in ("faka_session", "faka_csrf")),
        "X-CSRF-Token": cookies["faka_csrf"],
    }


@pytest.fixture(scope="module")
async def gateway_api(platform: Platform) -> BaseSchema:
    async with platform.storefront() as shop:
        served = await shop.get("/openapi.json")
    assert served.status_code == 200, served.text
    things = await existing_things(platform)
    config = schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "base-url": platform.gateway,
            # every request acts as the platform's admin (the console session; a generated X-CSRF-Token
            # is replaced by the right one), which may use every admin and platform route
            "headers": admin_session(platform),
            "continue-on-failure": True,
            "request-timeout": 20,
            # how fast Hypothesis makes examples is the box's load, not the API's: a risk rule set (nine rule
            # types, each with lists) failed the too_slow check once at load average 6-12 after 776 examples
            # were made and sent (2026-12-02); every example is still made and checked
            "suppress-health-check": ["too_slow"],
            "generation": {"max-examples": EXAMPLES_PER_OPERATION, "deterministic": True, "database": "none"},
            "phases": {"stateful": {"enabled": False}},
            "dictionaries": {
                "product_ids": {"values": [things["product_id"]]},
                "admin_product_ids": {"values": [things["admin_product_id"]]},
                "order_nos": {"values": [things["order_no"]]},
                "codes": {"values": [things["code"]]},
            },
            "parameters": {
                "path.product_id": {"dictionary": "admin_product_ids", "probability": 0.5},
                "path.order_no": {"dictionary": "order_nos", "probability": 0.5},
                "path.code": {"dictionary": "codes", "probability": 0.5},
            },
            "checks": {
                "enabled": False,
                "not_a_server_error": {"enabled": True},
                "status_code_conformance": {"enabled": True},
                "content_type_conformance": {"enabled": True},
                "response_headers_conformance": {"enabled": True},
                "positive_data_acceptance": {"enabled": True, "expected-statuses": STATE_DEPENDENT},
                "unsupported_method": {"enabled": True},
                "allow_header_conformance": {"enabled": True},
            },
            "operations": [
                {
                    # orders for a product that exists (a coupon's product_id stays generated: a real one
                    # put in beside a category would break the schema's one-target rule)
                    "include-name": "POST /api/v1/orders",
                    "parameters": {"body.product_id": {"dictionary": "product_ids", "probability": 0.5}},
                    # a challenge rule the run saves (risk rules are fuzzed too) asks later orders for a
                    # proof of work first: 428, as the route says
                    "checks": {"positive_data_acceptance": {"expected-statuses": [*STATE_DEPENDENT, "428"]}},
                },
                {
                    # Rules across items (distinct quantities, prices that never rise with quantity) have
                    # no JSON Schema form; the route's description states them and they answer 422.
                    "include-name": "PUT /api/admin/products/{product_id}/price-tiers",
                    "checks": {"positive_data_acceptance": {"enabled": False}},
                },
                {
                    # Whether a supplier's host resolves to a public address is a fact of DNS, not of the
                    # request: such a refusal is a 422 `unsafe_url` (the body itself is checked at the edge)
                    "include-name": "POST /api/admin/suppliers",
                    "checks": {"positive_data_acceptance": {"expected-statuses": [*STATE_DEPENDENT, "422"]}},
                },
                {
                    # the same for a shop's SMTP host and webhook URL; and a login or webhook left without a
                    # secret is a 422 `missing_secret` unless one is stored (the body is checked at the edge)
                    "include-name": "PUT /api/admin/shop-channels",
                    "checks": {"positive_data_acceptance": {"expected-statuses": [*STATE_DEPENDENT, "422"]}},
                },
                {
                    # What JSON Schema cannot say, and the routes' descriptions do: an e-mail address as
                    # email-validator judges it (reserved domains, ...), a new password's strength, an API
                    # token's expiry in the future, and an audit or order search page's cursor (only what
                    # the previous page answered): each refused with a 422 that names it
                    "include-path-regex": "^/api/(admin/members|platform/staff|console/password|"
                    "admin/api-tokens|admin/audit|platform/audit|admin/orders)$",
                    "checks": {"positive_data_acceptance": {"expected-statuses": [*STATE_DEPENDENT, "422"]}},
                },
                {
                    # whether an RSA key or certificate can be read is no JSON Schema's to say: a payment
                    # channel's key that is none is a 422 `bad_credentials` (the body is checked at the edge)
                    "include-path-regex": "^/api/admin/payment-channels/(alipay|wechatpay)$",
                    "checks": {"positive_data_acceptance": {"expected-statuses": [*STATE_DEPENDENT, "422"]}},
                },
                {
                    # PATCH /suppliers/scores is a PATCH of the supplier "scores" (whose id is no UUID: 422),
                    # so Allow rightly names PATCH there too
                    "include-path": "/api/admin/suppliers/scores",
                    "checks": {
                        "unsupported_method": {"enabled": False},
                        "allow_header_conformance": {"enabled": False},
                    },
                },
                {
                    # a risk rule set's checks across fields (a quantity rule's min not above its max) and
                    # an address or network as Python's ipaddress reads it (no host bits set) have no JSON
                    # Schema form: each is a 422 naming the field; and long lists can make a schema-valid
                    # rule set larger than the 64 KiB a JSON body may be (413), as the route says
                    "include-path-regex": "^/api/(admin|platform)/risk/rules$",
                    "checks": {
                        "positive_data_acceptance": {"expected-statuses": [*STATE_DEPENDENT, "413", "422"]}
                    },
                },
                {
                    # signing the admin out would leave the rest of the run with no session: sign-out gets
                    # a session that opens nothing (401)
                    "include-name": "POST /api/console/sign-out",
                    "headers": {**admin_session(platform), "Cookie": "faka_session=signed-out"},
                },
                {
                    # a ticket message with images is a multipart form, documented as an object of fields:
                    # the message's text (not blank, at most 4000 characters), the order's secret and each
                    # file's bytes (PNG, JPEG or WebP as its content shows, 2 MB, 3 at most) are the route's
                    # to judge, each refusal naming what is wrong (400, 413, 415, 422)
                    "include-path-regex": "/tickets/\\{ticket_id\\}/images$",
                    "checks": {
                        "positive_data_acceptance": {
                            "expected-statuses": [*STATE_DEPENDENT, "400", "413", "415", "422"]
                        }
                    },
                },
                {
                    # GET /orders/lookup is a GET of the order numbered "lookup", so Allow rightly names GET
                    "include-path": "/api/v1/orders/lookup",
                    "checks": {"allow_header_conformance": {"enabled": False}},
                },
            ],
        }
    )
    schema = schemathesis.openapi.from_dict(served.json(), config=config)

    @schema.hook
    def map_body(context: schemathesis.HookContext, body: Any) -> Any:
        """A coupon expires in the future and a recharge order names an account, which no JSON Schema
        says: generated bodies are made so."""
        operation = context.operation
        label = operation.label if operation is not None else ""
        if label == "POST /api/admin/coupons" and isinstance(body, dict) and body.get("expires_at"):
            return {**body, "expires_at": "2999-12-31T23:59:59+00:00"}
        if label == "POST /api/v1/orders" and isinstance(body, dict):
            # an order names a product the run may have made a recharge, which needs the account to top
            # up (a rule of the product, not of the schema): every generated order brings one
            fields = dict(list(dict(body.get("buyer_fields") or {}).items())[:9])
            return {**body, "buyer_fields": {**fields, "account": "fuzz-account"}}
        return body

    return schema


@dataclass
class FuzzRun:
    """What one schemathesis run sent and found, per operation."""

    cases: Counter[str] = field(default_factory=Counter)
    failures: dict[str, str] = field(default_factory=dict)
    failure_count: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def record(self, recorder: ScenarioRecorder) -> None:
        self.cases[recorder.label] += len(recorder.cases)
        for case_id, checks in recorder.checks.items():
            for check in checks:
                if check.failure_info is None:
                    continue
                failure = check.failure_info.failure
                key = f"{recorder.label}: {check.name}: {failure.title}"
                self.failure_count[key] += 1
                if key not in self.failures:
                    interaction = recorder.interactions.get(case_id)
                    response = interaction.response if interaction is not None else None
                    answer = (
                        f"{response.status_code} {response.content[:300]!r}" if response is not None else "-"
                    )
                    sent = check.failure_info.code_sample
                    self.failures[key] = f"{failure.message}\nanswer: {answer}\n{sent}"

    def report(self) -> str:
        return "\n\n".join(
            f"{key} (x{self.failure_count[key]})\n{detail}" for key, detail in sorted(self.failures.items())
        )


def fuzz(schema: BaseSchema) -> FuzzRun:
    """Every phase schemathesis' own runner has (examples, coverage, fuzzing) over every operation."""
    run = FuzzRun()
    started = time.monotonic()
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            run.record(event.recorder)
        elif isinstance(event, events.NonFatalError):
            run.errors.append(f"{event.label}: {event.info.format()}")
        elif isinstance(event, events.FatalError):
            raise event.exception
    run.seconds = time.monotonic() - started
    return run


async def test_every_gateway_operation_answers_only_what_its_openapi_document_declares(
    gateway_api: BaseSchema,
) -> None:
    run = await asyncio.to_thread(fuzz, gateway_api)
    operations = {result.ok().label for result in gateway_api.get_all_operations()}
    print(
        f"\nfuzzed {len(operations)} operations with {sum(run.cases.values())} cases in {run.seconds:.0f} s; "
        f"{len(run.failures)} distinct failures"
    )
    assert not run.errors, "\n".join(run.errors)
    assert not run.failures, run.report()
    assert not operations - set(run.cases), f"never fuzzed: {sorted(operations - set(run.cases))}"
