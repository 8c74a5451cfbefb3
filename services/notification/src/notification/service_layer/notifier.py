"""Sending one notice: every chain of its route, each failing over channel by channel, at most once.

A notice is (subject, template): the subject is the order, or for an alert about no single order the
event itself. Its notifications rows (one per channel) say what was sent; the notice is locked for the
transaction, so a redelivered event or a second event about the same order finds it sent and sends
nothing. When a chain fails on every channel and nothing irrevocable went out, the notice raises so the
consumer retries it (and finally dead-letters it with the failures recorded); when something already went
out, the failed chain is recorded and announced instead, so a retry cannot send the rest twice."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any
from uuid import UUID

from faka_common.contracts import NotificationFailed, NotificationSent

from notification.adapters.in_site_messages import StoredMessage
from notification.adapters.metrics import NOTIFICATIONS
from notification.adapters.shop_templates import CompiledShopTemplate, ShopTemplateCache
from notification.adapters.templates import TemplateRenderer
from notification.domain.channels import Channel, ChannelError, OutgoingMessage
from notification.domain.model import (
    EMAIL,
    IN_SITE,
    ChannelFailure,
    NoticeUndelivered,
    Notification,
    Recipients,
    RenderedNotice,
    Route,
    Try,
    mask_recipient,
    pick_locale,
)
from notification.domain.shop_channels import MailSender, ShopSms
from notification.domain.shop_templates import WORDABLE
from notification.service_layer.unit_of_work import NotificationUnitOfWork

log = logging.getLogger(__name__)

SecretLoader = Callable[[], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Notice:
    template: str
    shop_id: UUID
    """The shop of the order (or of the event) the notice is about: its rows and events name it."""
    order_id: UUID
    locale: str
    recipients: Recipients
    context: dict[str, Any] = field(repr=False)
    """Facts that may go anywhere (stored in-site text, SMS, email): never a key."""
    payload: dict[str, Any] = field(default_factory=dict, repr=False)
    """What a webhook receiver gets."""
    secrets: SecretLoader | None = field(default=None, repr=False)
    """Extra context (the keys) loaded once, and only for a channel that may carry it."""
    instance: str = ""
    """Tells apart several notices of one template about one order (e.g. each partial refund)."""
    sender: MailSender | None = None
    """Whom an e-mail of the notice comes from, through which server (None: the platform's MAIL_FROM)."""
    sms: ShopSms | None = None
    """The shop's own SMS accounts (None: the platform's)."""
    headers: Mapping[str, str] = field(default_factory=dict)
    """An e-mail's headers over the composed ones (a ticket reply's Reply-To and thread)."""

    def accepted_by(self, channel: Channel) -> bool:
        """Whether the channel is set up for the notice: the platform's account, or the shop's own."""
        own = self.sms is not None and self.sms.sends(channel.name, self.template)
        return own or channel.accepts(self.template)

    @property
    def key(self) -> str:
        """What is sent at most once per order: the template, or the template and the instance."""
        return f"{self.template}:{self.instance}" if self.instance else self.template


class _Content:
    """Renders a notice at most once per form needed: without or with its secrets (loaded once, only when
    first needed), and for the e-mail in the shop's own wording when the shop has one."""

    def __init__(
        self, renderer: TemplateRenderer, notice: Notice, worded: CompiledShopTemplate | None = None
    ) -> None:
        self._renderer = renderer
        self._notice = notice
        self._worded = worded
        self._secrets: dict[str, Any] | None = None
        self._rendered: dict[tuple[bool, bool], RenderedNotice] = {}

    async def for_channel(self, channel: Channel) -> RenderedNotice:
        notice = self._notice
        secret = channel.carries_secrets and notice.secrets is not None
        worded = self._worded if channel.name == EMAIL else None
        form = (secret, worded is not None)
        if form not in self._rendered:
            context = notice.context
            if secret:
                assert notice.secrets is not None
                if self._secrets is None:
                    self._secrets = await notice.secrets()
                context = {**context, **self._secrets}
            if worded is not None:
                rendered = self._renderer.render_worded(worded, notice.template, notice.locale, context)
            else:
                rendered = self._renderer.render(notice.template, notice.locale, context)
            self._rendered[form] = rendered
        return self._rendered[form]


def sms_params(context: Mapping[str, Any], content: RenderedNotice) -> dict[str, str]:
    """Variables of a provider-side SMS template (Aliyun TemplateParam)."""
    return {
        "order_no": str(context.get("order_no") or ""),
        "product": str(context.get("product_title") or ""),
        "content": content.sms,
    }


class Notifier:
    def __init__(
        self,
        channels: Mapping[str, Channel],
        routes: Mapping[str, Route],
        renderer: TemplateRenderer,
        shop_templates: ShopTemplateCache | None = None,
    ) -> None:
        self._channels = dict(channels)
        self._routes = dict(routes)
        self._routed = {
            template: frozenset(name for chain in chains for name in chain)
            for template, chains in routes.items()
        }
        self._renderer = renderer
        self._shop_templates = shop_templates

    @property
    def channels(self) -> Mapping[str, Channel]:
        return self._channels

    @property
    def renderer(self) -> TemplateRenderer:
        return self._renderer

    @property
    def shop_templates(self) -> ShopTemplateCache | None:
        return self._shop_templates

    async def _worded(self, notice: Notice, uow: NotificationUnitOfWork) -> CompiledShopTemplate | None:
        """The shop's own wording of the notice's e-mail, if it has one (through the cache)."""
        if self._shop_templates is None or notice.template not in WORDABLE or notice.recipients.email is None:
            return None
        language = pick_locale(notice.locale)
        return await self._shop_templates.get(uow.shop_templates, notice.shop_id, notice.template, language)

    def route(self, template: str) -> Route:
        return self._routes.get(template, [])

    def routed(self, template: str) -> frozenset[str]:
        """Every channel the notice's route may send it on."""
        return self._routed.get(template, frozenset())

    def primary_channel(self, template: str) -> str:
        chains = self.route(template)
        return chains[0][0] if chains and chains[0] else "none"

    async def notify(self, notice: Notice, uow: NotificationUnitOfWork) -> None:
        await uow.notifications.lock(notice.order_id, notice.key)
        known = await uow.notifications.for_notice(notice.shop_id, notice.order_id, notice.key)
        content = _Content(self._renderer, notice, await self._worded(notice, uow))
        tries: list[Try] = []

        async def send(channel: Channel, recipient: str) -> Try:
            tried = await self._send(notice, channel, recipient, content)
            tries.append(tried)
            if tried.sent:
                _announce_sent(notice, uow, tried)
            return tried

        walked = await self._walk(notice, known, send)
        await _record_tries(uow, [(notice, tried) for tried in tries])
        _conclude(notice, uow, walked)

    async def _walk(
        self,
        notice: Notice,
        known: Mapping[str, Notification],
        send: Callable[[Channel, str], Awaitable[Try]],
    ) -> _Walked:
        """Every chain of the notice's route not sent before (`known`: its rows by channel), each failing
        over channel by channel through `send`."""
        walked = _Walked()
        for chain in self.route(notice.template):
            if any(known[name].already_sent for name in chain if name in known):
                log.info("%s for %s already sent on %s; skipping", notice.template, notice.order_id, chain)
                continue
            tried, delivered, failures = False, False, []
            for name in chain:
                channel = self._channels.get(name)
                recipient = notice.recipients.for_channel(name)
                if channel is None or recipient is None or not notice.accepted_by(channel):
                    continue
                tried = True
                tried_on = await send(channel, recipient)
                if tried_on.sent:
                    delivered = True
                    walked.irrevocable = walked.irrevocable or not channel.idempotent
                    break
                failures.append(ChannelFailure(channel.name, recipient, tried_on.error or ""))
            if tried and not delivered:
                walked.undelivered.append(failures)
        return walked

    async def notify_many(
        self,
        notices: Sequence[Notice],
        uow: NotificationUnitOfWork,
        aside: Callable[[], NotificationUnitOfWork],
        concurrency: int = 8,
    ) -> None:
        """`notify` for a batch's notices in a few statements whatever their number: their locks, the rows
        of what was sent before, their order-page messages and their tries, one statement each. The notices
        are sent side by side, at most `concurrency` at once. An in-site message is stored in this
        transaction (not on a connection of its own, as a single notice's is), without the channel's breaker
        and retries, which guard a send to another server.

        Where `notify` would raise for a notice (a chain failed on every channel and nothing irrevocable
        went out, or an error), the batch's other sends are not taken back with the rollback: everything
        the batch tried is kept in a transaction of its own (`aside`), then that error is raised. The
        consumer then handles the batch's records one at a time: a notice sent finds itself sent, the one
        that failed is retried."""
        unique = list({(notice.order_id, notice.key): notice for notice in notices}.values())
        await uow.notifications.lock_many([(notice.order_id, notice.key) for notice in unique])
        known = await uow.notifications.for_notices(
            [(notice.shop_id, notice.order_id, notice.key) for notice in unique]
        )
        batch = [
            _Sending(notice, _Content(self._renderer, notice, await self._worded(notice, uow)))
            for notice in unique
        ]
        gate = asyncio.Semaphore(concurrency)

        async def walk(sending: _Sending) -> None:
            async with gate:
                notice = sending.notice
                sending.walked = await self._walk(
                    notice, known.get((notice.order_id, notice.key), {}), partial(self._try, sending)
                )

        ended = await asyncio.gather(*(walk(sending) for sending in batch), return_exceptions=True)
        errors: list[BaseException] = [error for error in ended if error is not None]
        if any(not isinstance(error, Exception) for error in errors):
            raise next(error for error in errors if not isinstance(error, Exception))
        errors += [sending.walked.error(sending.notice) for sending in batch if sending.walked.retried]
        if not errors:
            await self._keep(batch, uow)
            return
        async with aside() as kept:
            await self._keep(batch, kept)
            await kept.commit()
        raise errors[0]

    async def _try(self, sending: _Sending, channel: Channel, recipient: str) -> Try:
        """`_send` of a batch's notice: the in-site message held for the batch's one statement."""
        notice = sending.notice
        if channel.name != IN_SITE:
            tried = await self._send(notice, channel, recipient, sending.content)
        else:
            rendered = await sending.content.for_channel(channel)
            if rendered.site is None:
                tried = Try(IN_SITE, recipient, sent=False, error=f"{notice.template} has no order-page text")
            else:
                sending.message = StoredMessage(
                    notice.shop_id,
                    notice.order_id,
                    notice.key,
                    notice.locale,
                    rendered.subject,
                    rendered.site,
                )
                tried = Try(IN_SITE, recipient, sent=True)  # its id, time and latency once it is stored
        sending.tries.append(tried)
        return tried

    async def _keep(self, batch: Sequence[_Sending], uow: NotificationUnitOfWork) -> None:
        """What a batch tried, into `uow`: its in-site messages, its tries, the announcements of what was
        sent and of a chain that failed after something irrevocable went out."""
        held = [sending.message for sending in batch if sending.message is not None]
        started = time.monotonic()
        stored = await uow.messages.put_many(held) if held else {}
        now, latency = datetime.now(UTC), int((time.monotonic() - started) * 1000)
        tries: list[tuple[Notice, Try]] = []
        for sending in batch:
            notice = sending.notice
            for tried in sending.tries:
                if tried.channel == IN_SITE and tried.sent:
                    message = str(stored[notice.order_id, notice.key])
                    tried = replace(tried, latency_ms=latency, sent_at=now, provider_message_id=message)
                    NOTIFICATIONS.labels(IN_SITE, "sent").inc()
                tries.append((notice, tried))
                if tried.sent:
                    _announce_sent(notice, uow, tried)
            if not sending.walked.retried:
                _conclude(notice, uow, sending.walked)
        await _record_tries(uow, tries)

    async def _send(self, notice: Notice, channel: Channel, recipient: str, content: _Content) -> Try:
        """One try of the notice on the channel, logged when it fails."""
        rendered = await content.for_channel(channel)
        message = OutgoingMessage(
            template=notice.template,
            order_id=notice.order_id,
            recipient=recipient,
            locale=notice.locale,
            content=rendered,
            idempotency_key=f"{notice.key}.{notice.order_id}",
            notice=notice.key,
            params=sms_params(notice.context, rendered),
            payload=notice.payload,
            shop_id=notice.shop_id,
            sender=notice.sender,
            sms=notice.sms,
            signing_secret=notice.recipients.webhook_secret,
            headers=notice.headers,
        )
        started = time.monotonic()
        try:
            result = await channel.send(message)
        except ChannelError as error:
            latency = int((time.monotonic() - started) * 1000)
            log.warning(
                "%s for %s: %s to %s failed (%s): %s",
                notice.template,
                notice.order_id,
                channel.name,
                mask_recipient(recipient),
                "transient" if error.transient else "permanent",
                error,
            )
            return Try(channel.name, recipient, sent=False, latency_ms=latency, error=str(error))
        return Try(
            channel.name,
            recipient,
            sent=True,
            latency_ms=int((time.monotonic() - started) * 1000),
            sent_at=datetime.now(UTC),
            provider_message_id=result.provider_message_id,
        )


@dataclass
class _Walked:
    """What walking a notice's route came to."""

    irrevocable: bool = False
    """Whether something that cannot be taken back went out (an e-mail, an SMS)."""
    undelivered: list[list[ChannelFailure]] = field(default_factory=list)
    """The failures of each chain that failed on every channel."""

    @property
    def retried(self) -> bool:
        """Whether the notice is to be tried again as a whole: a chain failed and nothing irrevocable went
        out (else the failed chains are recorded and announced, so a retry cannot send the rest twice)."""
        return bool(self.undelivered) and not self.irrevocable

    @property
    def failures(self) -> list[ChannelFailure]:
        """Every failure of the chains that failed, in their order."""
        return [failure for failures in self.undelivered for failure in failures]

    def error(self, notice: Notice) -> NoticeUndelivered:
        return NoticeUndelivered(notice.shop_id, notice.order_id, notice.key, self.failures)


@dataclass
class _Sending:
    """A notice of a batch on its way: what it tried, and its in-site message to store."""

    notice: Notice
    content: _Content
    walked: _Walked = field(default_factory=_Walked)
    tries: list[Try] = field(default_factory=list)
    message: StoredMessage | None = None


def _conclude(notice: Notice, uow: NotificationUnitOfWork, walked: _Walked) -> None:
    """Raise for a notice to try again (`_Walked.retried`); else announce each chain that failed."""
    if not walked.undelivered:
        return
    if walked.retried:
        raise walked.error(notice)
    for failures in walked.undelivered:
        last = failures[-1]
        uow.publish(
            NotificationFailed(
                order_id=notice.order_id,
                shop_id=notice.shop_id,
                channel=last.channel,
                template=notice.key,
                reason=last.reason,
            )
        )
    log.error(
        "%s for %s: a chain failed on every channel after another chain was sent: %s",
        notice.template,
        notice.order_id,
        "; ".join(f"{f.channel}: {f.reason}" for f in walked.failures),
    )


async def _record_tries(uow: NotificationUnitOfWork, tries: Sequence[tuple[Notice, Try]]) -> None:
    """The tries of notices, in one statement unless a notice tried a channel twice: one statement cannot
    write one row twice, so a channel's second try is written by a second statement, after the first."""
    rounds: list[dict[tuple[UUID, str, str], tuple[UUID, UUID, str, Try]]] = []
    for notice, tried in tries:
        row = (notice.order_id, notice.key, tried.channel)
        free = next((round_ for round_ in rounds if row not in round_), None)
        if free is None:
            free = {}
            rounds.append(free)
        free[row] = (notice.shop_id, notice.order_id, notice.key, tried)
    for round_ in rounds:
        await uow.notifications.record_tries(list(round_.values()))


def _announce_sent(notice: Notice, uow: NotificationUnitOfWork, tried: Try) -> None:
    """A notice went out on a channel: announced (NotificationSent) and logged."""
    uow.publish(
        NotificationSent(
            order_id=notice.order_id, shop_id=notice.shop_id, channel=tried.channel, template=notice.key
        )
    )
    log.info(
        "%s for %s sent by %s to %s in %d ms",
        notice.template,
        notice.order_id,
        tried.channel,
        mask_recipient(tried.recipient),
        tried.latency_ms or 0,
    )
