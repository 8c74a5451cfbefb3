"""The seller's dashboard figures of a shop over a period: one statement, its days filled in."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from order.adapters.shop_figures import FigureRows
from order.domain.figures import Day, Period, daily_series
from order.service_layer.unit_of_work import OrderUnitOfWork


@dataclass(frozen=True)
class PeriodFigures:
    period: Period
    days: list[Day]
    rows: FigureRows


async def shop_figures(shop_id: UUID | None, period: Period, uow: OrderUnitOfWork) -> PeriodFigures:
    """The shop's figures (another shop's orders never count) with every day of the period in the series;
    with no shop, every shop's together (the platform console's)."""
    async with uow:
        rows = await uow.figures.over(shop_id, period)
    return PeriodFigures(period, daily_series(period, rows.placed_by_day, rows.paid_by_day), rows)
