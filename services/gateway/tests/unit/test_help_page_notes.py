"""The buyer's help page shows the system's notes a buyer should see (a new key, the move to the platform,
images removed) in the page's language, and hides the shop's own (a refusal's detail names the shop's policy
and pool): over ASGI with the in-memory owners of test_gateway_http and a fake delivery holding one thread."""

from __future__ import annotations

import httpx

from .test_gateway_http import ORDER_ID, Edge, FakeOwner, edge, not_found

__all__ = ["edge"]
TICKET_ID = "0190f3a2-1111-7d4b-9a8e-2f6c1b5d4e3a"
REFUSAL_DETAIL = "0 of 1 replacement(s) of this order used; pool: 3 keys"


def message(n: int, author: str, label: str, body: str) -> dict[str, object]:
    return {
        "message_id": f"0190f3a2-2222-7d4b-9a8e-2f6c1b5d4e{n:02d}",
        "author": author,
        "author_label": label,
        "body": body,
        "created_at": f"2026-01-0{n}T00:00:00+00:00",
        "attachments": [],
    }


SLA = "商家未在时限内处理，工单已转交平台。\nThe shop did not answer in time: the platform takes this ticket."
REPLACED = "新的卡密已替换您报告的卡密。\nA new key replaced the reported one."
REMOVED = (
    "工单关闭超过 180 天，图片已删除：proof.png\n"
    "The ticket was closed more than 180 days ago; its images were removed: proof.png"
)
THREAD = {
    "ticket_id": TICKET_ID,
    "category": "key_invalid",
    "status": "resolved",
    "level": "L3",
    "reason": "sla_breached",
    "created_at": "2026-01-01T00:00:00+00:00",
    "updated_at": "2026-01-05T00:00:00+00:00",
    "resolved_at": "2026-01-05T00:00:00+00:00",
    "messages": [
        message(1, "buyer", "buyer", "The key says it was used already."),
        message(
            2,
            "system",
            "note:replacement_refused",
            f"Not replaced automatically: out_of_stock. {REFUSAL_DETAIL}",
        ),
        message(3, "system", "note:sla_escalated", SLA),
        message(4, "system", "note:key_replaced", REPLACED),
        message(5, "system", "note:images_removed", REMOVED),
        message(6, "system", "system", "An unlabelled note of the shop's"),
    ],
}


def holding_the_thread(edge: Edge) -> None:
    def delivery(request: httpx.Request) -> httpx.Response:
        if request.url.path == f"/internal/orders/{ORDER_ID}/tickets":
            return httpx.Response(200, json={"items": [THREAD]})
        if request.url.path == f"/internal/orders/{ORDER_ID}/attachments":
            return httpx.Response(200, json={"items": []})
        return not_found(f"nothing at {request.url.path}")

    edge.gateway.delivery = FakeOwner(delivery)


async def test_the_help_page_shows_a_buyers_system_notes_in_its_language_and_hides_the_shops(
    edge: Edge,
) -> None:
    holding_the_thread(edge)

    english = await edge.client.get(
        "/orders/F20260101ABC/support?token=tok", headers={"Accept-Language": "en"}
    )
    chinese = await edge.client.get(
        "/orders/F20260101ABC/support?token=tok", headers={"Accept-Language": "zh-CN"}
    )

    assert english.status_code == 200 and chinese.status_code == 200, english.text
    for page in (english.text, chinese.text):
        assert "The key says it was used already." in page
        assert REFUSAL_DETAIL not in page and "Not replaced automatically" not in page
        assert "An unlabelled note" not in page
    assert "The shop did not answer in time: the platform takes this ticket." in english.text
    assert "A new key replaced the reported one." in english.text
    assert "its images were removed: proof.png" in english.text
    assert "工单" not in english.text and "卡密已替换" not in english.text
    assert "商家未在时限内处理，工单已转交平台。" in chinese.text
    assert "新的卡密已替换您报告的卡密。" in chinese.text
    assert "工单关闭超过 180 天，图片已删除：proof.png" in chinese.text
    assert "The shop did not answer in time" not in chinese.text and "images were removed" not in chinese.text
    assert english.text.count('class="from-system note note-') == 3
    assert "Notice" in english.text and "通知" in chinese.text


async def test_the_buyers_json_view_of_a_ticket_carries_the_same_notes_and_none_of_the_shops(
    edge: Edge,
) -> None:
    holding_the_thread(edge)

    answer = await edge.client.get("/api/v1/orders/F20260101ABC/tickets?token=tok")

    assert answer.status_code == 200, answer.text
    [ticket] = answer.json()["items"]
    notes = [(m["author"], m["note"]) for m in ticket["messages"]]
    kept = [("system", "sla_escalated"), ("system", "key_replaced"), ("system", "images_removed")]
    assert notes == [("buyer", None), *kept]
    assert REFUSAL_DETAIL not in answer.text
