from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import product
from uuid import uuid4

import pytest
from faka_common.contracts.shops import ShopStatus
from merchant.domain.shops import (
    MAX_DOMAINS,
    STATUSES,
    InvalidHost,
    InvalidShopSettings,
    InvalidSlug,
    Shop,
    ShopClosed,
    StatusChangeRefused,
    check_slug,
    normalize_domains,
    normalize_host,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=5)

#: Written out rather than read from the domain's table, so a changed table fails here.
ALLOWED_STEPS = {
    ("pending", "active"),
    ("pending", "closed"),
    ("active", "suspended"),
    ("active", "closed"),
    ("suspended", "active"),
    ("suspended", "closed"),
}


def a_shop(status: ShopStatus = "active", **settings: object) -> Shop:
    shop = Shop.open(id=uuid4(), slug="game-cards", name="Game cards", now=NOW, **settings)  # type: ignore[arg-type]
    return replace(shop, status=status)


@pytest.mark.parametrize("slug", ["abc", "game-cards", "a1-b2-c3", "default", "x" * 40, "shop--2"])
def test_a_well_formed_slug_names_a_shop(slug: str) -> None:
    assert check_slug(slug) == slug


@pytest.mark.parametrize(
    ("slug", "says"),
    [
        ("ab", "3 to 40 characters"),
        ("x" * 41, "3 to 40 characters"),
        ("", "3 to 40 characters"),
        ("Game-Cards", "lower-case letters"),
        ("-games", "may not start or end with a hyphen"),
        ("games-", "may not start or end with a hyphen"),
        ("game_cards", "lower-case letters"),
        ("game cards", "lower-case letters"),
        ("游戏", "3 to 40 characters"),
        ("游戏卡店", "lower-case letters"),
        ("ab\x00c", "lower-case letters"),
        ("game-cards\n", "lower-case letters"),
    ],
)
def test_a_malformed_slug_is_refused_saying_which_rule_it_breaks(slug: str, says: str) -> None:
    with pytest.raises(InvalidSlug, match=says) as refused:
        check_slug(slug)
    assert refused.value.status_code == 422


@pytest.mark.parametrize(
    "word", ["api", "admin", "static", "internal", "health", "metrics", "console", "login", "www", "docs"]
)
def test_a_reserved_word_is_no_slug(word: str) -> None:
    with pytest.raises(InvalidSlug, match="reserved"):
        check_slug(word)


@pytest.mark.parametrize(
    ("host", "stored"),
    [
        ("cards.example.com", "cards.example.com"),
        ("Cards.Example.COM", "cards.example.com"),
        ("cards.example.com.", "cards.example.com"),
        ("  shop.example.cn ", "shop.example.cn"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("a-b.c-d.example.org", "a-b.c-d.example.org"),
        ("9shop.example.com", "9shop.example.com"),
    ],
)
def test_a_host_is_stored_as_a_lower_case_dns_name(host: str, stored: str) -> None:
    assert normalize_host(host) == stored


@pytest.mark.parametrize(
    ("host", "says"),
    [
        ("https://cards.example.com", "without a scheme"),
        ("cards.example.com/shop", "or a path"),
        ("cards.example.com:8443", "without a port"),
        ("[::1]", "without a port"),
        ("localhost", "at least two labels"),
        ("127.0.0.1", "an IP address"),
        ("-cards.example.com", "not starting or ending with a hyphen"),
        ("cards-.example.com", "not starting or ending with a hyphen"),
        ("cards..example.com", "1 to 63"),
        ("cards_shop.example.com", "letters a-z"),
        ("user@cards.example.com", "letters a-z"),
        (f"{'a' * 64}.example.com", "1 to 63"),
        (".".join(["a" * 60] * 5), "1 to 253"),
        ("bücher.example", "in its ASCII"),
        ("\u212aards.example.com", "in its ASCII"),  # KELVIN SIGN, lower-cased to an ASCII k
        ("", "1 to 253"),
        ("cards.example.com\x00", "letters a-z"),
        ("cards.example\n.com", "letters a-z"),
    ],
)
def test_a_host_that_is_not_a_bare_dns_name_is_refused(host: str, says: str) -> None:
    with pytest.raises(InvalidHost, match=says) as refused:
        normalize_host(host)
    assert refused.value.status_code == 422


def test_domains_are_kept_once_each_and_sorted() -> None:
    assert normalize_domains(["B.example.com", "a.example.com", "b.example.com."]) == (
        "a.example.com",
        "b.example.com",
    )


def test_a_shop_has_a_bounded_number_of_domains() -> None:
    normalize_domains(f"d{n}.example.com" for n in range(MAX_DOMAINS))
    with pytest.raises(InvalidHost, match=f"at most {MAX_DOMAINS}"):
        normalize_domains(f"d{n}.example.com" for n in range(MAX_DOMAINS + 1))


def test_a_new_shop_is_pending_in_cny_in_both_languages_by_default() -> None:
    shop = Shop.open(id=uuid4(), slug="game-cards", name="  Game cards ", now=NOW)
    assert (shop.status, shop.currency, shop.languages) == ("pending", "CNY", ("zh-CN", "en"))
    assert (shop.name, shop.contact, shop.domains) == ("Game cards", "", ())
    assert shop.created_at == shop.updated_at == NOW


@pytest.mark.parametrize("status", ["suspended", "closed", "open"])
def test_a_new_shop_opens_pending_or_active_only(status: str) -> None:
    with pytest.raises(InvalidShopSettings, match="pending or active"):
        Shop.open(id=uuid4(), slug="game-cards", name="Game cards", now=NOW, status=status)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("settings", "says"),
    [
        ({"name": "   "}, "name is 1 to 100"),
        ({"name": "n" * 101}, "name is 1 to 100"),
        ({"currency": "cny"}, "ISO 4217"),
        ({"currency": "CNYX"}, "ISO 4217"),
        ({"currency": "CNY\n"}, "ISO 4217"),
        ({"languages": []}, "at least one"),
        ({"languages": ["en", "en"]}, "each language once"),
        ({"languages": ["fr"]}, "unknown language 'fr'"),
        ({"contact": "c" * 201}, "at most 200"),
    ],
)
def test_bad_shop_settings_are_refused_with_a_clear_message(settings: dict[str, object], says: str) -> None:
    with pytest.raises(InvalidShopSettings, match=says) as refused:
        Shop.open(id=uuid4(), slug="game-cards", now=NOW, **{"name": "Game cards", **settings})  # type: ignore[arg-type]
    assert refused.value.status_code == 422


@pytest.mark.parametrize(("current", "wanted"), list(product(STATUSES, STATUSES)))
def test_status_changes_follow_the_lifecycle(current: ShopStatus, wanted: ShopStatus) -> None:
    shop = a_shop(current)
    if current == wanted:
        assert shop.with_status(wanted, now=LATER) is shop
    elif (current, wanted) in ALLOWED_STEPS:
        changed = shop.with_status(wanted, now=LATER)
        assert (changed.status, changed.updated_at, changed.created_at) == (wanted, LATER, NOW)
    else:
        with pytest.raises(StatusChangeRefused, match=f"is {current} and cannot become {wanted}") as refused:
            shop.with_status(wanted, now=LATER)
        assert refused.value.status_code == 409


def test_closing_is_final_and_says_so() -> None:
    with pytest.raises(StatusChangeRefused, match="closing a shop is final"):
        a_shop("closed").with_status("active", now=LATER)


def test_a_refusal_names_the_steps_the_shop_can_take() -> None:
    with pytest.raises(StatusChangeRefused, match="it can become active or closed"):
        a_shop("pending").with_status("suspended", now=LATER)


def test_changed_settings_are_checked_and_stamp_the_change() -> None:
    shop = a_shop()
    changed = shop.with_settings(
        now=LATER,
        name="Cards",
        contact="tg: @cards",
        currency="USD",
        languages=["en"],
        domains=["A.example.com"],
    )
    assert (changed.name, changed.contact, changed.currency) == ("Cards", "tg: @cards", "USD")
    assert (changed.languages, changed.domains, changed.updated_at) == (("en",), ("a.example.com",), LATER)
    unchanged = (changed.id, changed.slug, changed.status, changed.created_at)
    assert unchanged == (shop.id, shop.slug, "active", NOW)
    with pytest.raises(InvalidHost):
        shop.with_settings(now=LATER, domains=["https://a.example.com"])


def test_settings_that_change_nothing_leave_the_shop_as_it_is() -> None:
    shop = a_shop(domains=["a.example.com"])
    assert shop.with_settings(now=LATER) is shop
    assert shop.with_settings(now=LATER, name=" Game cards", domains=["A.example.com"]) is shop


def test_a_closed_shops_settings_no_longer_change() -> None:
    shop = a_shop("closed")
    with pytest.raises(ShopClosed, match="closed") as refused:
        shop.with_settings(now=LATER, name="Another name")
    assert refused.value.status_code == 409
    assert shop.with_settings(now=LATER, name="Game cards") is shop


def test_the_shop_event_carries_the_whole_shop() -> None:
    shop = a_shop(contact="tg: @cards", domains=["b.example.com", "a.example.com"], languages=["en"])
    assert shop.changed().model_dump(mode="json") == {
        "shop_id": str(shop.id),
        "slug": "game-cards",
        "name": "Game cards",
        "status": "active",
        "currency": "CNY",
        "languages": ["en"],
        "domains": ["a.example.com", "b.example.com"],
        "contact": "tg: @cards",
    }
    assert shop.changed().key == str(shop.id)
