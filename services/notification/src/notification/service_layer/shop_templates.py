"""A shop's own wording of its buyers' e-mails, as the console edits it: every notice it may word with the
platform's default and the shop's own, a change (checked whole before anything is stored), a preview with
sample facts, and the way back to the default."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from notification.adapters.shop_templates import ShopTemplateCache, compile_template
from notification.adapters.templates import TemplateRenderer
from notification.domain.shop_templates import (
    LANGUAGES,
    MAX_BODY,
    MAX_SUBJECT,
    SAMPLE_FACTS,
    SAMPLE_SECRETS,
    WORDABLE,
    ShopTemplate,
    wordable,
)
from notification.service_layer.unit_of_work import NotificationUnitOfWork


def default_wording(renderer: TemplateRenderer, template: str, language: str) -> dict[str, str]:
    """The platform's subject and the text a shop starts from (its marker where the platform's part goes)."""
    subject = renderer.source(template, language, "subject.txt") or ""
    body = renderer.source(template, language, "shop_body.txt") or renderer.source(
        template, language, "body.txt"
    )
    return {"subject": subject.strip(), "body": body or ""}


def _entry(
    renderer: TemplateRenderer, template: str, language: str, own: ShopTemplate | None
) -> dict[str, Any]:
    notice = WORDABLE[template]
    return {
        "template": template,
        "language": language,
        "placeholders": sorted(notice.placeholders),
        "marker": notice.marker,
        "limits": {"subject": MAX_SUBJECT, "body": MAX_BODY},
        "default": default_wording(renderer, template, language),
        "own": None
        if own is None
        else {
            "subject": own.subject,
            "body": own.body,
            "updated_by": own.updated_by,
            "updated_at": own.updated_at.isoformat(),
        },
    }


async def shop_templates_view(
    shop_id: UUID, uow: NotificationUnitOfWork, renderer: TemplateRenderer
) -> dict[str, Any]:
    """Every notice the shop may word, in every language, with the default and the shop's own (or None)."""
    async with uow:
        own = {(t.template, t.language): t for t in await uow.shop_templates.of_shop(shop_id)}
    items = [
        _entry(renderer, template, language, own.get((template, language)))
        for template in WORDABLE
        for language in LANGUAGES
    ]
    return {"items": items}


async def word_template(
    shop_id: UUID,
    template: str,
    language: str,
    subject: str,
    body: str,
    changed_by: str,
    uow: NotificationUnitOfWork,
    renderer: TemplateRenderer,
    cache: ShopTemplateCache | None,
) -> dict[str, Any]:
    """Store the shop's wording after checking it whole (TemplateRefused: nothing stored)."""
    compile_template(template, language, subject, body)
    own = ShopTemplate(shop_id, template, language, subject, body, changed_by, datetime.now(UTC))
    async with uow:
        await uow.shop_templates.put(own)
        await uow.commit()
    if cache is not None:
        cache.forget(shop_id, template, language)
    return _entry(renderer, template, language, own)


async def reset_template(
    shop_id: UUID,
    template: str,
    language: str,
    uow: NotificationUnitOfWork,
    renderer: TemplateRenderer,
    cache: ShopTemplateCache | None,
) -> dict[str, Any]:
    """Back to the platform's wording (nothing to do when the shop had none)."""
    wordable(template, language)
    async with uow:
        await uow.shop_templates.remove(shop_id, template, language)
        await uow.commit()
    if cache is not None:
        cache.forget(shop_id, template, language)
    return _entry(renderer, template, language, None)


def preview(
    renderer: TemplateRenderer, template: str, language: str, subject: str, body: str
) -> dict[str, str]:
    """The e-mail the wording gives with sample facts and a sample key or link (checked as a change is)."""
    compiled = compile_template(template, language, subject, body)
    rendered = renderer.render_worded(compiled, template, language, {**SAMPLE_FACTS, **SAMPLE_SECRETS})
    return {"subject": rendered.subject, "text": rendered.text, "html": rendered.html}
