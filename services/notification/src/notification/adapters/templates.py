"""Notice templates (Jinja2, package data under notification/templates/<template>/<locale>/).

Each notice has subject.txt and body.txt; body.html (email), sms.txt (short text) and site.txt (the order
page) are optional: HTML falls back to the escaped text, SMS to the subject, and a notice without site.txt
has no order-page form. A notice a shop may word has shop_body.txt (the text a shop starts from, its marker
where the platform's part goes) unless body.txt is one already, block.txt (the platform's part: keys, links)
and head.txt (what stays above a shop's text)."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, TemplateNotFound, select_autoescape
from markupsafe import escape

from notification.adapters.shop_templates import CompiledShopTemplate
from notification.domain.model import RenderedNotice, pick_locale

log = logging.getLogger(__name__)


class TemplateRenderer:
    """Renders every form of a notice in the buyer's (nearest supported) locale."""

    def __init__(self) -> None:
        self._env = Environment(
            loader=PackageLoader("notification", "templates"),
            autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            # the templates ship with the code: no stat of their file at every render to see if it changed
            auto_reload=False,
        )
        #: Which templates exist, read once: a notice's optional parts (HTML, SMS, site text) that it has
        #: not are known missing without a search of the package at every render.
        self._names = frozenset(self._env.list_templates())

    def _optional(self, name: str, context: dict[str, Any]) -> str | None:
        if name not in self._names:
            return None
        return self._env.get_template(name).render(context)

    def render(self, template: str, locale: str | None, context: dict[str, Any]) -> RenderedNotice:
        chosen = pick_locale(locale)
        base = f"{template}/{chosen}"
        subject = " ".join(self._env.get_template(f"{base}/subject.txt").render(context).split())
        text = self._env.get_template(f"{base}/body.txt").render(context)
        html = self._optional(f"{base}/body.html", context)
        if html is None:
            html = f'<pre style="font-family: sans-serif; white-space: pre-wrap;">{escape(text)}</pre>\n'
        sms = self._optional(f"{base}/sms.txt", context)
        site = self._optional(f"{base}/site.txt", context)
        return RenderedNotice(
            subject=subject,  # one line: no header injection through a product title
            text=text,
            html=html,
            sms=" ".join(sms.split()) if sms is not None else subject,
            site=site.strip() if site is not None else None,
        )

    def source(self, template: str, locale: str, part: str) -> str | None:
        """A template file's Jinja source (None: the notice has no such part)."""
        try:
            return self._env.loader.get_source(self._env, f"{template}/{locale}/{part}")[0]  # type: ignore[union-attr]
        except TemplateNotFound:
            return None

    def render_worded(
        self, worded: CompiledShopTemplate, template: str, locale: str | None, context: dict[str, Any]
    ) -> RenderedNotice:
        """The notice as the shop worded its e-mail: the shop's subject and text, the platform's part
        (rendered here, with the keys or links the context holds) where the marker stands, the platform's
        head above. A shop template that fails now (a fact it cannot take) gives way to the default."""
        default = self.render(template, locale, context)
        base = f"{template}/{pick_locale(locale)}"
        part = self._optional(f"{base}/block.txt", context) or ""
        head = self._optional(f"{base}/head.txt", context) or ""
        try:
            subject, text, html = worded.render(context, part)
        except Exception as error:
            log.warning(
                "%s: the shop's wording failed (%s: %s); the default is sent",
                base,
                type(error).__name__,
                error,
            )
            return default
        if head:
            text = head + text
            html = (
                f'<pre style="font-family: sans-serif; white-space: pre-wrap;">{escape(head)}</pre>\n' + html
            )
        return replace(default, subject=subject or default.subject, text=text, html=html)
