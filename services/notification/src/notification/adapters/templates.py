"""Notice templates (Jinja2, package data under notification/templates/<template>/<locale>/).

Each notice has subject.txt and body.txt; body.html (email), sms.txt (short text) and site.txt (the order
page) are optional: HTML falls back to the escaped text, SMS to the subject, and a notice without site.txt
has no order-page form."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, TemplateNotFound, select_autoescape
from markupsafe import escape

from notification.domain.model import RenderedNotice, pick_locale


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
        )

    def _optional(self, name: str, context: dict[str, Any]) -> str | None:
        try:
            template = self._env.get_template(name)
        except TemplateNotFound:
            return None
        return template.render(context)

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
