"""People's use cases: sign in (password, then TOTP or a recovery code), sessions, password changes, TOTP
enrolment and step-up, one-time links (reset, verification, setup), the first platform admin (faka-admin)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime
from uuid import UUID, uuid4

from faka_common.contracts.accounts import AccountLinkRequested, LinkPurpose
from faka_common.errors import Conflict, DomainError, Forbidden, NotFound

from merchant.adapters.credentials import Passwords, TotpSecrets
from merchant.adapters.sign_in_limits import SignInLimits
from merchant.domain.accounts import (
    PASSWORD_LINKS,
    Account,
    ChallengeInvalid,
    EnrolmentRequired,
    Link,
    LinkInvalid,
    Person,
    SecondFactorFailed,
    Session,
    SessionInvalid,
    SessionPolicy,
    SignInFailed,
    StepUpRequired,
    TotpState,
    check_email,
    check_password,
    digest,
    new_recovery_codes,
    new_token,
    new_totp_secret,
    provisioning_uri,
    recovery_digest,
    second_factor_fresh,
    totp_step,
)
from merchant.domain.audit import account_entry, cli_entry
from merchant.domain.commands import ChangePassword, CheckCode, CompleteSignIn, RedeemLink, SignIn
from merchant.service_layer.unit_of_work import MerchantUnitOfWork

log = logging.getLogger(__name__)


class WrongPassword(Forbidden):
    code = "wrong_password"


class WrongCode(Forbidden):
    code = "wrong_code"


@dataclass(frozen=True)
class Credentials:
    """What checks and keeps people's secrets, and how long what they open lasts."""

    passwords: Passwords
    totp: TotpSecrets
    limits: SignInLimits
    policy: SessionPolicy
    issuer: str


@dataclass(frozen=True)
class SignedIn:
    token: str
    session: Session
    person: Person


@dataclass(frozen=True)
class SecondFactorRequired:
    challenge: str
    expires_at: datetime


@dataclass(frozen=True)
class TotpEnrolment:
    secret: str
    uri: str


@dataclass(frozen=True)
class IssuedLink:
    link: Link
    token: str
    email: str


async def sign_in(
    cmd: SignIn, uow: MerchantUnitOfWork, creds: Credentials, now: datetime
) -> SignedIn | SecondFactorRequired:
    """Check the e-mail and password: a session, or a challenge the second factor completes. A wrong password,
    an unknown address and an account without a password yet fail alike, after as long (an argon2 verify is
    spent in each case) and counted in the same windows."""
    await creds.limits.take(creds.limits.windows(cmd.email, cmd.client_ip))
    async with uow:
        account = await uow.accounts.by_email(cmd.email)
    stored = account.password_hash if account else None
    if not await creds.passwords.verify(stored, cmd.password) or account is None or stored is None:
        log.info("sign-in refused (account %s)", account.id if account else "unknown")
        raise SignInFailed()
    rehashed = await creds.passwords.hash(cmd.password) if creds.passwords.needs_rehash(stored) else None
    async with uow:
        if rehashed:
            await uow.accounts.set_password(account.id, rehashed, now, verified=False)
        if account.totp_enabled:
            challenge = new_token()
            expires_at = now + creds.policy.challenge
            await uow.sessions.add_challenge(uuid4(), account.id, digest(challenge), now, expires_at)
            await uow.commit()
            return SecondFactorRequired(challenge, expires_at)
        signed_in = await _open_session(uow, creds, account, now, None, cmd.client_ip, cmd.user_agent)
        await uow.commit()
    log.info("account %s signed in with a password", account.id)
    return signed_in


async def complete_sign_in(
    cmd: CompleteSignIn, uow: MerchantUnitOfWork, creds: Credentials, now: datetime
) -> SignedIn:
    """Complete a sign-in with a TOTP code (each accepted once) or a recovery code (each usable once). A
    challenge takes a few wrong codes, then it is spent; completions of one challenge wait for each other."""
    if (cmd.code is None) == (cmd.recovery_code is None):
        raise DomainError("give either a TOTP code or a recovery code")
    async with uow:
        found = await uow.sessions.open_challenge(digest(cmd.challenge), now)
        if found is None:
            raise ChallengeInvalid()
        challenge_id, account_id = found
        account = await _account(uow, account_id)
        await creds.limits.take(creds.limits.windows(account.email, cmd.client_ip))
        if cmd.code is not None:
            passed = await _accept_totp(uow, creds, account, cmd.code, now)
        else:
            assert cmd.recovery_code is not None
            passed = await uow.accounts.use_recovery_code(account.id, recovery_digest(cmd.recovery_code), now)
        if not passed:
            await uow.sessions.fail_challenge(challenge_id)
            await uow.commit()
            log.info("second factor refused (account %s)", account.id)
            raise SecondFactorFailed("wrong or used code")
        await uow.sessions.complete_challenge(challenge_id, now)
        signed_in = await _open_session(uow, creds, account, now, now, cmd.client_ip, cmd.user_agent)
        await uow.commit()
    log.info("account %s signed in with %s", account.id, "TOTP" if cmd.code else "a recovery code")
    return signed_in


async def resolve_session(
    token: str, uow: MerchantUnitOfWork, creds: Credentials, now: datetime
) -> tuple[Session, Person]:
    """The live session the token opens and its person, now; its idle expiry slides. SessionInvalid (401)
    for an unknown, expired or revoked one."""
    async with uow:
        found = await _session(uow, creds, token, now)
        await uow.commit()
    return found


async def sign_out(token: str, uow: MerchantUnitOfWork, now: datetime) -> None:
    """Revoke the session the token opens (nothing to do when it is over already)."""
    async with uow:
        session = await uow.sessions.live(digest(token), now)
        if session is None:
            return
        await uow.sessions.revoke(session.id, now)
        await uow.commit()
    log.info("session %s of account %s signed out", session.id, session.account_id)


async def change_password(
    cmd: ChangePassword, uow: MerchantUnitOfWork, creds: Credentials, now: datetime
) -> None:
    """A new password, given the current one; every session of the account is revoked (this one too)."""
    async with uow:
        _, person = await acting_session(uow, creds, cmd.session_token, now)
        await uow.commit()
    account = person.account
    check_password(cmd.new_password, account.email)
    await creds.limits.take(creds.limits.windows(account.email, cmd.client_ip))
    if not await creds.passwords.verify(account.password_hash, cmd.current_password):
        raise WrongPassword("the current password is wrong")
    new_hash = await creds.passwords.hash(cmd.new_password)
    async with uow:
        await uow.accounts.set_password(account.id, new_hash, now, verified=False)
        revoked = await uow.sessions.revoke_all(account.id, now)
        summary = f"password changed; {revoked} sessions ended"
        await uow.audit.add(account_entry(now, account, "account.password", summary, cmd.client_ip))
        await uow.commit()
    log.info("account %s changed its password; %d sessions revoked", account.id, revoked)


async def begin_totp(token: str, uow: MerchantUnitOfWork, creds: Credentials, now: datetime) -> TotpEnrolment:
    """A new TOTP secret for the session's account, waiting for its first code (shown once: only its sealed
    form is kept). Beginning again replaces a secret not yet confirmed."""
    async with uow:
        _, person = await _session(uow, creds, token, now)
        account = person.account
        secret = new_totp_secret()
        if not await uow.accounts.start_totp(account.id, creds.totp.seal(account.id, secret), now):
            raise TotpState("TOTP is on already for this account")
        await uow.commit()
    return TotpEnrolment(secret, provisioning_uri(secret, account.email, creds.issuer))


async def confirm_totp(
    cmd: CheckCode, uow: MerchantUnitOfWork, creds: Credentials, now: datetime
) -> list[str]:
    """The first code from the app turns TOTP on: the session counts as second-factored now, the account's
    other sessions are revoked (none of them proved the second factor), and fresh recovery codes are
    answered (shown once: only their digests are kept)."""
    async with uow:
        session, person = await _session(uow, creds, cmd.session_token, now)
        account = person.account
        if account.totp_enabled:
            raise TotpState("TOTP is on already for this account")
        if account.totp_secret is None:
            raise TotpState("begin the TOTP set-up first")
        await creds.limits.take(creds.limits.windows(account.email, cmd.client_ip))
        if not await _accept_totp(uow, creds, account, cmd.code, now, enable=True):
            raise WrongCode("wrong or used code")
        codes = new_recovery_codes()
        await uow.accounts.replace_recovery_codes(account.id, [recovery_digest(c) for c in codes], now)
        await uow.sessions.set_second_factor(session.id, now)
        await uow.sessions.revoke_all(account.id, now, but=session.id)
        summary = "TOTP turned on; recovery codes made; other sessions ended"
        await uow.audit.add(account_entry(now, account, "account.totp", summary, cmd.client_ip))
        await uow.commit()
    log.info("account %s turned TOTP on", account.id)
    return codes


async def step_up(
    cmd: CheckCode, uow: MerchantUnitOfWork, creds: Credentials, now: datetime
) -> tuple[Session, Person]:
    """A fresh TOTP code on a session: its second factor is now (sensitive actions ask for a recent one)."""
    async with uow:
        session, person = await acting_session(uow, creds, cmd.session_token, now)
        account = person.account
        if not account.totp_enabled:
            raise TotpState("TOTP is not on for this account: set it up first")
        await creds.limits.take(creds.limits.windows(account.email, cmd.client_ip))
        if not await _accept_totp(uow, creds, account, cmd.code, now):
            raise WrongCode("wrong or used code")
        await uow.sessions.set_second_factor(session.id, now)
        await uow.commit()
    return replace(session, second_factor_at=now), person


async def regenerate_recovery_codes(
    token: str, uow: MerchantUnitOfWork, creds: Credentials, now: datetime
) -> list[str]:
    """Fresh recovery codes for the session's person (a lost or used-up set): the earlier ones stop working.
    TOTP must be on, and the second factor proved within the last minutes (a stolen session alone makes
    none). Answered once: only their digests are kept."""
    async with uow:
        session, person = await acting_session(uow, creds, token, now)
        account = person.account
        if not account.totp_enabled:
            raise TotpState("TOTP is not on for this account: set it up first")
        if not second_factor_fresh(session.second_factor_at, now):
            raise StepUpRequired("new recovery codes are made")
        codes = new_recovery_codes()
        await uow.accounts.replace_recovery_codes(account.id, [recovery_digest(c) for c in codes], now)
        summary = "new recovery codes; the earlier ones stopped working"
        await uow.audit.add(account_entry(now, account, "account.recovery_codes", summary))
        await uow.commit()
    log.info("account %s made new recovery codes", account.id)
    return codes


async def request_password_reset(
    email: str, uow: MerchantUnitOfWork, creds: Credentials, now: datetime
) -> None:
    """Have a reset link e-mailed if `email` has an account (a few per hour at most). The caller answers
    the same whatever happened, and both ways cost the same Redis round trip and database read."""
    allowed = await creds.limits.allows(creds.limits.link_window(email))
    async with uow:
        account = await uow.accounts.by_email(email)
        if account is None or not allowed:
            return
        uow.publish(AccountLinkRequested(account_id=account.id, purpose="password_reset", requested_at=now))
        await uow.commit()
    log.info("account %s: password reset requested", account.id)


async def request_email_verification(
    token: str, uow: MerchantUnitOfWork, creds: Credentials, now: datetime
) -> None:
    """Have a verification link e-mailed to the session's account."""
    async with uow:
        _, person = await acting_session(uow, creds, token, now)
        account = person.account
        if account.email_verified_at is not None:
            raise Conflict(f"{account.email} is verified already")
        uow.publish(
            AccountLinkRequested(account_id=account.id, purpose="email_verification", requested_at=now)
        )
        await uow.commit()


async def issue_link(
    account_id: UUID, purpose: LinkPurpose, uow: MerchantUnitOfWork, creds: Credentials, now: datetime
) -> IssuedLink:
    """A one-time link for the account, issued now (the notification service e-mails it); the account's
    earlier unused links for the same purpose stop working."""
    async with uow:
        account = await _account(uow, account_id)
        issued = await _issue(uow, creds, account, purpose, now)
        await uow.commit()
    log.info("account %s: %s link issued", account.id, purpose)
    return issued


async def redeem_link(cmd: RedeemLink, uow: MerchantUnitOfWork, creds: Credentials, now: datetime) -> Account:
    """Use a one-time link, once, within its lifetime: a reset or set-up link sets the password (and revokes
    every session), any link verifies the address. A weak password spends nothing."""
    if (cmd.purpose in PASSWORD_LINKS) != (cmd.new_password is not None):
        wanted = "needs a new password" if cmd.purpose in PASSWORD_LINKS else "takes no password"
        raise DomainError(f"a {cmd.purpose} link {wanted}")
    async with uow:
        link = await uow.links.redeem(digest(cmd.token), cmd.purpose, now)
        if link is None:
            raise LinkInvalid()
        account = await _account(uow, link.account_id)
        if cmd.new_password is None:
            await uow.accounts.mark_verified(account.id, now)
        else:
            check_password(cmd.new_password, account.email)
            new_hash = await creds.passwords.hash(cmd.new_password)
            await uow.accounts.set_password(account.id, new_hash, now, verified=True)
            await uow.sessions.revoke_all(account.id, now)
            summary = f"password set through a {cmd.purpose} link; every session ended"
            await uow.audit.add(account_entry(now, account, "account.password", summary))
        await uow.commit()
    log.info("account %s used a %s link", account.id, cmd.purpose)
    return account


async def create_platform_admin(
    email: str, uow: MerchantUnitOfWork, creds: Credentials, now: datetime
) -> IssuedLink:
    """From faka-admin: the account of `email` (made without a password when there is none) as a platform
    admin, and a link to set its password (issue_link_in); audited in the same transaction. Run again, it
    answers a fresh link."""
    address = check_email(email)
    async with uow:
        account, opened = await get_or_open_account(uow, address, now)
        await uow.accounts.lock_platform_roles()
        granted = await uow.accounts.grant(account.id, "admin", now)
        issued = await issue_link_in(uow, creds, account, now)
        changes = [f"{address} platform admin" + ("" if granted else " already")]
        changes += ["account opened"] if opened else []
        changes.append(f"{issued.link.purpose} link issued")
        await uow.audit.add(
            cli_entry(now, "platform_staff.create", "; ".join(changes), target=f"account_id={account.id}")
        )
        await uow.commit()
    log.info("account %s is a platform admin; %s link issued", account.id, issued.link.purpose)
    return issued


async def issue_link_in(
    uow: MerchantUnitOfWork, creds: Credentials, account: Account, now: datetime
) -> IssuedLink:
    """A link to set the account's password (inside the caller's unit of work): a set-up link, or a reset
    link when it has a password already."""
    purpose: LinkPurpose = "password_reset" if account.password_hash else "account_setup"
    return await _issue(uow, creds, account, purpose, now)


async def get_or_open_account(uow: MerchantUnitOfWork, address: str, now: datetime) -> tuple[Account, bool]:
    """The account of the (checked) address, opened without a password when there is none; and whether it
    was opened now."""
    account = await uow.accounts.by_email(address)
    if account is not None:
        return account, False
    account = Account(
        id=uuid4(),
        email=address,
        password_hash=None,
        email_verified_at=None,
        totp_secret=None,
        totp_enabled_at=None,
        totp_last_step=None,
        created_at=now,
        updated_at=now,
    )
    await uow.accounts.add(account)
    return account, True


async def acting_session(
    uow: MerchantUnitOfWork, creds: Credentials, token: str, now: datetime
) -> tuple[Session, Person]:
    """The session and person a request acts as (inside the caller's unit of work); EnrolmentRequired (403)
    while the person must set up TOTP, SessionInvalid (401) without a live session."""
    session, person = await _session(uow, creds, token, now)
    if person.must_enrol_totp:
        raise EnrolmentRequired()
    return session, person


async def _session(
    uow: MerchantUnitOfWork, creds: Credentials, token: str, now: datetime
) -> tuple[Session, Person]:
    session = await uow.sessions.touch(digest(token), now, creds.policy.idle)
    if session is None:
        raise SessionInvalid()
    account = await _account(uow, session.account_id)
    return session, await uow.accounts.person(account)


async def _account(uow: MerchantUnitOfWork, account_id: UUID) -> Account:
    account = await uow.accounts.get(account_id)
    if account is None:
        raise NotFound(f"no account {account_id}")
    return account


async def _open_session(
    uow: MerchantUnitOfWork,
    creds: Credentials,
    account: Account,
    now: datetime,
    second_factor_at: datetime | None,
    client_ip: str | None,
    user_agent: str,
) -> SignedIn:
    token = new_token()
    session = Session.open(
        id=uuid4(),
        account_id=account.id,
        now=now,
        policy=creds.policy,
        second_factor_at=second_factor_at,
        client_ip=client_ip,
        user_agent=user_agent,
    )
    await uow.sessions.add(session, digest(token))
    return SignedIn(token, session, await uow.accounts.person(account))


async def _accept_totp(
    uow: MerchantUnitOfWork,
    creds: Credentials,
    account: Account,
    code: str,
    now: datetime,
    *,
    enable: bool = False,
) -> bool:
    """Whether `code` is the account's TOTP code now (±1 step) and its step was not accepted before; the step
    is recorded (and with `enable`, TOTP turned on) in the transaction."""
    if account.totp_secret is None:
        return False
    secret = creds.totp.open(account.id, account.totp_secret)
    step = totp_step(secret, code, now, account.totp_last_step)
    if step is None:
        return False
    return await uow.accounts.accept_totp_step(account, step, enable_at=now if enable else None)


async def _issue(
    uow: MerchantUnitOfWork, creds: Credentials, account: Account, purpose: LinkPurpose, now: datetime
) -> IssuedLink:
    token = new_token()
    link = Link(
        id=uuid4(), account_id=account.id, purpose=purpose, created_at=now, expires_at=now + creds.policy.link
    )
    await uow.links.add(link, digest(token))
    return IssuedLink(link, token, account.email)
