"""Email templates (Jinja2, package data under notification/templates/<template>/<locale>/)."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from notification.domain.model import RenderedEmail, pick_locale


class TemplateRenderer:
    """Renders subject, plain text and HTML of a template in the buyer's (nearest supported) locale."""

    def __init__(self) -> None:
        self._env = Environment(
            loader=PackageLoader("notification", "templates"),
            autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )

    def render(self, template: str, locale: str | None, context: dict[str, Any]) -> RenderedEmail:
        chosen = pick_locale(locale)
        base = f"{template}/{chosen}"
        subject = self._env.get_template(f"{base}/subject.txt").render(context)
        return RenderedEmail(
            subject=" ".join(subject.split()),  # one line: no header injection through a product title
            text=self._env.get_template(f"{base}/body.txt").render(context),
            html=self._env.get_template(f"{base}/body.html").render(context),
        )
