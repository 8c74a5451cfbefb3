"""Sending one notice: every chain of its route, each failing over channel by channel, at most once.

A notice is (subject, template): the subject is the order, or for an alert about no single order the
event itself. Its notifications rows (one per channel) say what was sent; the notice is locked for the
transaction, so a redelivered event or a second event about the same order finds it sent and sends
nothing. When a chain fails on every channel and nothing irrevocable went out, the notice raises so the
consumer retries it (and finally dead-letters it with the failures recorded); when something already went
out, the failed chain is recorded and announced instead, so a retry cannot send the rest twice."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from faka_common.contracts import NotificationFailed, NotificationSent

from notification.adapters.metrics import NOTIFICATIONS
from notification.adapters.orm import StoredMessage
from notification.adapters.shop_templates import CompiledShopTemplate, ShopTemplateCache
from notification.adapters.templates import TemplateRenderer
from notification.domain.channels import Channel, ChannelError, OutgoingMessage
from notification.domain.model import (
    EMAIL,
    IN_SITE,
    ChannelFailure,
    NoticeUndelivered,
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

    def stays_inside(self, template: str) -> bool:
        """Whether the notice goes nowhere but the order page: its in-site message is one idempotent
        statement of this service's own, so its handler may share a transaction with others (stored twice,
        it shows once)."""
        return self.routed(template) <= {IN_SITE}

    def primary_channel(self, template: str) -> str:
        chains = self.route(template)
        return chains[0][0] if chains and chains[0] else "none"

    async def notify(self, notice: Notice, uow: NotificationUnitOfWork) -> None:
        await uow.notifications.lock(notice.order_id, notice.key)
        known = await uow.notifications.for_notice(notice.shop_id, notice.order_id, notice.key)
        content = _Content(self._renderer, notice, await self._worded(notice, uow))
        tries = _Tries(notice, uow)
        irrevocable = False
        undelivered: list[list[ChannelFailure]] = []
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
                failure = await self._send(notice, uow, channel, recipient, content, tries)
                if failure is None:
                    delivered = True
                    irrevocable = irrevocable or not channel.idempotent
                    break
                failures.append(failure)
            if tried and not delivered:
                undelivered.append(failures)
        await tries.record()
        if not undelivered:
            return
        every = [failure for failures in undelivered for failure in failures]
        if not irrevocable:
            raise NoticeUndelivered(notice.shop_id, notice.order_id, notice.key, every)
        for failures in undelivered:
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
            "; ".join(f"{f.channel}: {f.reason}" for f in every),
        )

    async def notify_inside(self, notices: Sequence[Notice], uow: NotificationUnitOfWork) -> None:
        """`notify` for notices whose route goes nowhere but the order page (`stays_inside`), a batch's in a
        few statements whatever their number: their locks, the rows of what was sent, the messages and
        the tries, one statement each. The in-site message is stored in this transaction (not on a
        connection of its own, as a single notice's is), without the channel's breaker and retries,
        which guard a send to another server; it commits with the tries and the records' claims, or none
        of them does. A notice whose route is not inside raises ValueError."""
        if any(not self.stays_inside(notice.template) for notice in notices):
            raise ValueError("notify_inside takes only notices whose route stays on the order page")
        channel = self._channels.get(IN_SITE)
        unique = list({(notice.order_id, notice.key): notice for notice in notices}.values())
        await uow.notifications.lock_many([(notice.order_id, notice.key) for notice in unique])
        known = await uow.notifications.for_notices(
            [(notice.shop_id, notice.order_id, notice.key) for notice in unique]
        )
        sending: list[tuple[Notice, str, RenderedNotice]] = []
        for notice in unique:
            recipient = notice.recipients.for_channel(IN_SITE)
            if channel is None or recipient is None or not self.route(notice.template):
                continue
            sent = known.get((notice.order_id, notice.key), {}).get(IN_SITE)
            if sent is not None and sent.already_sent:
                log.info("%s for %s already sent on in_site; skipping", notice.template, notice.order_id)
                continue
            rendered = await _Content(self._renderer, notice).for_channel(channel)
            if rendered.site is None:
                raise ValueError(f"{notice.template} has no order-page text")
            sending.append((notice, recipient, rendered))
        if not sending:
            return
        started = time.monotonic()
        stored = await uow.messages.put_many(
            [
                StoredMessage(n.shop_id, n.order_id, n.key, n.locale, rendered.subject, rendered.site)
                for n, _, rendered in sending
            ]
        )
        now, latency = datetime.now(UTC), int((time.monotonic() - started) * 1000)
        await uow.notifications.record_tries(
            [
                (n.shop_id, n.order_id, n.key, Try(
                    IN_SITE, recipient, sent=True, latency_ms=latency, sent_at=now,
                    provider_message_id=str(stored[n.order_id, n.key]),
                ))
                for n, recipient, _ in sending
            ]
        )  # fmt: skip
        for notice, recipient, _ in sending:
            NOTIFICATIONS.labels(IN_SITE, "sent").inc()
            _announce_sent(notice, uow, IN_SITE, recipient, latency)

    async def _send(
        self,
        notice: Notice,
        uow: NotificationUnitOfWork,
        channel: Channel,
        recipient: str,
        content: _Content,
        tries: _Tries,
    ) -> ChannelFailure | None:
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
            await tries.add(Try(channel.name, recipient, sent=False, latency_ms=latency, error=str(error)))
            log.warning(
                "%s for %s: %s to %s failed (%s): %s",
                notice.template,
                notice.order_id,
                channel.name,
                mask_recipient(recipient),
                "transient" if error.transient else "permanent",
                error,
            )
            return ChannelFailure(channel.name, recipient, str(error))
        latency = int((time.monotonic() - started) * 1000)
        tried = Try(
            channel.name,
            recipient,
            sent=True,
            latency_ms=latency,
            sent_at=datetime.now(UTC),
            provider_message_id=result.provider_message_id,
        )
        await tries.add(tried)
        _announce_sent(notice, uow, channel.name, recipient, latency)
        return None


class _Tries:
    """A notice's tries, recorded together once its chains are through (one statement for its e-mail and
    its order-page message, not one each); a second try on a channel already waiting records the waiting
    ones first (one statement cannot write one row twice)."""

    def __init__(self, notice: Notice, uow: NotificationUnitOfWork) -> None:
        self._notice = notice
        self._uow = uow
        self._waiting: list[Try] = []

    async def add(self, tried: Try) -> None:
        if any(waiting.channel == tried.channel for waiting in self._waiting):
            await self.record()
        self._waiting.append(tried)

    async def record(self) -> None:
        waiting, self._waiting = self._waiting, []
        if waiting:
            notice = self._notice
            await self._uow.notifications.record_tries(
                [(notice.shop_id, notice.order_id, notice.key, tried) for tried in waiting]
            )


def _announce_sent(
    notice: Notice, uow: NotificationUnitOfWork, channel: str, recipient: str, latency: int
) -> None:
    """A notice went out on `channel`: announced (NotificationSent) and logged."""
    uow.publish(
        NotificationSent(
            order_id=notice.order_id, shop_id=notice.shop_id, channel=channel, template=notice.key
        )
    )
    log.info(
        "%s for %s sent by %s to %s in %d ms",
        notice.template,
        notice.order_id,
        channel,
        mask_recipient(recipient),
        latency,
    )
