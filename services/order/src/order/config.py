"""Order service settings."""

from pathlib import Path

from faka_common import sandbox_payment
from faka_common.settings import ServiceSettings
from pydantic import SecretStr

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"

DEV_ORDER_TOKEN_SECRET = "dev-order-token-secret-change-me"


class Settings(ServiceSettings):
    service_name: str = "order"
    database_url: str = "postgresql://postgres@127.0.0.1:15432/faka_order"
    http_port: int = 8001
    inventory_url: str = "http://127.0.0.1:8002"
    public_base_url: str = "http://127.0.0.1:8000"
    payment_window_seconds: int = 600
    sandbox_secret: SecretStr = SecretStr(sandbox_payment.DEV_SANDBOX_SECRET)
    order_token_secret: SecretStr = SecretStr(DEV_ORDER_TOKEN_SECRET)
    expiry_sweep_seconds: float = 5.0

    def development_secrets(self) -> dict[str, str]:
        return {
            **super().development_secrets(),
            "sandbox_secret": sandbox_payment.DEV_SANDBOX_SECRET,
            "order_token_secret": DEV_ORDER_TOKEN_SECRET,
        }
