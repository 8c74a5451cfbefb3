"""The built-in sandbox provider: the gateway's checkout page plays the buyer, a ledger table plays the
provider's books (so `query` can answer), and callbacks can be dropped to exercise the reconciler."""

from __future__ import annotations

import dataclasses
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import httpx
from faka_common import sandbox_payment
from faka_common.contracts.risk_rules import payment_account
from faka_common.db.uow import SessionFactory
from sqlalchemy import BigInteger, Column, DateTime, MetaData, Table, Text, select, update
from sqlalchemy.dialects.postgresql import insert

from order.adapters.payments.base import (
    Ack,
    PaidTrade,
    PaymentOrder,
    PaymentRequest,
    ProviderError,
    ProviderStatus,
    RawNotification,
    RefundResult,
    VerifiedPayment,
)
from order.domain.payments import SANDBOX, verify_sandbox

log = logging.getLogger(__name__)

ledger_metadata = MetaData()

sandbox_trades = Table(
    "sandbox_trades",
    ledger_metadata,
    Column("trade_no", Text, primary_key=True),
    Column("order_no", Text, nullable=False, index=True),
    Column("amount", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("refunded", BigInteger, nullable=False, default=0),
    Column("paid_at", DateTime(timezone=True), nullable=False),
    Column("payer", Text),
)

#: Refund numbers the sandbox has honoured: a retried refund_no is answered, not refunded twice.
sandbox_refunds = Table(
    "sandbox_refunds",
    ledger_metadata,
    Column("refund_no", Text, primary_key=True),
    Column("trade_no", Text, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class SandboxTrade:
    trade_no: str
    order_no: str
    amount: int
    currency: str
    refunded: int = 0
    #: the buyer's account at the sandbox, when the buyer named one
    payer: str | None = None


class SandboxLedger(Protocol):
    async def record(self, trade: SandboxTrade) -> None: ...

    async def find(self, order_no: str) -> SandboxTrade | None: ...

    async def refund(self, trade_no: str, amount: int, refund_no: str) -> bool:
        """Refund `amount` once per `refund_no` (a repeat is answered True and refunds nothing more)."""
        ...


class MemoryLedger:
    def __init__(self) -> None:
        self.trades: dict[str, SandboxTrade] = {}
        self.refund_nos: set[str] = set()

    async def record(self, trade: SandboxTrade) -> None:
        self.trades[trade.trade_no] = trade

    async def find(self, order_no: str) -> SandboxTrade | None:
        return next((t for t in self.trades.values() if t.order_no == order_no), None)

    async def refund(self, trade_no: str, amount: int, refund_no: str) -> bool:
        if refund_no in self.refund_nos:
            return True
        trade = self.trades.get(trade_no)
        if trade is None or trade.refunded + amount > trade.amount:
            return False
        self.refund_nos.add(refund_no)
        self.trades[trade_no] = dataclasses.replace(trade, refunded=trade.refunded + amount)
        return True


class DbLedger:
    """The sandbox's books in the order database (table `sandbox_trades`)."""

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    async def record(self, trade: SandboxTrade) -> None:
        async with self._sessions() as session:
            await session.execute(
                insert(sandbox_trades)
                .values(
                    trade_no=trade.trade_no,
                    order_no=trade.order_no,
                    amount=trade.amount,
                    currency=trade.currency,
                    refunded=0,
                    paid_at=datetime.now(UTC),
                    payer=trade.payer,
                )
                .on_conflict_do_nothing()
            )
            await session.commit()

    async def find(self, order_no: str) -> SandboxTrade | None:
        async with self._sessions() as session:
            query = select(sandbox_trades).where(sandbox_trades.c.order_no == order_no).limit(1)
            row = (await session.execute(query)).first()
        if row is None:
            return None
        return SandboxTrade(row.trade_no, row.order_no, row.amount, row.currency, row.refunded, row.payer)

    async def refund(self, trade_no: str, amount: int, refund_no: str) -> bool:
        async with self._sessions() as session:
            seen = await session.execute(
                insert(sandbox_refunds)
                .values(refund_no=refund_no, trade_no=trade_no, amount=amount, created_at=datetime.now(UTC))
                .on_conflict_do_nothing()
                .returning(sandbox_refunds.c.refund_no)
            )
            if seen.first() is None:
                await session.rollback()
                return True
            result = await session.execute(
                update(sandbox_trades)
                .where(
                    sandbox_trades.c.trade_no == trade_no,
                    sandbox_trades.c.refunded + amount <= sandbox_trades.c.amount,
                )
                .values(refunded=sandbox_trades.c.refunded + amount)
                .returning(sandbox_trades.c.trade_no)
            )
            done = result.first() is not None
            if done:
                await session.commit()
            else:
                await session.rollback()
        return done


class SandboxProvider:
    name = SANDBOX

    def __init__(
        self,
        secret: str,
        public_base_url: str,
        ledger: SandboxLedger,
        http: httpx.AsyncClient | None = None,
        drop_callbacks: bool = False,
    ) -> None:
        self._secret = secret
        self._base = public_base_url.rstrip("/")
        self.ledger = ledger
        self._http = http
        self.drop_callbacks = drop_callbacks

    async def create(self, order: PaymentOrder) -> PaymentRequest:
        url = f"{self._base}/pay/sandbox/{order.order_no}?token={order.access_token}"
        return PaymentRequest(self.name, pay_url=url)

    async def verify(self, notification: RawNotification, now: datetime) -> VerifiedPayment:
        return verify_sandbox(notification.body, self._secret, now)

    async def pay(
        self, order: PaymentOrder, drop_callback: bool | None = None, payer: str | None = None
    ) -> SandboxTrade:
        """The buyer (`payer`, when named) pays: the sandbox books the trade, then calls back unless told to
        drop callbacks."""
        trade_no = "SBX" + uuid.uuid4().hex
        trade = SandboxTrade(trade_no, order.order_no, order.amount, order.currency, payer=payer)
        await self.ledger.record(trade)
        if drop_callback if drop_callback is not None else self.drop_callbacks:
            log.warning("sandbox dropped the callback of %s for %s", trade.trade_no, order.order_no)
            return trade
        if self._http is not None:
            body = sandbox_payment.signed_notification(
                order.order_no, trade.trade_no, order.amount, order.currency, self._secret, payer=payer
            )
            url = f"{self._base}/api/v1/payments/sandbox/notify"
            await self._http.post(url, content=json.dumps(body), headers={"Content-Type": "application/json"})
        return trade

    async def query(self, order: PaymentOrder) -> ProviderStatus:
        trade = await self.ledger.find(order.order_no)
        if trade is None:
            return ProviderStatus("pending")
        payer = payment_account(SANDBOX, trade.payer)
        return ProviderStatus("paid", trade.trade_no, trade.amount, trade.currency, payer)

    async def refund(self, trade: PaidTrade, amount: int, refund_no: str) -> RefundResult:
        if await self.ledger.refund(trade.trade_no, amount, refund_no):
            return RefundResult(refund_no, amount, "succeeded", f"SBXR{uuid.uuid4().hex}")
        # A trade paid straight through the gateway's checkout page never reached the ledger's books.
        await self.ledger.record(SandboxTrade(trade.trade_no, trade.order_no, trade.amount, trade.currency))
        if await self.ledger.refund(trade.trade_no, amount, refund_no):
            return RefundResult(refund_no, amount, "succeeded", f"SBXR{uuid.uuid4().hex}")
        raise ProviderError("sandbox refused the refund: more than the trade's unrefunded amount")

    def ack(self, result: str) -> Ack:
        return Ack(json.dumps({"result": result}).encode(), "application/json")
