"""Buyer notices on Telegram: the order page's deep link to the shop's bot, and the bot's webhook, which hands
`/start <token>` on to notification (it checks the token, keeps the chat for the order and answers it)."""

from __future__ import annotations

import hmac
import json
import logging
import re
from typing import Annotated, Any
from uuid import UUID

from faka_common import chat_link
from faka_common.errors import DomainError, Forbidden, NotFound, Unauthorized, Unavailable
from fastapi import APIRouter, Header, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gateway.bootstrap import Gateway
from gateway.entrypoints.requests import read_body
from gateway.entrypoints.responses import WEBHOOK
from gateway.entrypoints.shops import storefront_shop
from gateway.service_layer.rate_limits import lookup_limits

log = logging.getLogger(__name__)

MAX_UPDATE_BYTES = 64 * 1024
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
START = re.compile(r"^/start(?:@[A-Za-z0-9_]+)?\s+([A-Za-z0-9_-]{1,64})\s*$")


class Chat(BaseModel):
    id: int


class User(BaseModel):
    language_code: str | None = Field(default=None, max_length=16)


class TelegramMessage(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    chat: Chat
    text: str | None = Field(default=None, max_length=4096)
    sender: User | None = Field(default=None, alias="from")


class Update(BaseModel):
    """The part of a Bot API Update the webhook reads; everything else is ignored."""

    update_id: int
    message: TelegramMessage | None = None


def deep_link(gw: Gateway, order_id: Any) -> str | None:
    """`https://t.me/<bot>?start=<token>` for the order page; None while the shop has no bot configured."""
    settings = gw.settings
    if not settings.telegram_bot_username or settings.telegram_link_secret is None or order_id is None:
        return None
    try:
        order = UUID(str(order_id))
    except ValueError:
        return None
    token = chat_link.sign(
        settings.telegram_link_secret.get_secret_value(), order, settings.telegram_link_ttl_seconds
    )
    return f"https://t.me/{settings.telegram_bot_username}?start={token}"


def _checked_secret(gw: Gateway, presented: str | None) -> None:
    expected = gw.settings.telegram_webhook_secret
    if expected is None:
        raise NotFound("the Telegram webhook is not enabled on this shop")
    if not presented:
        raise Unauthorized(f"missing {SECRET_HEADER}")
    if not hmac.compare_digest(presented.encode(), expected.get_secret_value().encode()):
        raise Forbidden(f"wrong {SECRET_HEADER}")


def _parsed(body: bytes) -> Update:
    try:
        return Update.model_validate(json.loads(body))
    except (ValueError, ValidationError) as error:
        reason = "not JSON" if isinstance(error, json.JSONDecodeError) else "not a Telegram Update"
        raise DomainError(f"malformed update: {reason}") from error


def telegram_router(gw: Gateway) -> APIRouter:
    api = APIRouter(
        prefix="/api/v1/telegram", tags=["telegram"], responses=WEBHOOK, dependencies=[storefront_shop(gw)]
    )

    @api.post(
        "/webhook",
        summary="The shop bot's webhook (Telegram calls it); `/start <token>` links the chat to an order",
    )
    async def webhook(
        request: Request,
        secret: Annotated[str | None, Header(alias=SECRET_HEADER)] = None,
    ) -> dict[str, Any]:
        _checked_secret(gw, secret)
        update = _parsed(await read_body(request, MAX_UPDATE_BYTES))
        message = update.message
        match = START.match(message.text or "") if message is not None else None
        if message is None or match is None:
            return {"ok": True, "linked": False}  # other updates are none of our business
        # A chat presenting wrong tokens is throttled like any guesser of an order secret (the chat is the
        # client here: every update comes from Telegram's address). Telegram still gets a 200.
        limits = lookup_limits(gw)
        windows = limits.keys("chat", None, str(message.chat.id))
        if await limits.full(windows) is not None:
            log.info("Telegram update %s not forwarded: its chat sent too many bad links", update.update_id)
            return {"ok": True, "linked": False}
        link = {
            "chat_id": str(message.chat.id),
            "token": match.group(1),
            "language_code": message.sender.language_code if message.sender else None,
        }
        try:
            # the platform's one bot serves every shop: the signed token, not the shop, names the order
            await gw.notification.request("POST", "/internal/telegram/links", json=link, platform=True)
        except DomainError as error:
            if error.code == chat_link.InvalidChatLink.code:
                # notification told the chat why; resending the update would not help
                await limits.count(windows)
                log.info("Telegram update %s not linked: %s", update.update_id, error.message)
                return {"ok": True, "linked": False}
            if error.status_code >= 500:
                raise  # Telegram retries the update later
            log.error("notification refused Telegram update %s: %s", update.update_id, error.message)
            raise Unavailable("notices on Telegram are unavailable right now") from error
        return {"ok": True, "linked": True}

    return api
