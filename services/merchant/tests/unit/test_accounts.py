from datetime import UTC, datetime, timedelta
from itertools import product
from uuid import uuid4

import pyotp
import pytest
from cryptography.exceptions import InvalidTag
from faka_common.contracts.accounts import PlatformRole, ShopRole
from faka_common.crypto import DEV_FINGERPRINT_SECRET, DEV_KEYRING, KeyRing
from merchant.adapters.credentials import Passwords, TotpSecrets
from merchant.domain.accounts import (
    RECOVERY_CODES,
    SHOP_ROLES,
    Account,
    InvalidEmail,
    Membership,
    Person,
    Session,
    SessionPolicy,
    WeakPassword,
    check_email,
    check_password,
    may_manage_member,
    new_recovery_codes,
    new_totp_secret,
    recovery_digest,
    totp_step,
)

NOW = datetime(2026, 12, 1, 12, 0, 10, tzinfo=UTC)
SHOP = uuid4()
OTHER_SHOP = uuid4()


def an_account(totp: bool = False) -> Account:
    return Account(
        id=uuid4(),
        email="seller@example.com",
        password_hash=None,
        email_verified_at=None,
        totp_secret=None,
        totp_enabled_at=NOW if totp else None,
        totp_last_step=None,
        created_at=NOW,
        updated_at=NOW,
    )


def a_person(*roles: PlatformRole, shop_role: ShopRole | None = None, totp: bool = False) -> Person:
    account = an_account(totp)
    memberships = (Membership(SHOP, account.id, shop_role, NOW, NOW),) if shop_role else ()
    return Person(account, roles, memberships)


def code_at(secret: str, when: datetime) -> str:
    return pyotp.TOTP(secret).at(when)


@pytest.mark.parametrize("offset", [-30, 0, 30])
def test_a_totp_code_one_step_early_or_late_is_accepted_with_its_step(offset: int) -> None:
    secret = new_totp_secret()
    step = totp_step(secret, code_at(secret, NOW + timedelta(seconds=offset)), NOW, None)
    assert step == pyotp.TOTP(secret).timecode(NOW) + offset // 30


@pytest.mark.parametrize("offset", [-90, -60, 60, 90])
def test_a_totp_code_two_steps_away_is_refused(offset: int) -> None:
    secret = new_totp_secret()
    assert totp_step(secret, code_at(secret, NOW + timedelta(seconds=offset)), NOW, None) is None


def test_a_totp_code_of_a_step_accepted_already_or_before_it_is_refused() -> None:
    secret = new_totp_secret()
    current = pyotp.TOTP(secret).timecode(NOW)
    code = code_at(secret, NOW)
    assert totp_step(secret, code, NOW, current - 1) == current
    assert totp_step(secret, code, NOW, current) is None
    earlier = code_at(secret, NOW - timedelta(seconds=30))
    assert totp_step(secret, earlier, NOW, current) is None


@pytest.mark.parametrize("typed", ["", "12345", "1234567", "12a456", "١٢٣٤٥٦", "123 456 "])
def test_a_malformed_code_matches_nothing(typed: str) -> None:
    secret = new_totp_secret()
    valid = code_at(secret, NOW)
    expected = pyotp.TOTP(secret).timecode(NOW) if "".join(typed.split()) == valid else None
    assert totp_step(secret, typed, NOW, None) == expected


def test_recovery_codes_are_ten_distinct_codes_typed_in_any_case_with_or_without_hyphens() -> None:
    codes = new_recovery_codes()
    assert len(set(codes)) == RECOVERY_CODES
    assert all(len(code) == 14 and code.count("-") == 2 for code in codes)
    code = codes[0]
    assert recovery_digest(code) == recovery_digest(code.upper().replace("-", " "))
    assert recovery_digest(code) != recovery_digest(codes[1])


def test_an_address_is_checked_and_its_domain_lower_cased() -> None:
    assert check_email("  Seller@Example.COM ") == "Seller@example.com"
    for bad in ("seller", "seller@", "@example.com", "a b@example.com", "x" * 250 + "@e.com"):
        with pytest.raises(InvalidEmail):
            check_email(bad)


@pytest.mark.parametrize(
    ("password", "says"),
    [
        ("short", "10 to 256"),
        ("x" * 257, "10 to 256"),
        ("aaaaabbbbb", "4 different"),
        ("Seller@example.com", "e-mail"),
    ],
)
def test_a_weak_password_is_refused_saying_why(password: str, says: str) -> None:
    with pytest.raises(WeakPassword, match=says) as refused:
        check_password(password, "seller@example.com")
    assert refused.value.status_code == 422


@pytest.mark.parametrize(
    ("person", "must"),
    [
        (a_person(), False),
        (a_person(shop_role="manager"), False),
        (a_person(shop_role="owner"), True),
        (a_person(shop_role="owner", totp=True), False),
        (a_person("support"), True),
        (a_person("admin"), True),
        (a_person("admin", totp=True), False),
    ],
)
def test_platform_staff_and_shop_owners_must_set_up_totp(person: Person, must: bool) -> None:
    assert person.must_enrol_totp is must


@pytest.mark.parametrize(
    ("actor_role", "role", "current"), list(product(SHOP_ROLES, SHOP_ROLES, (None, *SHOP_ROLES)))
)
def test_who_may_give_which_shop_role(actor_role: ShopRole, role: ShopRole, current: ShopRole | None) -> None:
    actor = a_person(shop_role=actor_role)
    below_manager = {"operator", "support", "viewer"}
    expected = actor_role == "owner" or (
        actor_role == "manager" and role in below_manager and (current is None or current in below_manager)
    )
    assert may_manage_member(actor, SHOP, role, current) is expected
    assert may_manage_member(actor, OTHER_SHOP, role, current) is False
    assert may_manage_member(a_person("admin"), SHOP, role, current) is True
    assert may_manage_member(a_person("support"), SHOP, role, current) is False


def test_a_session_is_over_after_its_idle_time_and_never_after_its_absolute_expiry() -> None:
    policy = SessionPolicy(
        timedelta(minutes=30), timedelta(hours=12), timedelta(minutes=5), timedelta(minutes=30)
    )
    session = Session.open(
        id=uuid4(),
        account_id=uuid4(),
        now=NOW,
        policy=policy,
        second_factor_at=None,
        client_ip=None,
        user_agent="",
    )
    assert (session.idle_expires_at, session.absolute_expires_at) == (
        NOW + policy.idle,
        NOW + policy.absolute,
    )
    short = SessionPolicy(timedelta(hours=2), timedelta(hours=1), policy.challenge, policy.link)
    capped = Session.open(
        id=uuid4(),
        account_id=uuid4(),
        now=NOW,
        policy=short,
        second_factor_at=None,
        client_ip=None,
        user_agent="",
    )
    assert capped.idle_expires_at == capped.absolute_expires_at == NOW + timedelta(hours=1)


@pytest.fixture(scope="module")
def passwords() -> Passwords:
    return Passwords(time_cost=2, memory_kib=19 * 1024, parallelism=1)


async def test_the_same_password_never_hashes_the_same_twice(passwords: Passwords) -> None:
    first, second = (
        await passwords.hash("correct horse battery"),
        await passwords.hash("correct horse battery"),
    )
    assert first != second and first.startswith("$argon2id$") and "correct" not in first
    assert await passwords.verify(first, "correct horse battery")
    assert await passwords.verify(second, "correct horse battery")
    assert not await passwords.verify(first, "correct horse battery!")


async def test_without_a_stored_hash_nothing_verifies(passwords: Passwords) -> None:
    assert not await passwords.verify(None, "correct horse battery")
    assert not await passwords.verify("not a hash", "correct horse battery")


async def test_a_hash_made_with_weaker_parameters_is_to_be_rehashed(passwords: Passwords) -> None:
    stronger = Passwords(time_cost=3, memory_kib=19 * 1024, parallelism=1)
    assert stronger.needs_rehash(await passwords.hash("correct horse battery"))
    assert not passwords.needs_rehash(await passwords.hash("correct horse battery"))


def test_a_sealed_totp_secret_holds_no_plaintext_and_opens_for_its_own_account_only() -> None:
    secrets = TotpSecrets(KeyRing.parse(DEV_KEYRING, DEV_FINGERPRINT_SECRET))
    secret, account, other = new_totp_secret(), uuid4(), uuid4()
    sealed = secrets.seal(account, secret)
    assert secret.encode() not in sealed.blob
    assert secrets.open(account, sealed) == secret
    with pytest.raises(InvalidTag):
        secrets.open(other, sealed)
