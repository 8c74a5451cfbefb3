"""Loads a small demo catalog through the gateway's admin API (once) and prints the URLs."""

from __future__ import annotations

import os
import secrets
import sys

import httpx
from local_admin import api_token, demo_owner_login

GATEWAY = os.environ.get("FAKA_GATEWAY_URL", "http://127.0.0.1:8000")

CATALOG = [
    {
        "title": "Steam 充值卡 50 元 / Steam Wallet 50 CNY",
        "price": 4800,
        "delivery_type": "card_key",
        "usage_instructions": "Steam → 账户 → 充值钱包 → 兑换 Steam 充值卡 / Account → Add funds → Redeem",
        "keys": 25,
        "prefix": "STEAM",
    },
    {
        "title": "Windows 11 Pro 激活码 / licence key",
        "price": 9900,
        "delivery_type": "card_key",
        "usage_instructions": "设置 → 系统 → 激活 → 更改产品密钥 / Settings → System → Activation",
        "keys": 10,
        "prefix": "W11P",
    },
    {
        "title": "会员教程（循环卡密）/ Members' guide (loop key)",
        "price": 990,
        "delivery_type": "loop_key",
        "loop_key": "https://example.invalid/guide?code=FAKA-DEMO",
        "usage_instructions": "Open the link.",
        "keys": 0,
        "prefix": "",
    },
]


def main() -> None:
    email, password = demo_owner_login()
    token = api_token("demo catalog", owner_exists=True)
    admin = httpx.Client(base_url=GATEWAY, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    existing = {p["title"]: p for p in admin.get("/api/admin/products").raise_for_status().json()["items"]}
    for item in CATALOG:
        if item["title"] in existing:
            continue
        body = {k: v for k, v in item.items() if k not in ("keys", "prefix")}
        product = (
            admin.post("/api/admin/products", json={"currency": "CNY", **body}).raise_for_status().json()
        )
        if item["keys"]:
            keys = "\n".join(
                f"{item['prefix']}-{secrets.token_hex(4).upper()}-{secrets.token_hex(4).upper()}"
                for _ in range(item["keys"])
            )
            admin.post(
                f"/api/admin/products/{product['product_id']}/keys",
                content=keys.encode(),
                headers={"Content-Type": "text/plain"},
            ).raise_for_status()
        print(f"demo product loaded: {item['title']}")
    products = httpx.get(f"{GATEWAY}/api/v1/products", timeout=10).raise_for_status().json()["items"]
    first = next(p for p in products if p["in_stock"])
    print(f"""
faka is up.
  storefront API docs   {GATEWAY}/docs
  health / readiness    {GATEWAY}/health/live   {GATEWAY}/health/ready
  metrics (Prometheus)  {GATEWAY}/metrics   (each service: ports 8001-8007, same paths)
  demo mailbox (SMTP)   127.0.0.1:1025 -> .state/mailbox
  logs                  .state/logs/
  console login         {email} / {password}
                        (the default shop's owner, a new password at every `make up`; TOTP is set up
                        at the first sign-in: POST {GATEWAY}/api/console/sign-in)
  API token for scripts ENVIRONMENT=development .venv/bin/faka-admin create-api-token --shop default \\
                          --by {email} --name my-script --all-scopes   (Authorization: Bearer ...)

Example purchase:
  curl -s -X POST {GATEWAY}/api/v1/orders -H 'Content-Type: application/json' \\
       -d '{{"product_id": "{first["id"]}", "quantity": 1, "email": "buyer@example.com"}}'
  # then open the order_url it returns; once it says awaiting_payment, open the pay_url
  # ({GATEWAY}/pay/sandbox/<order_no>?token=<token>) and press "Pay now": the key appears on the order page.
""")


if __name__ == "__main__":
    try:
        main()
    except httpx.HTTPError as error:
        sys.exit(f"demo data could not be loaded: {error}")
