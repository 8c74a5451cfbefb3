"""The shop's delivery figures for the seller's dashboard: success by mode, channel and supplier over a
period of calendar days (docs/internal-api.md, delivery)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from faka_common.errors import DomainError
from faka_common.http import ShopScope, internal_router
from fastapi import APIRouter, Query

from delivery.adapters.figures import delivery_figures
from delivery.bootstrap import Service

MAX_DAYS = 366


def delivery_figures_router(service: Service) -> APIRouter:
    api = internal_router(service.settings, callers={"gateway"})

    @api.get(
        "/delivery-figures",
        summary="The shop's deliveries from `first` to `last` (calendar days in `tz`, both included) by mode "
        "(succeeded, failed, open, median paid->delivered ms) and their attempts by channel and supplier",
    )
    async def figures(
        shop: ShopScope,
        first: Annotated[date, Query(description="The period's first day")],
        last: Annotated[date, Query(description="Its last day (included)")],
        tz: Annotated[str, Query(max_length=64, description="IANA time zone the days are cut in")] = "UTC",
    ) -> dict[str, Any]:
        if last < first or (last - first).days >= MAX_DAYS:
            raise DomainError(f"last: from first, at most {MAX_DAYS} days")
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise DomainError(f"tz: {tz!r} is not an IANA time zone") from error
        async with service.uow() as uow:
            found = await delivery_figures(uow.session, shop, first, last, tz)
        return {
            "first": first.isoformat(),
            "last": last.isoformat(),
            "time_zone": tz,
            "by_mode": found.by_mode,
            "by_channel": found.by_channel,
            "by_supplier": found.by_supplier,
        }

    return api
