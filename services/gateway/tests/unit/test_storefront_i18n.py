"""The storefront's languages: every msgid of the templates and pages has its zh-CN translation, and the
language a request gets (the switch, Accept-Language, the shop's default)."""

from pathlib import Path

import gateway
from babel.messages.extract import extract_from_dir
from gateway.entrypoints import i18n

GATEWAY = Path(gateway.__file__).resolve().parent
METHODS = [("entrypoints/**.py", "python"), ("templates/**.html", "jinja2.ext:babel_extract")]
OPTIONS = {"templates/**.html": {"extensions": "jinja2.ext.i18n"}}


def msgids() -> set[str]:
    found = extract_from_dir(
        str(GATEWAY), METHODS, OPTIONS, keywords={"_": None, "gettext": None, "N_": None}
    )
    return {message if isinstance(message, str) else message[0] for _, _, message, _, _ in found}


def test_every_storefront_string_has_a_chinese_translation() -> None:
    ids = msgids()
    assert len(ids) > 80, "the extraction found the templates' strings"
    catalog = i18n.catalog("zh-CN")
    assert catalog is not None
    untranslated = sorted(
        i for i in ids if catalog.get(i) is None or not catalog.get(i).string or catalog.get(i).fuzzy
    )
    assert untranslated == [], f"msgids without a zh-CN translation: {untranslated}"


def test_translations_keep_every_placeholder_of_their_msgid() -> None:
    catalog = i18n.catalog("zh-CN")
    assert catalog is not None
    for message in catalog:
        if message.id and "%(" in str(message.id):
            for name in __import__("re").findall(r"%\((\w+)\)s", str(message.id)):
                assert f"%({name})s" in str(message.string), (message.id, message.string)


def test_the_switch_beats_accept_language_which_beats_the_shops_default() -> None:
    both = ("zh-CN", "en")
    assert i18n.negotiate(both) == "zh-CN"
    assert i18n.negotiate(("en", "zh-CN")) == "en"
    assert i18n.negotiate(both, accept_language="en-US,en;q=0.9") == "en"
    assert i18n.negotiate(both, accept_language="fr-FR, en;q=0.5, zh;q=0.8") == "zh-CN"
    assert i18n.negotiate(both, cookie="en", accept_language="zh-CN") == "en"
    assert i18n.negotiate(both, requested="zh-CN", cookie="en", accept_language="en") == "zh-CN"


def test_only_the_shops_languages_are_offered() -> None:
    assert i18n.negotiate(("en",), requested="zh-CN", accept_language="zh-CN") == "en"
    assert i18n.negotiate(("zh-CN",), accept_language="en, fr") == "zh-CN"
    assert i18n.negotiate((), accept_language="de") == "zh-CN"
    assert i18n.negotiate(("zh-CN", "en"), requested="klingon") == "zh-CN"


def test_chinese_is_compiled_from_the_po_file_at_import() -> None:
    assert i18n.gettext("zh-CN", "Find my order") == "查询订单"
    assert i18n.gettext("en", "Find my order") == "Find my order"
