"""What notification makes of merchant's answer to a link request: the link, the address and the language;
an answer that does not fit (another account, another purpose, no address, a body it cannot read) is an
error that names no token."""

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from faka_common.http import InternalClient
from notification.adapters.account_links import MerchantLinks
from notification.config import Settings
from notification.domain.model import NotificationError

TOKEN = "T0K3N-never-in-an-error"


def merchant(answer: dict[str, Any]) -> MerchantLinks:
    def issue(request: httpx.Request) -> httpx.Response:
        return httpx.Response(201, json=answer)

    transport = httpx.MockTransport(issue)
    return MerchantLinks(InternalClient("http://merchant.test", Settings().credential(), transport=transport))


def answer(account: UUID, **changes: Any) -> dict[str, Any]:
    body = {
        "account_id": str(account),
        "email": "person@example.com",
        "purpose": "password_reset",
        "token": TOKEN,
        "url": f"https://console.test/console/reset?token={TOKEN}",
        "expires_at": (datetime.now(UTC) + timedelta(minutes=30)).isoformat(),
    }
    return {**body, **changes}


async def test_the_answer_gives_the_link_the_address_and_a_language_only_if_merchant_names_one() -> None:
    account_id = uuid4()
    link = await merchant(answer(account_id)).account_link(account_id, "password_reset")
    assert (link.email, link.purpose, link.locale) == ("person@example.com", "password_reset", None)
    assert link.url.endswith(TOKEN) and TOKEN not in repr(link)
    named = await merchant(answer(account_id, locale="zh-CN")).account_link(account_id, "password_reset")
    assert named.locale == "zh-CN"


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        ({"account_id": str(uuid4())}, "another account"),
        ({"purpose": "account_setup"}, "account_setup link when password_reset was asked for"),
        ({"email": " "}, "no e-mail address"),
        ({"url": None}, "unexpected link body (fields: url)"),
        ({"expires_at": TOKEN}, "unexpected link body (fields: expires_at)"),
        ({"expires_at": "2026-01-01T08:00:00"}, "unexpected link body (fields: expires_at)"),
    ],
)
async def test_an_answer_that_does_not_fit_is_an_error_naming_no_token(
    changes: dict[str, Any], said: str
) -> None:
    account_id = uuid4()
    with pytest.raises(NotificationError) as error:
        await merchant(answer(account_id, **changes)).account_link(account_id, "password_reset")
    assert said in str(error.value) and TOKEN not in str(error.value)
