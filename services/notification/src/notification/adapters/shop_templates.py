"""Shops' own wording of buyers' e-mails: the table, its repository, the sandbox that checks and compiles a
shop's template, and the cache the sending path reads them through.

A shop's template is Jinja run in `jinja2.sandbox.SandboxedEnvironment` (no attribute starting with `_`, no
unsafe callables) with only its notice's placeholders in its context: the keys and links are not in it, so no
expression reaches them. The text is rendered twice, as text and autoescaped as HTML."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from jinja2 import StrictUndefined, Template, TemplateError, TemplateSyntaxError, meta
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import escape
from sqlalchemy import Column, ColumnElement, DateTime, PrimaryKeyConstraint, Table, Text, delete, select
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from notification.adapters.tables import metadata
from notification.domain.shop_templates import (
    SAMPLE_FACTS,
    ShopTemplate,
    TemplateRefused,
    Wordable,
    check_sizes,
    wordable,
)

log = logging.getLogger(__name__)

shop_templates = Table(
    "shop_templates",
    metadata,
    Column("shop_id", PgUUID(as_uuid=True), nullable=False),
    Column("template", Text, nullable=False),
    Column("language", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("updated_by", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("shop_id", "template", "language"),
)


def _key(shop_id: UUID, template: str, language: str) -> tuple[ColumnElement[bool], ...]:
    c = shop_templates.c
    return (c.shop_id == shop_id, c.template == template, c.language == language)


class ShopTemplateRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, shop_id: UUID, template: str, language: str) -> ShopTemplate | None:
        row = (
            await self._session.execute(select(shop_templates).where(*_key(shop_id, template, language)))
        ).first()
        return ShopTemplate(**row._mapping) if row else None

    async def of_shop(self, shop_id: UUID) -> list[ShopTemplate]:
        rows = await self._session.execute(select(shop_templates).where(shop_templates.c.shop_id == shop_id))
        return [ShopTemplate(**row._mapping) for row in rows]

    async def put(self, template: ShopTemplate) -> None:
        values = {
            "subject": template.subject,
            "body": template.body,
            "updated_by": template.updated_by,
            "updated_at": template.updated_at,
        }
        await self._session.execute(
            insert(shop_templates)
            .values(
                shop_id=template.shop_id, template=template.template, language=template.language, **values
            )
            .on_conflict_do_update(constraint=shop_templates.primary_key, set_=values)
        )

    async def remove(self, shop_id: UUID, template: str, language: str) -> bool:
        removed = await self._session.execute(
            delete(shop_templates)
            .where(*_key(shop_id, template, language))
            .returning(shop_templates.c.shop_id)
        )
        return removed.first() is not None


def _sandbox(autoescape: bool) -> SandboxedEnvironment:
    return SandboxedEnvironment(
        autoescape=autoescape,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


TEXT = _sandbox(autoescape=False)
HTML = _sandbox(autoescape=True)


@dataclass(frozen=True)
class CompiledShopTemplate:
    """A shop's checked template, compiled once: its subject, its text as text and as HTML, and the token
    standing for the platform's part (random per compilation, known to no template)."""

    wordable: Wordable
    subject: Template
    text: Template
    html: Template
    token: str

    def render(self, facts: Mapping[str, Any], platform_part: str) -> tuple[str, str, str]:
        """(subject, text, HTML) of the shop's wording with `facts` (only the notice's placeholders are
        passed on) and the platform's part where the marker stood, else at the end."""
        public = {name: facts[name] for name in self.wordable.placeholders if name in facts}
        subject = " ".join(self.subject.render(public).split())
        text = self._place(self.text.render(public), platform_part)
        html = self._place(self.html.render(public), str(escape(platform_part)))
        return (
            subject,
            text,
            f'<pre style="font-family: sans-serif; white-space: pre-wrap;">{html}</pre>\n',
        )

    def _place(self, rendered: str, part: str) -> str:
        if not part:
            return rendered.replace(self.token, "")
        if self.token in rendered:
            return rendered.replace(self.token, part.rstrip("\n"), 1).replace(self.token, "")
        return rendered.rstrip("\n") + "\n\n" + part


def _parsed(field: str, source: str, allowed: frozenset[str]) -> None:
    try:
        tree = TEXT.parse(source)
    except TemplateSyntaxError as error:
        raise TemplateRefused(f"{field}: line {error.lineno}: {error.message}") from None
    unknown = sorted(meta.find_undeclared_variables(tree) - allowed)
    if unknown:
        raise TemplateRefused(
            f"{field}: unknown placeholder {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})"
        )


def compile_template(template: str, language: str, subject: str, body: str) -> CompiledShopTemplate:
    """The shop's subject and text checked (sizes, syntax, placeholders, a render with sample facts) and
    compiled; TemplateRefused naming the field and the reason. The marker may stand once in the text."""
    notice = wordable(template, language)
    check_sizes(subject, body)
    token = f"PLATFORM-PART-{uuid.uuid4().hex}"
    if notice.marker is not None:
        if body.count(notice.marker) > 1:
            raise TemplateRefused(
                f"body: the marker {notice.marker} may stand once, not {body.count(notice.marker)} times"
            )
        body = body.replace(notice.marker, token)
    _parsed("subject", subject, notice.placeholders)
    _parsed("body", body, notice.placeholders)
    compiled = CompiledShopTemplate(
        notice, TEXT.from_string(subject), TEXT.from_string(body), HTML.from_string(body), token
    )
    try:
        compiled.render(SAMPLE_FACTS, "")
    except (TemplateError, ArithmeticError, LookupError, TypeError, ValueError) as error:
        raise TemplateRefused(f"body: cannot be rendered: {type(error).__name__}: {error}") from None
    return compiled


class ShopTemplateCache:
    """The sending path's read of a shop's template, per (shop, template, language), compiled: one read of
    the table per key and `ttl` seconds (a shop without its own wording is cached too), forgotten at once
    by this process's change. Another process sees a change within `ttl`."""

    def __init__(self, ttl: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._entries: dict[tuple[UUID, str, str], tuple[float, CompiledShopTemplate | None]] = {}
        self.reads = 0

    async def get(
        self, repository: ShopTemplateRepository, shop_id: UUID, template: str, language: str
    ) -> CompiledShopTemplate | None:
        key = (shop_id, template, language)
        now = self._clock()
        cached = self._entries.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        self.reads += 1
        stored = await repository.get(shop_id, template, language)
        compiled = None
        if stored is not None:
            try:
                compiled = compile_template(template, language, stored.subject, stored.body)
            except TemplateRefused as refused:
                log.warning("shop %s's %s/%s is not used: %s", shop_id, template, language, refused)
        self._entries[key] = (now + self._ttl, compiled)
        return compiled

    def forget(self, shop_id: UUID, template: str, language: str) -> None:
        self._entries.pop((shop_id, template, language), None)
