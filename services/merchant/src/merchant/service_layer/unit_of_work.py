"""The merchant unit of work: shops, people, the audit log and their outgoing events in one transaction."""

from faka_common.db.uow import UnitOfWork
from sqlalchemy.ext.asyncio import AsyncSession

from merchant.adapters.accounts import (
    AccountRepository,
    LinkRepository,
    MembershipRepository,
    SessionRepository,
)
from merchant.adapters.api_tokens import ApiTokenRepository
from merchant.adapters.audit import AuditRepository
from merchant.adapters.orm import ShopRepository


class MerchantUnitOfWork(UnitOfWork):
    shops: ShopRepository
    accounts: AccountRepository
    memberships: MembershipRepository
    sessions: SessionRepository
    links: LinkRepository
    api_tokens: ApiTokenRepository
    audit: AuditRepository

    def bind(self, session: AsyncSession) -> None:
        self.shops = ShopRepository(session)
        self.accounts = AccountRepository(session)
        self.memberships = MembershipRepository(session)
        self.sessions = SessionRepository(session)
        self.links = LinkRepository(session)
        self.api_tokens = ApiTokenRepository(session)
        self.audit = AuditRepository(session)
