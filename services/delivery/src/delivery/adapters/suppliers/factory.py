"""Builds the adapter of a stored supplier, opening its sealed secret only to sign its requests."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from faka_common.crypto import KeyRing, Sealed
from faka_common.outbound import OutboundPolicy

from delivery.adapters.suppliers.base import SupplierAdapter
from delivery.adapters.suppliers.http_json import (
    AGENT_HEADER,
    MERCHANT_HEADER,
    HttpJsonConfig,
    HttpJsonSupplier,
    platform_config,
)
from delivery.domain.suppliers import Supplier


def secret_context(name: str) -> bytes:
    return b"supplier-secret:" + name.encode()


def config_for(kind: str, config: dict[str, object]) -> HttpJsonConfig:
    """Validates a supplier configuration (raises pydantic's ValidationError on a bad one)."""
    return platform_config(dict(config)) if kind == "platform" else HttpJsonConfig.model_validate(config)


def adapter_factory(
    keyring: KeyRing, outbound: OutboundPolicy, transport: httpx.AsyncBaseTransport | None = None
) -> Callable[[Supplier], SupplierAdapter]:
    """Each adapter connects through the outgoing-URL guard (its own pool: closing one adapter closes it);
    `transport` replaces the guard in tests that play the network themselves."""

    def build(supplier: Supplier) -> SupplierAdapter:
        secret = keyring.open(
            Sealed(supplier.secret_key_id, supplier.secret_blob), secret_context(supplier.name)
        )
        return HttpJsonSupplier(
            supplier.base_url,
            secret,
            config_for(supplier.kind, supplier.config),
            timeout=supplier.timeout_seconds,
            transport=transport or outbound.transport(),
            merchant_header=AGENT_HEADER if supplier.kind == "platform" else MERCHANT_HEADER,
        )

    return build
