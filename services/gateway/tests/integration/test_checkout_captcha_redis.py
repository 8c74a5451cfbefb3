"""The self-hosted captcha as a checkout challenge, against the real Redis at REDIS_URL: a `challenge` rule of
kind captcha makes an order a 428 with an image until it carries the image's characters (read here from
Redis, where the gateway keeps them; nothing answers them to a client); an answer is tried once, right or
wrong, for its shop and client address only and until it expires; the images one client gets are
throttled; the storefront's form shows the image with its label and takes the typed answer."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import httpx
import pytest
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from gateway.service_layer import challenges

from .test_checkout_challenges_redis import BITS, PRODUCT_ID, Checkout, checkout, solved, store

pytestmark = pytest.mark.integration
__all__ = ["checkout", "store"]

CAPTCHA_RULE = {"type": "challenge", "kind": "captcha", "per": "always"}


async def answer_of(checkout: Checkout, token: str) -> str:
    """What the image shows, as the gateway keeps it in Redis."""
    random = token.split(".")[4]
    held = await checkout.store.get(challenges.captcha_key(checkout.namespace, random))
    assert held is not None, "the captcha's answer is not in Redis"
    answer: str = json.loads(held)["answer"]
    return answer


async def typed(checkout: Checkout, token: str, answer: str, ip: str = "203.0.113.7") -> httpx.Response:
    async with checkout.client(ip) as client:
        return await client.post(
            "/api/v1/orders",
            json={"product_id": PRODUCT_ID, "email": "buyer@example.com"},
            headers={"X-Challenge": token, "X-Challenge-Answer": answer},
        )


def captcha_of(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 428, answer.text
    challenge: dict[str, Any] = answer.json()["challenge"]
    assert challenge["kind"] == "captcha" and challenge["algorithm"] == "captcha-text"
    return challenge


async def test_a_checkout_under_a_captcha_rule_answers_428_with_an_image_until_its_characters_are_sent(
    checkout: Checkout,
) -> None:
    await checkout.publish(str(DEFAULT_SHOP_ID), CAPTCHA_RULE)
    challenge = captcha_of(await checkout.order())
    assert challenge["image"].startswith("data:image/png;base64,")
    assert base64.b64decode(challenge["image"].split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert checkout.orders.placed == []
    answer = await answer_of(checkout, challenge["token"])
    placed = await typed(checkout, challenge["token"], f" {answer.lower()} ")
    assert placed.status_code == 201, placed.text
    assert len(checkout.orders.placed) == 1


async def test_a_wrong_answer_burns_the_image_and_a_right_one_works_only_once(checkout: Checkout) -> None:
    await checkout.publish("platform", CAPTCHA_RULE)
    first = captcha_of(await checkout.order())
    right = await answer_of(checkout, first["token"])
    wrong = await typed(checkout, first["token"], "WRONG")
    assert "do not match" in wrong.json()["message"]
    assert captcha_of(wrong)["token"] != first["token"]
    too_late = await typed(checkout, first["token"], right)
    assert "answered already" in too_late.json()["message"]

    second = captcha_of(too_late)
    answer = await answer_of(checkout, second["token"])
    assert (await typed(checkout, second["token"], answer)).status_code == 201
    replayed = await typed(checkout, second["token"], answer)
    assert "answered already" in replayed.json()["message"] and captcha_of(replayed)
    assert len(checkout.orders.placed) == 1


async def test_an_answer_for_another_shop_another_address_or_an_expired_image_is_refused(
    checkout: Checkout,
) -> None:
    await checkout.publish("platform", CAPTCHA_RULE)
    point = challenges.checkpoint(checkout.gateway)

    elsewhere = captcha_of(await checkout.order(ip="198.51.100.9"))
    answer = await answer_of(checkout, elsewhere["token"])
    moved = await typed(checkout, elsewhere["token"], answer)
    assert "not issued here" in moved.json()["message"] and captcha_of(moved)

    other_shop = await point.draw_captcha(uuid.uuid4(), "203.0.113.7", challenges.time.time())
    foreign = await typed(checkout, other_shop.token, await answer_of(checkout, other_shop.token))
    assert "not issued here" in foreign.json()["message"] and captcha_of(foreign)

    stale = await point.draw_captcha(DEFAULT_SHOP_ID, "203.0.113.7", challenges.time.time() - 3600)
    expired = await typed(checkout, stale.token, await answer_of(checkout, stale.token))
    assert "expired" in expired.json()["message"] and captcha_of(expired)
    assert checkout.orders.placed == []


async def test_work_does_not_stand_for_a_captcha(checkout: Checkout) -> None:
    await checkout.publish("platform", CAPTCHA_RULE)
    key = challenges.checkpoint(checkout.gateway).key
    work = challenges.issue(key, DEFAULT_SHOP_ID, "203.0.113.7", BITS)
    asked = await checkout.order(solution=(work.token, challenges.solve(work.token, BITS)))
    assert captcha_of(asked) and checkout.orders.placed == []


async def test_a_captcha_also_passes_a_proof_of_work_rule_of_another_scope(checkout: Checkout) -> None:
    await checkout.publish("platform", CAPTCHA_RULE)
    await checkout.publish(str(DEFAULT_SHOP_ID), {"type": "challenge", "per": "always", "difficulty": BITS})
    challenge = captcha_of(await checkout.order())
    placed = await typed(checkout, challenge["token"], await answer_of(checkout, challenge["token"]))
    assert placed.status_code == 201, placed.text


async def test_one_client_gets_a_limited_number_of_images_then_429(checkout: Checkout) -> None:
    await checkout.publish("platform", CAPTCHA_RULE)
    for _ in range(challenges.CAPTCHAS_PER_WINDOW):
        captcha_of(await checkout.order())
    throttled = await checkout.order()
    assert throttled.status_code == 429 and "captchas" in throttled.json()["message"]
    assert int(throttled.headers["Retry-After"]) > 0
    assert (await checkout.order(ip="198.51.100.77")).status_code == 428


async def test_a_proof_of_work_rule_still_asks_for_work_when_no_captcha_rule_fires(
    checkout: Checkout,
) -> None:
    await checkout.publish(
        "platform",
        {"type": "challenge", "kind": "captcha", "per": "ip", "limit": 2, "window_seconds": 60},
        {"type": "challenge", "per": "always", "difficulty": BITS},
    )
    work = await checkout.order()
    assert work.json()["challenge"]["kind"] == "proof_of_work"
    assert (await checkout.order(solution=solved(work))).status_code == 201
    assert (await checkout.order(solution=solved(await checkout.order()))).status_code == 201
    assert captcha_of(await checkout.order())


async def test_the_storefront_form_shows_the_image_with_its_label_and_takes_the_typed_characters(
    checkout: Checkout,
) -> None:
    await checkout.publish("platform", CAPTCHA_RULE)
    form = {"product_id": PRODUCT_ID, "email": "buyer@example.com", "quantity": "1", "locale": "en"}
    async with checkout.client() as client:
        client.headers["Accept-Language"] = "en"
        page = await client.post("/shop/orders", data=form)
        assert page.status_code == 428 and "data-captcha" in page.text
        assert 'src="data:image/png;base64,' in page.text and 'alt="Distorted characters' in page.text
        assert '<label for="f-challenge_answer">Characters in the image</label>' in page.text
        token = page.text.split('name="challenge" value="', 1)[1].split('"', 1)[0]
        wrong = await client.post(
            "/shop/orders", data={**form, "challenge": token, "challenge_answer": "nope"}
        )
        assert wrong.status_code == 428 and "did not match" in wrong.text
        token = wrong.text.split('name="challenge" value="', 1)[1].split('"', 1)[0]
        refreshed = await client.post(
            "/shop/orders", data={**form, "challenge": token, "challenge_answer": "x", "captcha_refresh": "1"}
        )
        assert refreshed.status_code == 428 and "did not match" not in refreshed.text
        token = refreshed.text.split('name="challenge" value="', 1)[1].split('"', 1)[0]
        assert await checkout.store.exists(challenges.captcha_key(checkout.namespace, token.split(".")[4]))
        answer = {**form, "challenge": token, "challenge_answer": await answer_of(checkout, token)}
        placed = await client.post("/shop/orders", data=answer)
    assert placed.status_code == 303 and placed.headers["location"].startswith("/orders/F2026")
