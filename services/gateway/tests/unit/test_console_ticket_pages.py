"""The console's ticket pages at the gateway, with the owners as fakes: every shop role reads the tickets
(the nav shows them), support gets the answer and escalation forms and a viewer none; the shop's deadlines
are set by who may (delivery:write), not by support; the platform's queue opens to platform staff only; a
ticket page of a malformed id is a 404; a page without a session goes to sign-in; in zh-CN the pages' own
words are Chinese."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx
import pytest
from gateway.domain.access import Principal
from gateway.entrypoints.i18n import catalog

from .test_console_pages import CARDS, as_person, console_of, person

STAFF = Principal(
    kind="person",
    id=uuid.uuid4(),
    label="staff@platform.example",
    platform_roles=frozenset({"support"}),
    second_factor_at=datetime.now(UTC),
    session_id=uuid.uuid4(),
)
PEOPLE = {
    "owner": person({CARDS: "owner"}),
    "support": person({CARDS: "support"}),
    "viewer": person({CARDS: "viewer"}),
    "staff": STAFF,
}
TICKET = f"/console/tickets/{uuid.uuid4()}"
PAGES = ("/console/tickets", "/console/tickets/canned", TICKET)


@pytest.fixture
async def console() -> AsyncIterator[httpx.AsyncClient]:
    def owners(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"error": "not_found", "message": "nothing here"})

    async with console_of(owners, PEOPLE) as client:
        yield client


async def test_every_shop_role_reads_the_tickets_and_only_who_may_answer_gets_the_forms(
    console: httpx.AsyncClient,
) -> None:
    for who in ("owner", "support", "viewer"):
        for path in PAGES:
            answer = await console.get(path, headers=as_person(who))
            assert answer.status_code == 200, (who, path, answer.text)
            assert 'href="console/tickets"' in answer.text
    support = await console.get(TICKET, headers=as_person("support"))
    viewer = await console.get(TICKET, headers=as_person("viewer"))
    assert (
        'id="reply"' in support.text and 'id="escalate"' in support.text and 'id="f-canned"' in support.text
    )
    assert 'data-can-write="no"' in viewer.text
    assert 'id="reply"' not in viewer.text and 'id="escalate"' not in viewer.text
    canned_support = await console.get("/console/tickets/canned", headers=as_person("support"))
    canned_owner = await console.get("/console/tickets/canned", headers=as_person("owner"))
    canned_viewer = await console.get("/console/tickets/canned", headers=as_person("viewer"))
    assert 'id="canned-form"' in canned_support.text and 'id="sla-form"' not in canned_support.text
    assert 'id="sla-form"' in canned_owner.text
    assert 'id="canned-form"' not in canned_viewer.text and 'id="sla-form"' not in canned_viewer.text


async def test_the_platform_queue_opens_to_platform_staff_only_and_their_answers_are_the_platforms(
    console: httpx.AsyncClient,
) -> None:
    staff = await console.get("/console/tickets/platform", headers=as_person("staff"))
    owner = await console.get("/console/tickets/platform", headers=as_person("owner"))

    assert staff.status_code == 200 and 'data-source="/api/platform/tickets"' in staff.text
    assert 'data-platform="yes"' in staff.text and 'href="console/tickets/platform"' in staff.text
    assert owner.status_code == 403 and "cannot open this page." in owner.text
    listed = await console.get("/console/tickets", headers=as_person("owner"))
    assert 'href="console/tickets/platform"' not in listed.text
    ticket = await console.get(f"{TICKET}?shop={CARDS.id}", headers=as_person("staff"))
    assert 'data-answers-as="platform"' in ticket.text and f'data-shop="{CARDS.id}"' in ticket.text
    mine = await console.get(TICKET, headers=as_person("support"))
    assert 'data-answers-as="shop"' in mine.text


async def test_a_ticket_page_of_a_malformed_id_is_a_404_and_no_session_goes_to_sign_in(
    console: httpx.AsyncClient,
) -> None:
    missing = await console.get("/console/tickets/not-an-id", headers=as_person("owner"))
    assert missing.status_code == 404 and "No such ticket." in missing.text
    for path in (*PAGES, "/console/tickets/platform"):
        answer = await console.get(path)
        assert answer.status_code == 303 and urlsplit(answer.headers["location"]).path == "/console/sign-in"


async def test_the_ticket_pages_in_chinese_have_no_english_msgid_left(console: httpx.AsyncClient) -> None:
    chinese = catalog("zh-CN")
    assert chinese is not None
    english = [str(m.id) for m in chinese if m.id and m.string != m.id and str(m.id)[:1].isupper()]
    for path, who in [*((p, "owner") for p in PAGES), ("/console/tickets/platform", "staff")]:
        answer = await console.get(path, headers=as_person(who, **{"Accept-Language": "zh-CN"}))
        assert answer.status_code == 200 and '<html lang="zh-CN">' in answer.text, path
        page = re.sub(r'<script type="application/json".*?</script>', "", answer.text, flags=re.S)
        shown = [msgid for msgid in english if f">{msgid}<" in page]
        assert shown == [], (path, shown)
        assert "工单" in page
