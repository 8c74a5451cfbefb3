"""The shops read model (migration 0005; faka_common.db.shops): each shop, by its id, as its latest
ShopChanged told it, with its contact for buyers' messages."""

from __future__ import annotations

from faka_common.db import shops as read_model
from sqlalchemy.ext.asyncio import AsyncSession

from notification.adapters.tables import metadata

shops = read_model.shops_table(metadata)


class ShopRepository(read_model.ShopRepository):
    def __init__(self, session: AsyncSession) -> None:
        super().__init__(session, shops)
