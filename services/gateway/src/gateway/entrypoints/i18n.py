"""The storefront's languages: which one a request gets, and the message catalogs behind it.

English is the source language (the msgids in the templates and in `pages`); zh-CN is
`gateway/locale/zh_CN/LC_MESSAGES/messages.po`, compiled in memory with Babel when this module is imported,
so no .mo file is built or committed. After changing a string, update the catalog:
`pybabel extract -F services/gateway/babel.cfg -o /tmp/messages.pot services/gateway/src/gateway` and
`pybabel update -i /tmp/messages.pot -d services/gateway/src/gateway/locale -D messages`, then translate
what is new (a unit test fails on any msgid without a translation)."""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Literal, cast, get_args

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

Language = Literal["zh-CN", "en"]
LANGUAGES: tuple[Language, ...] = get_args(Language)
#: Where the buyer's choice from the language switch is kept (a year; it holds nothing but the code).
LANGUAGE_COOKIE = "faka_lang"
LANGUAGE_COOKIE_SECONDS = 365 * 24 * 3600

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
#: The catalog file of each language that has one (English needs none).
CATALOG_FILES: Mapping[Language, Path] = {"zh-CN": LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / "messages.po"}


def language(value: str | None) -> Language | None:
    """A language the storefront is written in, from a code as browsers and people write it."""
    code = (value or "").strip().lower().replace("_", "-")
    if code == "en" or code.startswith("en-"):
        return "en"
    if code in ("zh", "zh-cn", "zh-hans", "zh-sg") or code.startswith("zh-hans-"):
        return "zh-CN"
    return None


def accepted(accept_language: str | None) -> list[Language]:
    """The languages of an Accept-Language header we have, by the buyer's preference (q-values)."""
    ranked: list[tuple[float, int, Language]] = []
    for index, part in enumerate((accept_language or "").split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        found = language(tag)
        if found is not None and quality > 0:
            ranked.append((-quality, index, found))
    return list(dict.fromkeys(found for _, _, found in sorted(ranked)))


def negotiate(
    shop_languages: Iterable[str],
    requested: str | None = None,
    cookie: str | None = None,
    accept_language: str | None = None,
) -> Language:
    """The switch (query, then cookie) over Accept-Language over the shop's default (its first language);
    only the shop's own languages are offered."""
    offered = [found for found in (language(code) for code in shop_languages) if found is not None]
    offered = offered or list(LANGUAGES)
    for choice in (language(requested), language(cookie), *accepted(accept_language)):
        if choice in offered:
            return choice
    return offered[0]


def compiled(catalog: Catalog) -> Translations:
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer, domain="messages")


@cache
def catalog(lang: Language) -> Catalog | None:
    path = CATALOG_FILES.get(lang)
    if path is None:
        return None
    with path.open("rb") as po:
        return read_po(po, locale=lang.replace("-", "_"))


@cache
def translations(lang: Language) -> NullTranslations:
    found = catalog(lang)
    return NullTranslations() if found is None else compiled(found)


def gettext(lang: Language, message: str) -> str:
    return cast(str, translations(lang).gettext(message))
