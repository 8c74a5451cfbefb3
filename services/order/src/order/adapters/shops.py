"""The shops read model (migration 0010; faka_common.db.shops): each shop, by its id, as its latest
ShopChanged told it. Order keeps no contact."""

from __future__ import annotations

from faka_common.db import shops as read_model
from sqlalchemy.ext.asyncio import AsyncSession

from order.adapters.orm import metadata

shops = read_model.shops_table(metadata, contact=False)


class ShopRepository(read_model.ShopRepository):
    def __init__(self, session: AsyncSession) -> None:
        super().__init__(session, shops)
